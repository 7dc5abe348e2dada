//! The store's side of output archiving (see `crate::archive`): where a task's output lives,
//! the segment index rows of archive format 2, and the one transaction that marks a task archived
//! and deletes its output rows.
//!
//! Archiving is maintenance, not a user action: it changes no state a user sees (the output
//! reads the same before and after), so it writes no audit event; failures are logged.

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError, StoreResult, now_ts, parse_uuid};

/// Where a task stands for archiving, read in one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveState {
    /// The task has ended (succeeded, failed or cancelled).
    pub finished: bool,
    /// The seq of its latest event.
    pub last_seq: i64,
    /// Its output has been moved to the object store.
    pub archived: bool,
    /// Retention deleted its output.
    pub expired: bool,
}

/// Where a task's output events are, for a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputLocation {
    /// In `task_events` (not archived, or no such task).
    Database,
    /// Archived in format 1: one object `tasks/<task_id>.log`.
    ArchivedV1,
    /// Archived in format 2: the segments of archiving run `run`.
    Archived { run: Uuid },
    /// Deleted by retention (`TESTUM_OUTPUT_RETENTION_DAYS`); only target and done events remain.
    Expired,
}

/// A segment object of archive format 2 and its index (see `crate::archive::index`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSegment {
    /// Seq of its first and last event.
    pub first_seq: i64,
    pub last_seq: i64,
    /// Object key below the archive's prefix, e.g. `tasks/<task>/<run>/<first_seq>.seg`.
    pub object: String,
    /// Bytes in the object.
    pub size: u64,
    /// The binary index.
    pub entries: Vec<u8>,
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
    /// The task has not ended, its output expired, or it does not exist: it is not archived.
    NotFinished,
}

const FINAL: &str = "('succeeded', 'failed', 'cancelled')";

impl Store {
    /// Archiving state of task `id`, `None` when there is no such task.
    pub async fn task_archive_state(&self, id: Uuid) -> StoreResult<Option<ArchiveState>> {
        let row = sqlx::query(
            "SELECT status, last_seq, archived_at, output_expired_at FROM tasks WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ArchiveState {
                finished: is_final(row.try_get("status")?),
                last_seq: row.try_get("last_seq")?,
                archived: row.try_get::<Option<String>, _>("archived_at")?.is_some(),
                expired: row
                    .try_get::<Option<String>, _>("output_expired_at")?
                    .is_some(),
            })
        })
        .transpose()
    }

    /// Up to `limit` ended tasks whose output is not archived yet (nor expired), ended longest
    /// ago first (tasks ended by a cancel or by a lost worker, and archives that failed, are
    /// caught up by the workers' periodic sweep).
    pub async fn tasks_to_archive(&self, limit: u32) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = sqlx::query_scalar(super::sql(format!(
            "SELECT id FROM tasks WHERE status IN {FINAL} AND archived_at IS NULL
                 AND output_expired_at IS NULL
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

    /// Where task `id`'s output is now ([`OutputLocation::Database`] for no such task).
    pub async fn output_location(&self, id: Uuid) -> StoreResult<OutputLocation> {
        let row = sqlx::query(
            "SELECT archived_at, archive_run, output_expired_at FROM tasks WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(OutputLocation::Database);
        };
        let set = |column: &str| -> StoreResult<Option<String>> { Ok(row.try_get(column)?) };
        Ok(if set("output_expired_at")?.is_some() {
            OutputLocation::Expired
        } else if set("archived_at")?.is_none() {
            OutputLocation::Database
        } else {
            match set("archive_run")? {
                Some(run) => OutputLocation::Archived {
                    run: parse_uuid(&run)?,
                },
                None => OutputLocation::ArchivedV1,
            }
        })
    }

    /// How many output rows task `id` has in the database.
    pub async fn count_output_rows(&self, id: Uuid) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM task_events WHERE task_id = $1 AND kind = 'output'",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?)
    }

    /// Record segment `segment` of archiving run `run` of task `id` (its object is written).
    /// Readers see it only once the run has won [`Store::mark_archived`].
    pub async fn add_archive_segment(
        &self,
        id: Uuid,
        run: Uuid,
        segment: &ArchiveSegment,
    ) -> StoreResult<()> {
        let size = i64::try_from(segment.size)
            .map_err(|_| StoreError::Corrupt(format!("segment size {}", segment.size)))?;
        sqlx::query(
            "INSERT INTO archive_segments
                 (task_id, run, first_seq, last_seq, object, size, entries, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(run.to_string())
        .bind(segment.first_seq)
        .bind(segment.last_seq)
        .bind(&segment.object)
        .bind(size)
        .bind(&segment.entries)
        .bind(now_ts())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Up to `limit` segments of run `run` of task `id` that end after seq `after`, in seq
    /// order: the segment holding seq `after + 1` first.
    pub async fn archive_segments_after(
        &self,
        id: Uuid,
        run: Uuid,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<ArchiveSegment>> {
        let rows = sqlx::query(
            "SELECT first_seq, last_seq, object, size, entries FROM archive_segments
             WHERE task_id = $1 AND run = $2 AND last_seq > $3 ORDER BY last_seq LIMIT $4",
        )
        .bind(id.to_string())
        .bind(run.to_string())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ArchiveSegment {
                    first_seq: row.try_get("first_seq")?,
                    last_seq: row.try_get("last_seq")?,
                    object: row.try_get("object")?,
                    size: row.try_get::<i64, _>("size")?.max(0) as u64,
                    entries: row.try_get("entries")?,
                })
            })
            .collect()
    }

    /// Forget the segment rows of archiving run `run` of task `id` (a run that did not win).
    pub async fn discard_archive_run(&self, id: Uuid, run: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM archive_segments WHERE task_id = $1 AND run = $2")
            .bind(id.to_string())
            .bind(run.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// In one transaction: mark finished task `id` archived by run `run` through `last_seq`,
    /// delete its output rows up to it and the segment rows of every other run. Only when the
    /// task has ended, is neither archived nor expired, and its `last_seq` is still `last_seq`
    /// (the run's segments then hold every output row deleted here; a concurrent append makes
    /// this return [`MarkArchived::Changed`] instead). Call it only after every segment object of
    /// the run is durably written and recorded with [`Store::add_archive_segment`].
    pub async fn mark_archived(
        &self,
        id: Uuid,
        last_seq: i64,
        run: Uuid,
    ) -> StoreResult<MarkArchived> {
        let mut tx = self.write_tx().await?;
        let marked = sqlx::query(super::sql(format!(
            "UPDATE tasks SET archived_at = $3, archived_seq = $2, archive_run = $4
             WHERE id = $1 AND archived_at IS NULL AND output_expired_at IS NULL
                 AND last_seq = $2 AND status IN {FINAL}"
        )))
        .bind(id.to_string())
        .bind(last_seq)
        .bind(now_ts())
        .bind(run.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            let state = sqlx::query(
                "SELECT status, archived_at, output_expired_at FROM tasks WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            tx.rollback().await?;
            let Some(state) = state else {
                return Ok(MarkArchived::NotFinished);
            };
            let set = |column: &str| -> StoreResult<bool> {
                Ok(state.try_get::<Option<String>, _>(column)?.is_some())
            };
            return Ok(if set("archived_at")? {
                MarkArchived::AlreadyArchived
            } else if set("output_expired_at")? || !is_final(state.try_get("status")?) {
                MarkArchived::NotFinished
            } else {
                MarkArchived::Changed
            });
        }
        let deleted = sqlx::query(
            "DELETE FROM task_events WHERE task_id = $1 AND kind = 'output' AND seq <= $2",
        )
        .bind(id.to_string())
        .bind(last_seq)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM archive_segments WHERE task_id = $1 AND run <> $2")
            .bind(id.to_string())
            .bind(run.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(MarkArchived::Archived { deleted })
    }
}

/// Whether a stored task status is final.
fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled")
}

impl Store {
    /// Keys (below the archive's prefix) of every object the archived output of this database
    /// reads: the segments of each task's winning run (format 2) and the one log of each task
    /// archived in format 1; objects of runs that lost, or of expired output, are not listed.
    /// Backups copy exactly these.
    pub async fn archived_objects(&self) -> StoreResult<Vec<String>> {
        let mut keys: Vec<String> = sqlx::query_scalar(
            "SELECT s.object FROM archive_segments s
             JOIN tasks t ON t.id = s.task_id AND t.archive_run = s.run
             WHERE t.output_expired_at IS NULL
             ORDER BY s.task_id, s.first_seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let v1: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE archived_at IS NOT NULL AND archive_run IS NULL
             AND output_expired_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        for id in v1 {
            keys.push(crate::archive::OutputArchive::v1_key(parse_uuid(&id)?));
        }
        Ok(keys)
    }
}
