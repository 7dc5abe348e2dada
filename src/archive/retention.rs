//! Output retention: the output of tasks that ended more than `TESTUM_OUTPUT_RETENTION_DAYS`
//! days ago is deleted — their objects (format-2 segments and format-1 logs), their output rows
//! and segment index rows — and `tasks.output_expired_at` is set. The task, its targets and its
//! `target`/`done` events stay.
//!
//! Workers run [`expire_old_output`] every few minutes; a lease (`job:output-retention`, see
//! `Store::try_take_lease`) makes it run in one process at a time across a PostgreSQL
//! deployment, renewed by the holding worker's heartbeat. Work goes in batches of
//! [`BATCH`] tasks, at most [`BATCHES_PER_RUN`] per run.
//!
//! Per task, the objects go first and the database after, in one transaction: a crash between
//! leaves the task unexpired and a later run deletes the rest (reads meanwhile fail loudly on the
//! missing objects of output that is being expired anyway). Objects are never left behind with
//! nothing pointing at them.

use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use super::{ArchiveError, OutputArchive};
use crate::store::Store;

/// The lease name of the retention job.
pub const LEASE: &str = "job:output-retention";
/// Tasks per batch.
pub const BATCH: u32 = 100;
/// Batches per run at most; the next run goes on.
pub const BATCHES_PER_RUN: u32 = 10;

/// What a retention run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Another process holds the job's lease; nothing was done.
    Busy,
    /// This process ran it: `tasks` tasks' output deleted, `bytes` bytes (objects and rows).
    Ran { tasks: u64, bytes: u64 },
}

/// Delete the output of tasks that ended more than `days` days ago (see the module doc), as
/// worker `worker` (whose heartbeat renews the lease, taken for `ttl`). `archive` is where the
/// objects are; without one (PostgreSQL without `TESTUM_OBJECT_STORE_URL`), only tasks whose
/// output is in the database are expired. Errors: the database or the object store failed (what was done stays done).
pub async fn expire_old_output(
    store: &Store,
    archive: Option<&OutputArchive>,
    days: u32,
    worker: &str,
    ttl: Duration,
) -> Result<Retention, ArchiveError> {
    let owner = format!("retention-{}", Uuid::new_v4());
    if !store.try_take_lease(LEASE, &owner, worker, ttl).await? {
        return Ok(Retention::Busy);
    }
    let result = expire_batches(store, archive, days).await;
    if let Err(e) = store.release_lease(LEASE, &owner).await {
        tracing::warn!(error = %e, "releasing the retention lease failed; it expires by itself");
    }
    let (tasks, bytes) = result?;
    if tasks > 0 {
        tracing::info!(
            tasks,
            bytes,
            days,
            "retention deleted the output of old tasks"
        );
    }
    Ok(Retention::Ran { tasks, bytes })
}

async fn expire_batches(
    store: &Store,
    archive: Option<&OutputArchive>,
    days: u32,
) -> Result<(u64, u64), ArchiveError> {
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(days));
    let (mut tasks, mut bytes) = (0, 0);
    for _ in 0..BATCHES_PER_RUN {
        let due = store
            .tasks_with_output_due(cutoff, BATCH, archive.is_some())
            .await?;
        for &task in &due {
            // Also for a task not marked archived: an archive run may have left objects.
            let object_bytes = match archive {
                Some(archive) => archive.delete_task_objects(task).await?.1,
                None => 0,
            };
            if let Some(rows) = store.expire_output(task).await? {
                tasks += 1;
                bytes += object_bytes + rows.bytes;
            }
        }
        if due.len() < BATCH as usize {
            break;
        }
    }
    Ok((tasks, bytes))
}
