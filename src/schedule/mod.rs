//! Schedules and enforced expiry: what testum does on its own.
//!
//! Every worker process runs [`run_loop`]: every `TESTUM_SCHEDULER_INTERVAL_SECS` it calls
//! [`tick`], which fires the schedules that are due ([`fire_due`]), queues the removal of expired
//! keys and assignments ([`crate::store::Store::enforce_expiry`]) and announces those about to
//! expire. Each step is claimed in the database (compare-and-swap), so with several processes on
//! one PostgreSQL each firing and each expiry is handled once. The clock is a parameter: tests
//! drive it instead of sleeping.
//!
//! A firing's next firing is computed from `now`, not from the firing that was due: a schedule
//! whose firings were missed while every process was down fires once when one comes back, never
//! once per missed firing.

use std::str::FromStr as _;
use std::time::Duration;

use crate::grants::{Grants, OutOfScope};
use crate::role::Role;
use chrono::{DateTime, Timelike as _, Utc};
use serde_json::json;

use crate::store::{
    Actor, Fired, Firing, NewSchedule, NewTask, NotificationEvent, Schedule, ScheduleKind, Store,
    StoreResult, TaskParams,
};

/// The name of the schedule testum keeps itself (see [`ensure_daily_sync`]).
pub const DAILY_SYNC: &str = "daily-sync";

/// Most schedules fired per tick (the rest are due at the next tick).
const FIRE_BATCH: u32 = 100;

/// Settings of the scheduler loop (flags of `testum serve` and `testum worker`).
#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerSettings {
    /// Cron expression (5 fields, UTC) of the built-in schedule `daily-sync`, which syncs (and
    /// so scans) every platform; `off` disables it. Applied at every start.
    #[arg(long, env = "TESTUM_DAILY_SYNC_CRON", default_value = "0 3 * * *",
          value_parser = daily_sync_cron)]
    pub daily_sync_cron: String,

    /// Days before a key's (or an assignment's) expiry when a `key.expiring` notification is
    /// sent, once per expiry (0: none).
    #[arg(long, env = "TESTUM_EXPIRY_WARNING_DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub expiry_warning_days: u32,

    /// Seconds between two runs of the scheduler loop (due schedules, expired keys): an expired
    /// key is queued for removal within this long.
    #[arg(long, env = "TESTUM_SCHEDULER_INTERVAL_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=60))]
    pub scheduler_interval_secs: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            daily_sync_cron: "0 3 * * *".into(),
            expiry_warning_days: 14,
            scheduler_interval_secs: 15,
        }
    }
}

/// `TESTUM_DAILY_SYNC_CRON`: `off`, or a 5-field cron expression (checked before start-up).
fn daily_sync_cron(text: &str) -> Result<String, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok("off".into());
    }
    parse_cron(text).map_err(|e| format!("{e} (or use off)"))?;
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A parsed cron expression with the time zone it is read in.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    time_zone: chrono_tz::Tz,
}

/// Parse a 5-field cron expression (minute, hour, day of month, month, day of week; names like
/// `mon` and `jan`, ranges, lists and steps; day of month and day of week match either, as in
/// Vixie cron). The error says what is wrong, for the `cron` field.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    let fields = text.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "must have 5 fields (minute hour day-of-month month day-of-week), not {fields}"
        ));
    }
    croner::Cron::new(text.trim())
        .parse()
        .map_err(|e| format!("is not a valid cron expression: {e}"))
}

/// Parse an IANA time zone name (`UTC`, `Europe/Berlin`); the error is for the `time_zone` field.
pub fn parse_time_zone(text: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(text.trim())
        .map_err(|_| "is not an IANA time zone name (like UTC or Europe/Berlin)".to_string())
}

impl CronSchedule {
    /// `cron` read in `time_zone`; the error names the field (`cron` or `time_zone`) and says
    /// what is wrong.
    pub fn new(cron: &str, time_zone: &str) -> Result<CronSchedule, (&'static str, String)> {
        Ok(CronSchedule {
            cron: parse_cron(cron).map_err(|e| ("cron", e))?,
            time_zone: parse_time_zone(time_zone).map_err(|e| ("time_zone", e))?,
        })
    }

    /// The first firing strictly after `now` (a firing at a local time that a daylight-saving
    /// change skips happens at the first valid instant after it); `None` if there is none within
    /// croner's search limit (an expression such as `0 0 30 2 *`).
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Whole seconds: a firing never lands at a fraction past the minute.
        let now = now.with_nanosecond(0).unwrap_or(now);
        let local = now.with_timezone(&self.time_zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }
}

/// The next firing of `schedule` after `now`, `None` when it is disabled or never fires again.
pub fn next_firing(schedule: &NewSchedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !schedule.enabled {
        return None;
    }
    CronSchedule::new(&schedule.cron, &schedule.time_zone)
        .ok()?
        .next_after(now)
}

/// What one [`fire_due`] call fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredSchedule {
    pub schedule: String,
    /// The task created, or why none was.
    pub outcome: Result<uuid::Uuid, String>,
}

/// The platforms `selector` picks now: (id, name) by name; an error (a selector that does not
/// parse, or matches nothing) is the firing's error.
async fn resolve(store: &Store, selector: &str) -> Result<Vec<(uuid::Uuid, String)>, String> {
    let parsed: crate::selector::Selector = selector
        .parse()
        .map_err(|e: crate::selector::SelectorError| format!("selector {selector:?}: {e}"))?;
    let platforms = store.select_platforms(&parsed).await.map_err(|e| {
        tracing::error!(error = %e, "resolving a schedule's selector failed");
        "selector: internal database error (the log has the details)".to_string()
    })?;
    if platforms.is_empty() {
        return Err(format!("selector {selector:?} matches no platform"));
    }
    if platforms.len() > crate::api::tasks::MAX_PLATFORMS {
        return Err(format!(
            "selector {selector:?} matches {} platforms; a task holds at most {}",
            platforms.len(),
            crate::api::tasks::MAX_PLATFORMS
        ));
    }
    Ok(platforms)
}

/// What a firing of `schedule` creates: its task, or the error to record.
async fn firing_of(store: &Store, schedule: &Schedule) -> StoreResult<Firing> {
    let grants = match standing(store, schedule).await? {
        Ok(grants) => grants,
        Err(refused) => return Ok(Firing::Failed(refused)),
    };
    let platforms = match resolve(store, &schedule.selector).await {
        Ok(platforms) => platforms,
        Err(e) => return Ok(Firing::Failed(e)),
    };
    if let Some(grants) = &grants {
        let ids: Vec<uuid::Uuid> = platforms.iter().map(|(id, _)| *id).collect();
        let facts = store.platform_facts(&ids).await?;
        let checked = facts.iter().map(|f| (f.name.as_str(), Some(f.facts())));
        if let Some(out) = OutOfScope::of(grants, Role::Operator, checked) {
            return Ok(Firing::Failed(format!(
                "its creator {:?}: {out}",
                schedule.created_by
            )));
        }
    }
    let params = TaskParams {
        command: schedule.command.clone(),
        timeout_s: schedule.timeout_s,
        selector: Some(schedule.selector.clone()),
        ..TaskParams::default()
    };
    Ok(Firing::Task(NewTask {
        kind: schedule.kind.task_kind(),
        platforms,
        params,
        concurrency: schedule.concurrency,
    }))
}

/// The rights this firing acts with: its creator's grants now (`Ok(None)`: testum's own, for
/// the built-in schedule and schedules made by testum itself, `system`), or why it must create
/// no task:
/// - the previous firing's task has not ended (firings never pile up: a scan of 10 000 hosts that
///   outlasts its interval skips the next firing instead of running twice at once);
/// - the user who made the schedule (`created_by`) no longer exists, is disabled or no longer
///   holds the operator role anywhere: a schedule acts with its creator's rights and loses them
///   with the creator. (Its platforms are then checked against those grants one by one.)
async fn standing(
    store: &Store,
    schedule: &Schedule,
) -> StoreResult<Result<Option<Grants>, String>> {
    if let (Some(task), Some(status)) = (schedule.last_task_id, schedule.last_result)
        && !status.is_final()
    {
        return Ok(Err(format!(
            "skipped: the previous firing's task {task} is still {}",
            status.as_str()
        )));
    }
    if schedule.builtin || schedule.created_by == Actor::system().name {
        return Ok(Ok(None));
    }
    let creator = &schedule.created_by;
    let user = match store.user_by_name(creator).await? {
        None => return Ok(Err(format!("its creator {creator:?} no longer exists"))),
        Some(user) => user,
    };
    // A user deleted and re-created under the same name is another account.
    if user.created_at > schedule.created_at {
        return Ok(Err(format!(
            "its creator {creator:?} was deleted (the account now named so is newer than the \
             schedule)"
        )));
    }
    if user.disabled {
        return Ok(Err(format!("its creator {creator:?} is disabled")));
    }
    let grants = Grants::new(user.role, store.grants_of(user.id).await?);
    if grants.strongest() < Some(Role::Operator) {
        return Ok(Err(format!(
            "its creator {creator:?} holds {} and may not run tasks",
            grants.summary()
        )));
    }
    Ok(Ok(Some(grants)))
}

/// Fire every enabled schedule due at `now`: each one's next firing moves to the first one after
/// `now` (compare-and-swap: exactly one caller wins each firing, across processes), and the
/// winner creates its task (`created_by` `schedule:<name>`) or records why it could not
/// (`last_error`, a `schedule.failed` notification). Returns what this caller fired.
pub async fn fire_due(store: &Store, now: DateTime<Utc>) -> StoreResult<Vec<FiredSchedule>> {
    let mut fired = Vec::new();
    for schedule in store.due_schedules(now, FIRE_BATCH).await? {
        let Some(due) = schedule.next_run_at else {
            continue;
        };
        let next = CronSchedule::new(&schedule.cron, &schedule.time_zone)
            .ok()
            .and_then(|cron| cron.next_after(now));
        let firing = firing_of(store, &schedule).await?;
        let Fired::Claimed(outcome) = store
            .fire_schedule(&schedule, due, next, now, firing)
            .await?
        else {
            continue;
        };
        match &outcome {
            Ok(task) => {
                tracing::info!(schedule = %schedule.name, task = %task, "schedule fired");
            }
            Err(error) => {
                tracing::warn!(schedule = %schedule.name, error = %error, "schedule fired without a task");
                store
                    .notify_event(
                        NotificationEvent::ScheduleFailed,
                        json!({"schedule_id": schedule.id, "schedule": schedule.name,
                               "error": error}),
                    )
                    .await?;
            }
        }
        fired.push(FiredSchedule {
            schedule: schedule.name.clone(),
            outcome,
        });
    }
    Ok(fired)
}

/// What one [`tick`] did.
#[derive(Debug, Clone, Default)]
pub struct TickOutcome {
    pub fired: Vec<FiredSchedule>,
    pub expiry: crate::store::ExpiryOutcome,
    pub expiring: Vec<crate::store::ExpiryItem>,
}

/// One run of the scheduler loop at `now`: fire due schedules, queue the removal of what expired,
/// and announce (`key.expiring`) what expires within `warning_days`.
pub async fn tick(
    store: &Store,
    now: DateTime<Utc>,
    warning_days: u32,
) -> StoreResult<TickOutcome> {
    let fired = fire_due(store, now).await?;
    let expiry = store.enforce_expiry(now).await?;
    for item in &expiry.expired {
        store
            .notify_event(
                NotificationEvent::KeyExpired,
                json!({"key_id": item.key_id, "key": item.key_name,
                       "fingerprint": item.fingerprint, "owner": item.owner,
                       "expires_at": item.expires_at, "platform_id": item.platform_id,
                       "platform": item.platform_name, "platforms": item.platforms,
                       "task_id": expiry.task_id}),
            )
            .await?;
    }
    let expiring = if warning_days > 0 {
        store
            .take_expiring(now, chrono::Duration::days(i64::from(warning_days)))
            .await?
    } else {
        Vec::new()
    };
    for item in &expiring {
        store
            .notify_event(
                NotificationEvent::KeyExpiring,
                json!({"key_id": item.key_id, "key": item.key_name,
                       "fingerprint": item.fingerprint, "owner": item.owner,
                       "expires_at": item.expires_at, "platform_id": item.platform_id,
                       "platform": item.platform_name, "platforms": item.platforms}),
            )
            .await?;
    }
    Ok(TickOutcome {
        fired,
        expiry,
        expiring,
    })
}

/// The scheduler loop of a worker process: [`tick`] every `interval` (the first at once), waking
/// this process's workers when it queued work. Failures are logged and retried at the next tick.
pub async fn run_loop(store: Store, bus: crate::tasks::EventBus, settings: SchedulerSettings) {
    let mut every = tokio::time::interval(Duration::from_secs(settings.scheduler_interval_secs));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match tick(&store, Utc::now(), settings.expiry_warning_days).await {
            Ok(outcome) => {
                if !outcome.fired.is_empty() || outcome.expiry.task_id.is_some() {
                    bus.notify_work();
                }
                if let Some(task) = outcome.expiry.task_id {
                    tracing::info!(task = %task, expired = outcome.expiry.expired.len(),
                                   "expired keys queued for removal");
                }
            }
            Err(e) => tracing::error!(error = %e, "scheduler tick failed; it runs again"),
        }
    }
}

/// Create or update the built-in schedule `daily-sync` (kind `sync`, selector `all`, UTC) from
/// `cron` (`TESTUM_DAILY_SYNC_CRON`; `off` disables it). Errors: a cron expression that does not
/// parse (named in the message).
pub async fn ensure_daily_sync(
    store: &Store,
    cron: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let off = cron.trim().eq_ignore_ascii_case("off");
    let cron_text = if off {
        SchedulerSettings::default().daily_sync_cron
    } else {
        parse_cron(cron)
            .map_err(|e| anyhow::anyhow!("TESTUM_DAILY_SYNC_CRON {cron:?} {e} (or use off)"))?;
        cron.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let mut schedule = NewSchedule {
        name: DAILY_SYNC.into(),
        cron: cron_text,
        time_zone: "UTC".into(),
        kind: ScheduleKind::Sync,
        selector: "all".into(),
        command: None,
        timeout_s: None,
        concurrency: crate::api::tasks::DEFAULT_CONCURRENCY,
        enabled: !off,
        next_run_at: None,
    };
    schedule.next_run_at = next_firing(&schedule, now);
    if !store.upsert_builtin_schedule(&schedule).await? {
        tracing::warn!(
            "a schedule named {DAILY_SYNC} was created by a user; the built-in daily sync is \
             not managed while it exists"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
