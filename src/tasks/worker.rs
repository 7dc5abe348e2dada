//! The worker: claims targets from the store's queue, runs each on the tokio runtime (no thread
//! per target), keeps their leases alive with heartbeats and gives back targets of dead workers.
//!
//! Parallelism is bounded per worker process (`TESTUM_WORKER_CONCURRENCY` SSH sessions in flight,
//! a semaphore) and per task (`concurrency`, enforced when claiming).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::archive::OutputArchive;
use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::notify::NotifyConfig;
use crate::store::Store;

use super::EventBus;
use super::health::{Beat, WorkerHealth};
use super::locks::PlatformLocks;
use super::run::{RunContext, run_target};
use super::writer::OutputWriter;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// SSH sessions in flight at most.
    pub concurrency: u32,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// SSH connect and handshake timeout.
    pub connect_timeout: Duration,
    /// Most output bytes kept per target.
    pub max_output_bytes: u64,
    /// Most output bytes kept per task.
    pub max_task_output_bytes: u64,
    /// Days an ended task's output is kept (0: forever).
    pub output_retention_days: u32,
    /// Where an ended task's output is moved (in the background); `None` keeps it in the
    /// database.
    pub archive: Option<OutputArchive>,
    /// The registry `/readyz` reads; the worker joins it and beats once per dispatch round.
    pub health: WorkerHealth,
    /// The scheduler loop (schedules, expiry) this worker runs beside its targets; `None` runs
    /// none (tests that drive the scheduler's clock themselves).
    pub scheduler: Option<crate::schedule::SchedulerSettings>,
    /// The webhook sender this worker runs (see [`crate::notify`]).
    pub notify: NotifyConfig,
}

impl From<&Settings> for WorkerConfig {
    fn from(config: &Settings) -> Self {
        WorkerConfig {
            concurrency: config.worker_concurrency,
            lease: config.lease(),
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            max_output_bytes: config.max_output_bytes,
            max_task_output_bytes: config.max_task_output_bytes,
            output_retention_days: config.output_retention_days,
            archive: None,
            health: WorkerHealth::default(),
            scheduler: Some(config.scheduler.clone()),
            notify: NotifyConfig {
                retry_base: Duration::from_millis(config.notify_retry_base_ms),
                ..NotifyConfig::default()
            },
        }
    }
}

/// Most ended tasks archived per round of the sweep, and how long one archive may take. A task's
/// output may be gigabytes (a 4 GiB task cap at 5 MB/s is 14 minutes), so the bound is loose: a
/// store that stops answering is caught sooner by object_store's own 30 s request timeout; this
/// catches one that answers but crawls.
const ARCHIVE_SWEEP: u32 = 20;
const ARCHIVE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often a worker tries the output retention job (one process at a time runs it).
const RETENTION_EVERY: Duration = Duration::from_secs(5 * 60);

/// How long interrupted commands get to end on their hosts (TERM, then KILL) at shutdown.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// A running worker; [`Worker::shutdown`] stops it.
pub struct Worker {
    stop: Arc<Notify>,
    interrupt: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Start claiming and running targets. New tasks are noticed through `bus` at once, and by a
    /// poll every second otherwise.
    pub fn start(
        store: Store,
        master_key: MasterKey,
        bus: EventBus,
        config: WorkerConfig,
    ) -> Worker {
        let stop = Arc::new(Notify::new());
        let (interrupt, interrupted) = watch::channel(false);
        let store = store.for_workers();
        let output = OutputWriter::start(store.clone(), bus.clone(), config.max_task_output_bytes);
        let context = RunContext {
            store,
            output,
            master_key,
            bus,
            locks: PlatformLocks::default(),
            connect_timeout: config.connect_timeout,
            max_output_bytes: config.max_output_bytes,
            worker_id: format!("worker-{}", Uuid::new_v4()),
            lease: config.lease,
            interrupted,
            archive: config.archive.clone(),
        };
        let beat = config.health.join();
        let handle = tokio::spawn(dispatch(context, config, stop.clone(), beat));
        Worker {
            stop,
            interrupt,
            handle,
        }
    }

    /// Drain: stop claiming and let running targets finish for up to `grace`. Commands still
    /// running then are ended on their hosts (`signal TERM`, then `KILL`) and their targets fail
    /// as interrupted, so no remote process is left behind; what still runs after that is aborted
    /// (its lease expires and it is handled like a lost worker's).
    pub async fn shutdown(self, grace: Duration) {
        self.stop.notify_one();
        let mut handle = self.handle;
        if tokio::time::timeout(grace, &mut handle).await.is_ok() {
            return;
        }
        tracing::warn!("interrupting the commands still running after the shutdown grace period");
        let _ = self.interrupt.send(true);
        if tokio::time::timeout(INTERRUPT_GRACE, &mut handle)
            .await
            .is_err()
        {
            handle.abort();
        }
    }
}

async fn dispatch(context: RunContext, config: WorkerConfig, stop: Arc<Notify>, beat: Beat) {
    let slots = Arc::new(Semaphore::new(config.concurrency as usize));
    let mut running = JoinSet::new();
    // Leases are renewed by a task of their own, so a slow claim round can never starve them.
    let heartbeat = tokio::spawn(heartbeat(
        context.clone(),
        config.lease,
        config.output_retention_days,
        config.notify.clone(),
    ));
    // Due schedules and expired keys: claimed in the database, so every worker may run it.
    let scheduler = config.scheduler.clone().map(|settings| {
        tokio::spawn(crate::schedule::run_loop(
            context.store.clone(),
            context.bus.clone(),
            settings,
        ))
    });
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        beat.beat();
        let free = slots.available_permits() as u32;
        match context
            .store
            .claim_targets(&context.worker_id, free, config.lease)
            .await
        {
            Ok(claimed) => {
                for target in claimed {
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let context = context.clone();
                    running.spawn(async move {
                        let _in_flight = crate::metrics::target_started();
                        let task_id = target.task_id;
                        run_target(&context, target).await;
                        context.bus.notify(task_id);
                        drop(permit);
                    });
                }
            }
            Err(e) => tracing::error!(error = %e, "claiming targets failed"),
        }
        tokio::select! {
            _ = stop.notified() => break,
            _ = context.bus.work_available() => {},
            Some(_) = running.join_next() => {},
            _ = poll.tick() => {},
        }
    }
    // Drain: finish what runs; the heartbeat keeps the leases alive meanwhile.
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    while running.join_next().await.is_some() {}
    heartbeat.abort();
}

/// Ends the task it holds when dropped (with the heartbeat that owns it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every third of a lease: renew this worker's leases and give back the targets of workers whose
/// leases ran out, on a database connection of its own ([`Store::for_leases`]). Nothing else runs
/// here: a slow database call elsewhere, a full workers' pool, or a slow object store must never
/// let a live worker's leases expire. The background jobs start from here; the
/// webhook sender ends with the heartbeat (at shutdown).
async fn heartbeat(
    context: RunContext,
    lease: Duration,
    retention_days: u32,
    notify: NotifyConfig,
) {
    let _sender = AbortOnDrop(crate::notify::spawn_sender(
        context.store.clone(),
        context.master_key.clone(),
        context.worker_id.clone(),
        notify,
    ));
    if let Some(archive) = context.archive.clone() {
        tokio::spawn(archive_sweep(context.clone(), archive, lease));
    }
    if retention_days > 0 {
        tokio::spawn(retention_job(context.clone(), retention_days, lease));
    }
    let leases = context.store.for_leases();
    let mut tick = tokio::time::interval(lease / 3);
    loop {
        tick.tick().await;
        if let Err(e) = leases.renew_leases(&context.worker_id, lease).await {
            tracing::error!(error = %e, "renewing leases failed");
        }
        match leases.reap_expired_leases().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(targets = n, "took back targets of a lost worker"),
            Err(e) => tracing::error!(error = %e, "reaping expired leases failed"),
        }
    }
}

/// Archive the output of ended tasks that no task end archived (cancelled tasks, lost workers'
/// tasks, failed archives), a few at a time, each bounded by [`ARCHIVE_TIMEOUT`].
async fn archive_sweep(
    context: RunContext,
    archive: crate::archive::OutputArchive,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let tasks = match context.store.tasks_to_archive(ARCHIVE_SWEEP).await {
            Ok(tasks) => tasks,
            Err(e) => {
                tracing::error!(error = %e, "listing tasks to archive failed");
                continue;
            }
        };
        for task in tasks {
            let archived = tokio::time::timeout(
                ARCHIVE_TIMEOUT,
                crate::archive::archive_task(&context.store, &archive, task),
            )
            .await;
            match archived {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(task = %task, error = %e, "archiving task output failed")
                }
                Err(_) => tracing::error!(
                    task = %task, location = archive.location(),
                    "archiving task output timed out; the object store does not answer"
                ),
            }
        }
    }
}

/// Every [`RETENTION_EVERY`] (the first time at start): delete the output of tasks that ended more
/// than `days` days ago, unless another process holds the job's lease (see
/// [`crate::archive::retention`]). The lease is renewed by this worker's heartbeat.
async fn retention_job(context: RunContext, days: u32, lease: Duration) {
    let mut tick = tokio::time::interval(RETENTION_EVERY);
    loop {
        tick.tick().await;
        let ran = crate::archive::retention::expire_old_output(
            &context.store,
            context.archive.as_ref(),
            days,
            &context.worker_id,
            lease,
        )
        .await;
        match ran {
            Ok(outcome) => tracing::debug!(?outcome, "output retention"),
            Err(e) => tracing::error!(error = %e, "output retention failed; it runs again later"),
        }
    }
}
