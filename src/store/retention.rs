//! The store's side of output retention (`TESTUM_OUTPUT_RETENTION_DAYS`, see
//! `crate::archive::retention`): which tasks' output is due, and the one transaction that deletes
//! a task's output rows and segment index and marks it expired. The task and its targets stay,
//! and so do its `target` and `done` events (the task view and the WebSocket replay read them).
//!
//! Like archiving, retention is maintenance, not a user action: no audit event; the job logs a
//! summary.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Store, StoreResult, now_ts, parse_uuid, ts};

/// What [`Store::expire_output`] deleted from the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiredRows {
    /// Output rows and their bytes.
    pub rows: u64,
    pub bytes: u64,
}

impl Store {
    /// Up to `limit` ended tasks that finished before `cutoff` and whose output has not expired
    /// yet, ended longest ago first; archived ones only `with_archived` (a process without the
    /// object store cannot delete their objects).
    pub async fn tasks_with_output_due(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
        with_archived: bool,
    ) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tasks
             WHERE finished_at < $1 AND output_expired_at IS NULL
                 AND status IN ('succeeded', 'failed', 'cancelled')
                 AND ($3 = 1 OR archived_at IS NULL)
             ORDER BY finished_at LIMIT $2",
        )
        .bind(ts(cutoff))
        .bind(i64::from(limit))
        .bind(i64::from(with_archived))
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|id| parse_uuid(id)).collect()
    }

    /// In one transaction: mark task `id`'s output expired (`output_expired_at`) and delete its
    /// output rows and archive segment rows. `None` when it had expired already (or there is no
    /// such task). Delete the task's objects first: once this commits, nothing points at them.
    pub async fn expire_output(&self, id: Uuid) -> StoreResult<Option<ExpiredRows>> {
        let mut tx = self.write_tx().await?;
        let marked = sqlx::query(
            "UPDATE tasks SET output_expired_at = $2 WHERE id = $1 AND output_expired_at IS NULL",
        )
        .bind(id.to_string())
        .bind(now_ts())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let bytes: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(length(data)), 0) AS BIGINT) FROM task_events
             WHERE task_id = $1 AND kind = 'output'",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        let rows = sqlx::query("DELETE FROM task_events WHERE task_id = $1 AND kind = 'output'")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM archive_segments WHERE task_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ExpiredRows {
            rows,
            bytes: bytes.max(0) as u64,
        }))
    }
}
