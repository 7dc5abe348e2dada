//! The store's side of output archiving (see `crate::archive`): where a task's archive stands,
//! its output rows to copy out, and the one transaction that marks it archived and deletes them.
//!
//! Archiving is maintenance, not a user action: it changes no state a user sees (the output
//! reads the same before and after), so it writes no audit event; failures are logged.

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreResult, TaskEvent, now_ts, parse_uuid};

/// Where a task stands for archiving, read in one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveState {
    /// The task has ended (succeeded, failed or cancelled).
    pub finished: bool,
    /// The seq of its latest event.
    pub last_seq: i64,
    /// Its output has been moved to the object store.
    pub archived: bool,
}

/// What [`Store::mark_archived`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkArchived {
    /// Marked archived now; `deleted` output rows were removed.
    Archived { deleted: u64 },
    /// It was archived already (nothing changed).
    AlreadyArchived,
    /// New events arrived since `last_seq` was read: read again and retry.
    Changed,
    /// The task has not ended (or does not exist): it is never archived.
    NotFinished,
}

const FINAL: &str = "('succeeded', 'failed', 'cancelled')";

impl Store {
    /// Archiving state of task `id`, `None` when there is no such task.
    pub async fn task_archive_state(&self, id: Uuid) -> StoreResult<Option<ArchiveState>> {
        let row = sqlx::query("SELECT status, last_seq, archived_at FROM tasks WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(ArchiveState {
                finished: is_final(row.try_get("status")?),
                last_seq: row.try_get("last_seq")?,
                archived: row.try_get::<Option<String>, _>("archived_at")?.is_some(),
            })
        })
        .transpose()
    }

    /// Up to `limit` ended tasks whose output is not archived yet, ended longest ago first
    /// (tasks ended by a cancel or by a lost worker, and archives that failed, are caught up
    /// by the workers' periodic sweep).
    pub async fn tasks_to_archive(&self, limit: u32) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = sqlx::query_scalar(super::sql(format!(
            "SELECT id FROM tasks WHERE status IN {FINAL} AND archived_at IS NULL
             ORDER BY finished_at LIMIT $1"
        )))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|id| parse_uuid(id)).collect()
    }

    /// Whether task `id`'s output is archived (`false` for no such task).
    pub async fn task_archived(&self, id: Uuid) -> StoreResult<bool> {
        let archived: Option<Option<String>> =
            sqlx::query_scalar("SELECT archived_at FROM tasks WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(archived.flatten().is_some())
    }

    /// Every `output` event of task `id` with `seq <= through`, in order (exact bytes).
    pub async fn output_events_through(
        &self,
        id: Uuid,
        through: i64,
    ) -> StoreResult<Vec<TaskEvent>> {
        let rows = sqlx::query(
            "SELECT seq, kind, platform_id, stream, data FROM task_events
             WHERE task_id = $1 AND kind = 'output' AND seq <= $2 ORDER BY seq",
        )
        .bind(id.to_string())
        .bind(through)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::tasks::event_from_row).collect()
    }

    /// In one transaction: mark finished task `id` archived through `last_seq` and delete its
    /// output rows up to it. Only when the task has ended, is not archived yet and its `last_seq`
    /// is still `last_seq` (the archived object then holds every output row deleted here; a
    /// concurrent append makes this return [`MarkArchived::Changed`] instead). Call it only after
    /// the archived object is durably written.
    pub async fn mark_archived(&self, id: Uuid, last_seq: i64) -> StoreResult<MarkArchived> {
        let mut tx = self.write_tx().await?;
        let marked = sqlx::query(super::sql(format!(
            "UPDATE tasks SET archived_at = $3, archived_seq = $2
             WHERE id = $1 AND archived_at IS NULL AND last_seq = $2 AND status IN {FINAL}"
        )))
        .bind(id.to_string())
        .bind(last_seq)
        .bind(now_ts())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            let state = sqlx::query("SELECT status, archived_at FROM tasks WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            tx.rollback().await?;
            let Some(state) = state else {
                return Ok(MarkArchived::NotFinished);
            };
            return Ok(
                if state.try_get::<Option<String>, _>("archived_at")?.is_some() {
                    MarkArchived::AlreadyArchived
                } else if !is_final(state.try_get("status")?) {
                    MarkArchived::NotFinished
                } else {
                    MarkArchived::Changed
                },
            );
        }
        let deleted = sqlx::query(
            "DELETE FROM task_events WHERE task_id = $1 AND kind = 'output' AND seq <= $2",
        )
        .bind(id.to_string())
        .bind(last_seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(MarkArchived::Archived { deleted })
    }
}

/// Whether a stored task status is final.
fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}
