//! Read models for the web UI's lists: where each key is deployed, and each platform's latest
//! task result. Read-only, one statement per list page.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{
    IN_LIST, Store, StoreResult, SyncStatus, TaskKind, parse_opt_ts, parse_uuid, parse_word,
    placeholders, sql,
};

/// A key's assignment to one platform, as the keys list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub platform_id: Uuid,
    pub platform_name: String,
    /// The assignment's sync status.
    pub sync_status: SyncStatus,
}

/// The latest target a platform took part in.
#[derive(Debug, Clone, Serialize)]
pub struct LastResult {
    pub task_id: Uuid,
    pub kind: TaskKind,
    /// Target status (`queued`, `running`, `succeeded`, `failed`, `cancelled`).
    pub status: String,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The kinds that write authorized_keys: a platform's last sync result is its latest target of
/// one of these (a later `run_command` or `scan` does not hide a failed deploy).
pub const SYNC_KINDS: &[TaskKind] = &[
    TaskKind::DeployKeys,
    TaskKind::RevokeKeys,
    TaskKind::ReplaceKey,
    TaskKind::Sync,
];

/// A platform named on a page: id and name.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformRef {
    pub platform_id: Uuid,
    pub platform_name: String,
}

/// Where one key is: its assignments counted by sync status, and the platforms whose latest
/// scan found it (by fingerprint) without an assignment there.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyWhereabouts {
    /// Assignments by sync status (`present`, `pending`, `failed`, `revoking`, `expired`);
    /// statuses with none are absent.
    pub by_status: HashMap<String, u64>,
    /// How many platforms hold the key unassigned (a hand edit, or a scan before it was
    /// registered).
    pub unassigned_total: u64,
    /// The first of them by name, at most [`UNASSIGNED_SHOWN`].
    pub unassigned: Vec<PlatformRef>,
}

/// Unassigned platforms [`Store::key_whereabouts`] names.
pub const UNASSIGNED_SHOWN: u32 = 20;

impl Store {
    /// Where key `id` (with `fingerprint`) is: counts only, three statements whatever the fleet's
    /// size.
    pub async fn key_whereabouts(
        &self,
        id: Uuid,
        fingerprint: &str,
    ) -> StoreResult<KeyWhereabouts> {
        let mut out = KeyWhereabouts::default();
        let counts: Vec<(String, i64)> = sqlx::query_as(
            "SELECT sync_status, COUNT(*) FROM assignments WHERE key_id = $1 GROUP BY sync_status",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for (status, n) in counts {
            out.by_status.insert(status, u64::try_from(n).unwrap_or(0));
        }
        const UNASSIGNED: &str = "FROM access_entries e JOIN platforms p ON p.id = e.platform_id
             WHERE e.fingerprint = $1 AND NOT EXISTS (
                 SELECT 1 FROM assignments a WHERE a.platform_id = e.platform_id AND a.key_id = $2)";
        let total: i64 = sqlx::query_scalar(sql(format!(
            "SELECT COUNT(DISTINCT e.platform_id) {UNASSIGNED}"
        )))
        .bind(fingerprint)
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        out.unassigned_total = u64::try_from(total).unwrap_or(0);
        let rows = sqlx::query(sql(format!(
            "SELECT DISTINCT p.id, p.name {UNASSIGNED} ORDER BY p.name LIMIT $3"
        )))
        .bind(fingerprint)
        .bind(id.to_string())
        .bind(i64::from(UNASSIGNED_SHOWN))
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            out.unassigned.push(PlatformRef {
                platform_id: parse_uuid(row.try_get("id")?)?,
                platform_name: row.try_get("name")?,
            });
        }
        Ok(out)
    }

    /// The platforms each of `key_ids` is assigned to, by key id, platform names in order.
    pub async fn key_placements(
        &self,
        key_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<Placement>>> {
        let mut out: HashMap<Uuid, Vec<Placement>> = HashMap::new();
        for chunk in key_ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT a.key_id, a.platform_id, p.name, a.sync_status
                 FROM assignments a JOIN platforms p ON p.id = a.platform_id
                 WHERE a.key_id IN ({}) ORDER BY p.name",
                placeholders(chunk.len())
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.entry(parse_uuid(row.try_get("key_id")?)?)
                    .or_default()
                    .push(Placement {
                        platform_id: parse_uuid(row.try_get("platform_id")?)?,
                        platform_name: row.try_get("name")?,
                        sync_status: parse_word("sync_status", row.try_get("sync_status")?)?,
                    });
            }
        }
        Ok(out)
    }

    /// The latest target (by task creation) of a task of one of `kinds`, dry runs left out, of
    /// each of `platform_ids`, by platform id; platforms that never took part in such a task are
    /// absent (all of them for no kinds).
    pub async fn platform_last_results(
        &self,
        platform_ids: &[Uuid],
        kinds: &[TaskKind],
    ) -> StoreResult<HashMap<Uuid, LastResult>> {
        let mut out = HashMap::new();
        if kinds.is_empty() {
            return Ok(out);
        }
        // Task kinds are fixed words: inlined, they leave the placeholders to the ids. A dry run
        // changed nothing, so it is not a result (`dry_run` is only serialized when true).
        let kinds = kinds
            .iter()
            .map(|k| format!("'{}'", k.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = |ids: &str| {
            format!(
                "SELECT platform_id, task_id, kind, status, exit_code, error, finished_at FROM (
                     SELECT t.platform_id, t.task_id, k.kind, t.status, t.exit_code, t.error,
                            t.finished_at,
                            ROW_NUMBER() OVER (PARTITION BY t.platform_id
                                               ORDER BY k.created_at DESC, k.id DESC) AS n
                     FROM targets t JOIN tasks k ON k.id = t.task_id
                     WHERE t.platform_id IN ({ids}) AND k.kind IN ({kinds})
                         AND k.params NOT LIKE '%\"dry_run\":true%'
                 ) latest WHERE n = 1"
            )
        };
        for row in self.rows_of_platforms(statement, platform_ids).await? {
            out.insert(
                parse_uuid(row.try_get("platform_id")?)?,
                LastResult {
                    task_id: parse_uuid(row.try_get("task_id")?)?,
                    kind: parse_word("kind", row.try_get("kind")?)?,
                    status: row.try_get("status")?,
                    exit_code: row.try_get("exit_code")?,
                    error: row.try_get("error")?,
                    finished_at: parse_opt_ts(row.try_get("finished_at")?)?,
                },
            );
        }
        Ok(out)
    }
}

impl Store {
    /// Why the latest scan of each of `platform_ids` could not read the file (its `error`:
    /// unreachable, host key refused, read failed), by platform id; platforms whose latest scan
    /// read the file, or that were never scanned, are absent.
    pub async fn platform_scan_errors(
        &self,
        platform_ids: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, String>> {
        let mut out = HashMap::new();
        let statement = |ids: &str| {
            format!(
                "SELECT platform_id, error FROM platform_scans
                 WHERE platform_id IN ({ids}) AND error IS NOT NULL"
            )
        };
        for row in self.rows_of_platforms(statement, platform_ids).await? {
            out.insert(
                parse_uuid(row.try_get("platform_id")?)?,
                row.try_get("error")?,
            );
        }
        Ok(out)
    }
}

impl Store {
    /// The rows of `statement(placeholders)` for `platform_ids`, [`IN_LIST`] ids per query:
    /// `statement` gets the `$1, $2, ...` list to put in its `IN (...)`.
    async fn rows_of_platforms(
        &self,
        statement: impl Fn(&str) -> String,
        platform_ids: &[Uuid],
    ) -> StoreResult<Vec<AnyRow>> {
        let mut rows = Vec::new();
        for chunk in platform_ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(statement(&placeholders(chunk.len()))));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            rows.extend(query.fetch_all(&self.pool).await?);
        }
        Ok(rows)
    }
}
