//! Output chunks written in batches: many targets' chunks, of several tasks, in one transaction
//! with multi-row inserts, instead of one transaction and one statement per chunk. Each task's
//! `output_bytes` total is kept on its row and capped (`TESTUM_MAX_TASK_OUTPUT_BYTES`).

use sqlx::Row as _;
use uuid::Uuid;

use super::tasks::notify;
use super::{Backend, Store, StoreResult, now_ts, sql};

/// One chunk of a target's output to store: exact bytes of one stream.
#[derive(Debug, Clone)]
pub struct OutputChunk {
    pub task_id: Uuid,
    pub platform_id: Uuid,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    pub data: Vec<u8>,
}

/// Rows per multi-row INSERT: 6 values each, far below SQLite's 32 766 and PostgreSQL's 65 535
/// bound parameters.
const ROWS_PER_INSERT: usize = 100;

/// The bytes of a `len`-byte chunk that fit in `room`: all of it, or the longest prefix that fits
/// and ends on a UTF-8 character boundary of `data`.
fn fitting(data: &[u8], room: u64) -> usize {
    if data.len() as u64 <= room {
        data.len()
    } else {
        crate::tasks::utf8_boundary(&data[..room as usize])
    }
}

impl Store {
    /// Store `chunks` in one transaction as `output` events, numbered in order after each task's
    /// last event (gap-free per task, as [`Store::append_output`]), and wake the tasks'
    /// subscribers in other processes. A task keeps at most `task_cap` output bytes in all: a
    /// chunk that crosses the cap is cut at a UTF-8 boundary, later ones are dropped. Returns the
    /// bytes kept of each chunk, in the order given (0 for a task that no longer exists).
    ///
    /// Task rows are locked in id order, so concurrent writers never deadlock.
    pub async fn append_outputs(
        &self,
        chunks: &[OutputChunk],
        task_cap: u64,
    ) -> StoreResult<Vec<u64>> {
        let mut kept = vec![0u64; chunks.len()];
        let mut tasks: Vec<Uuid> = chunks.iter().map(|c| c.task_id).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        for task in tasks {
            let Some(row) = sqlx::query(sql(format!(
                "SELECT last_seq, output_bytes FROM tasks WHERE id = $1{lock}"
            )))
            .bind(task.to_string())
            .fetch_optional(&mut *tx)
            .await?
            else {
                continue;
            };
            let mut seq: i64 = row.try_get("last_seq")?;
            let stored: i64 = row.try_get("output_bytes")?;
            let mut room = task_cap.saturating_sub(stored.max(0) as u64);
            // (index into chunks, seq) of the rows to insert for this task.
            let mut rows = Vec::new();
            for (index, chunk) in chunks.iter().enumerate() {
                if chunk.task_id != task {
                    continue;
                }
                let take = fitting(&chunk.data, room);
                if take == 0 {
                    continue;
                }
                room -= take as u64;
                kept[index] = take as u64;
                seq += 1;
                rows.push((index, seq));
            }
            if rows.is_empty() {
                continue;
            }
            let added: u64 = rows.iter().map(|(i, _)| kept[*i]).sum();
            sqlx::query(
                "UPDATE tasks SET last_seq = $2, output_bytes = output_bytes + $3 WHERE id = $1",
            )
            .bind(task.to_string())
            .bind(seq)
            .bind(added as i64)
            .execute(&mut *tx)
            .await?;
            for batch in rows.chunks(ROWS_PER_INSERT) {
                let values: Vec<String> = (0..batch.len())
                    .map(|r| {
                        let p = r * 6;
                        format!(
                            "(${}, ${}, 'output', ${}, ${}, ${}, ${})",
                            p + 1,
                            p + 2,
                            p + 3,
                            p + 4,
                            p + 5,
                            p + 6
                        )
                    })
                    .collect();
                let mut insert = sqlx::query(sql(format!(
                    "INSERT INTO task_events (task_id, seq, kind, platform_id, stream, data,
                                              created_at) VALUES {}",
                    values.join(", ")
                )));
                for (index, seq) in batch {
                    let chunk = &chunks[*index];
                    insert = insert
                        .bind(task.to_string())
                        .bind(*seq)
                        .bind(chunk.platform_id.to_string())
                        .bind(chunk.stream)
                        .bind(&chunk.data[..kept[*index] as usize])
                        .bind(&now);
                }
                insert.execute(&mut *tx).await?;
            }
            notify(&mut tx, super::EVENTS_CHANNEL, &task.to_string()).await?;
        }
        tx.commit().await?;
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::fitting;

    #[test]
    fn a_cut_never_splits_a_character() {
        let text = "ab€".as_bytes(); // € is 3 bytes
        assert_eq!(fitting(text, 10), 5);
        assert_eq!(fitting(text, 5), 5);
        assert_eq!(fitting(text, 4), 2);
        assert_eq!(fitting(text, 3), 2);
        assert_eq!(fitting(text, 0), 0);
    }
}
