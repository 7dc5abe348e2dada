//! Tasks, their targets (the work queue) and their event log (output, target changes, done).
//!
//! The queue is the `targets` table: a worker claims `queued` targets under a lease
//! (`lease_owner`, `lease_expires_at`) that it renews while it works; a target whose lease ran out
//! is given back to the queue when its work is idempotent (deploy, revoke) and failed as
//! "worker lost" otherwise (run_command: the command may have run; it is not re-run).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::audit::{cursor_parts, insert as audit};
use super::audit_chain::ChainKey;
use super::{
    Actor, Backend, Cursor, IN_LIST, NewAudit, Page, PageRequest, Store, StoreError, StoreResult,
    id_set, in_id_set, now_ts, page_of, parse_opt_ts, parse_ts, parse_uuid, parse_word,
    placeholders, sql, ts,
};
use crate::authorized_keys::{KeyOptions, KeyOptionsError};

/// Status of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Status of one target (one platform of a task).
pub type TargetStatus = TaskStatus;

impl TaskStatus {
    /// The name stored and shown in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub(super) fn parse(text: &str) -> StoreResult<TaskStatus> {
        serde_json::from_value(json!(text))
            .map_err(|_| StoreError::Corrupt(format!("status {text:?}")))
    }

    /// Whether this status is final.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

crate::words! {
    /// What a task does; decoded strictly from the database, like every such word.
    pub enum TaskKind {
        /// Assign keys and sync the platforms' authorized_keys.
        DeployKeys => "deploy_keys",
        /// Unassign keys and sync.
        RevokeKeys => "revoke_keys",
        /// Run a command.
        RunCommand => "run_command",
        /// Read each platform's authorized_keys and record what grants access; changes nothing.
        Scan => "scan",
        /// Put a new key wherever an old one is assigned (same options) and take the old one off,
        /// in one write per platform: the old key leaves only where the new one lands.
        ReplaceKey => "replace_key",
        /// Converge each platform on its assignments (what a deploy does, without changing any
        /// assignment): missing keys are written, revoked and expired ones removed, options
        /// brought up to date; the file read after the write is recorded as the platform's scan.
        Sync => "sync",
    }
}

impl TaskKind {
    /// The kinds that rewrite authorized_keys are idempotent and may be retried.
    pub fn is_idempotent(self) -> bool {
        matches!(
            self,
            TaskKind::DeployKeys
                | TaskKind::RevokeKeys
                | TaskKind::Scan
                | TaskKind::ReplaceKey
                | TaskKind::Sync
        )
    }
}

impl AsRef<str> for TaskKind {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The parameters of a task, stored as JSON with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TaskParams {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ids: Vec<Uuid>,
    /// For `deploy_keys`: authorized_keys options per key id (validated; a key left out keeps
    /// the options it has where it is assigned already, `{}` clears them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<Uuid, KeyOptions>,
    /// `true`: the task only shows what it would change (a diff per target) and changes nothing,
    /// neither on the hosts nor in the assignments.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// For `replace_key`: the key being replaced (`key_ids` holds the one replacing it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Uuid>,
    /// For `revoke_keys` by owner (offboarding): whose keys `key_ids` are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
    /// The selector the targets were chosen with, in canonical form (see [`crate::selector`]);
    /// the targets are the platforms it matched when the task was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// A task to create: `kind` over `platforms` (id, name). For `deploy_keys` the keys are assigned
/// and for `revoke_keys` unassigned in the same transaction that queues the task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub platforms: Vec<(Uuid, String)>,
    pub params: TaskParams,
    pub concurrency: u32,
}

/// A task with its targets, as `GET /api/tasks/{id}` returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub kind: TaskKind,
    pub status: TaskStatus,
    pub created_by: String,
    #[serde(flatten)]
    pub params: TaskParams,
    pub concurrency: u32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When retention (`TESTUM_OUTPUT_RETENTION_DAYS` after the task ended) deleted its output;
    /// `null` while the output is kept. The task and its targets stay.
    pub output_expired_at: Option<DateTime<Utc>>,
    /// One per platform; left out of list answers (`GET /api/tasks`), which carry no targets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// How many targets the task has in each status (list answers and `GET /api/tasks/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_counts: Option<super::TargetCounts>,
}

/// One target of a task.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub platform_id: Uuid,
    pub platform_name: String,
    pub status: TargetStatus,
    pub exit_code: Option<i64>,
    /// Signal name without `SIG`, e.g. `KILL`.
    pub exit_signal: Option<String>,
    pub error: Option<String>,
    /// For deploy/revoke: whether authorized_keys was rewritten.
    pub changed: Option<bool>,
    /// Things about the run that are not the command's output (a host key shared with other
    /// platforms, deploy notes); empty when there are none. Set when the target ends.
    pub warnings: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// SHA-256 (hex) of the output the target stored: of the stdout digest followed by the
    /// stderr digest, so two targets have the same value exactly when both streams match byte for
    /// byte. Set when the target ends; `null` before, and for targets that never ran.
    pub output_digest: Option<String>,
    /// Bytes of output the target stored (both streams), set with `output_digest`.
    pub output_bytes: Option<i64>,
    /// `error` without what names the platform ([`crate::tasks::failure_reason`]): targets that
    /// failed the same way share it. Set when the target ends with an error.
    pub error_reason: Option<String>,
}

/// How a target ended, as the worker reports it.
#[derive(Debug, Clone, Default)]
pub struct TargetResult {
    pub status: Option<TargetStatus>,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub error: Option<String>,
    pub changed: Option<bool>,
    /// See [`Target::warnings`]; kept also when the target fails.
    pub warnings: Vec<String>,
    /// See [`Target::output_digest`] and [`Target::output_bytes`].
    pub output_digest: Option<String>,
    pub output_bytes: Option<i64>,
}

/// A target a worker has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedTarget {
    pub task_id: Uuid,
    pub platform_id: Uuid,
    pub kind: TaskKind,
    pub params: TaskParams,
}

/// Kind of a task event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A chunk of output: `platform_id`, `stream` and the exact bytes in `data`.
    Output,
    /// A target changed status: `data` is the target as JSON.
    Target,
    /// The task ended: `data` is `{"status": ...}`.
    Done,
}

/// One entry of a task's event log, numbered from 1 with no gap.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub platform_id: Option<Uuid>,
    /// `stdout` or `stderr` for output.
    pub stream: Option<String>,
    pub data: Vec<u8>,
}

/// Filters of `GET /api/tasks`.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<String>,
    pub kind: Option<TaskKind>,
    /// Only tasks with a target on one of these platforms (the ones a user may see), and only
    /// those targets counted; `None`: every task and target.
    pub platforms: Option<Vec<Uuid>>,
}

pub(super) const TASK_COLUMNS: &str = "id, kind, status, params, concurrency, created_by, created_at, \
                            started_at, finished_at, output_expired_at";
pub(super) const TARGET_COLUMNS: &str = "task_id, platform_id, platform_name, status, exit_code, \
                              exit_signal, error, changed, warnings, started_at, finished_at, \
                              output_digest, output_bytes, error_reason";

pub(super) fn task_from_row(row: &AnyRow, targets: Vec<Target>) -> StoreResult<Task> {
    let params: String = row.try_get("params")?;
    Ok(Task {
        id: parse_uuid(row.try_get("id")?)?,
        kind: parse_word("kind", row.try_get("kind")?)?,
        status: TaskStatus::parse(row.try_get("status")?)?,
        created_by: row.try_get("created_by")?,
        params: serde_json::from_str(&params)
            .map_err(|e| StoreError::Corrupt(format!("params: {e}")))?,
        concurrency: row.try_get::<i64, _>("concurrency")? as u32,
        created_at: parse_ts(row.try_get("created_at")?)?,
        started_at: parse_opt_ts(row.try_get("started_at")?)?,
        finished_at: parse_opt_ts(row.try_get("finished_at")?)?,
        output_expired_at: parse_opt_ts(row.try_get("output_expired_at")?)?,
        target_counts: (!targets.is_empty()).then(|| super::TargetCounts::of(&targets)),
        targets,
    })
}

pub(super) fn target_from_row(row: &AnyRow) -> StoreResult<Target> {
    Ok(Target {
        platform_id: parse_uuid(row.try_get("platform_id")?)?,
        platform_name: row.try_get("platform_name")?,
        status: TaskStatus::parse(row.try_get("status")?)?,
        exit_code: row.try_get("exit_code")?,
        exit_signal: row.try_get("exit_signal")?,
        error: row.try_get("error")?,
        changed: row.try_get::<Option<i64>, _>("changed")?.map(|c| c != 0),
        warnings: match row.try_get::<Option<String>, _>("warnings")? {
            Some(list) => serde_json::from_str(&list)
                .map_err(|e| StoreError::Corrupt(format!("target warnings: {e}")))?,
            None => Vec::new(),
        },
        started_at: parse_opt_ts(row.try_get("started_at")?)?,
        finished_at: parse_opt_ts(row.try_get("finished_at")?)?,
        output_digest: row.try_get("output_digest")?,
        output_bytes: row.try_get("output_bytes")?,
        error_reason: row.try_get("error_reason")?,
    })
}

/// Append an event to a task's log on `conn` (inside a transaction): the next sequence number comes
/// from the task row, so numbers are gap-free and unique per task.
async fn append_event(
    conn: &mut AnyConnection,
    task_id: Uuid,
    kind: EventKind,
    platform_id: Option<Uuid>,
    stream: Option<&str>,
    data: &[u8],
) -> StoreResult<i64> {
    let seq: i64 = sqlx::query_scalar(
        "UPDATE tasks SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq",
    )
    .bind(task_id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let kind = match kind {
        EventKind::Output => "output",
        EventKind::Target => "target",
        EventKind::Done => "done",
    };
    sqlx::query(
        "INSERT INTO task_events (task_id, seq, kind, platform_id, stream, data, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(task_id.to_string())
    .bind(seq)
    .bind(kind)
    .bind(platform_id.map(|p| p.to_string()))
    .bind(stream)
    .bind(data)
    .bind(now_ts())
    .execute(&mut *conn)
    .await?;
    notify(conn, super::EVENTS_CHANNEL, &task_id.to_string()).await?;
    Ok(seq)
}

/// On PostgreSQL, `pg_notify(channel, payload)` on `conn`: sent when its transaction commits, to
/// every process listening (see [`crate::tasks::EventBus::bridge_postgres`]). Nothing on SQLite,
/// where one process holds all listeners.
pub(crate) async fn notify(
    conn: &mut AnyConnection,
    channel: &str,
    payload: &str,
) -> StoreResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A `task_events` row (`seq, kind, platform_id, stream, data`) as a [`TaskEvent`].
pub(crate) fn event_from_row(row: &AnyRow) -> StoreResult<TaskEvent> {
    let kind: String = row.try_get("kind")?;
    Ok(TaskEvent {
        seq: row.try_get("seq")?,
        kind: match kind.as_str() {
            "output" => EventKind::Output,
            "target" => EventKind::Target,
            "done" => EventKind::Done,
            other => return Err(StoreError::Corrupt(format!("event kind {other:?}"))),
        },
        platform_id: row
            .try_get::<Option<String>, _>("platform_id")?
            .as_deref()
            .map(parse_uuid)
            .transpose()?,
        stream: row.try_get("stream")?,
        data: row.try_get("data")?,
    })
}

/// Load one target of a task on `conn`.
async fn load_target(
    conn: &mut AnyConnection,
    task_id: Uuid,
    platform_id: Uuid,
) -> StoreResult<Target> {
    let row = sqlx::query(sql(format!(
        "SELECT {TARGET_COLUMNS} FROM targets WHERE task_id = $1 AND platform_id = $2"
    )))
    .bind(task_id.to_string())
    .bind(platform_id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    target_from_row(&row)
}

/// Write a target's new state to the event log on `conn`.
async fn target_event(
    conn: &mut AnyConnection,
    task_id: Uuid,
    platform_id: Uuid,
) -> StoreResult<()> {
    let target = load_target(conn, task_id, platform_id).await?;
    let data = serde_json::to_vec(&target).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    append_event(
        conn,
        task_id,
        EventKind::Target,
        Some(platform_id),
        None,
        &data,
    )
    .await?;
    Ok(())
}

/// If no target of the task is left to run, give the task its final status, write the `done`
/// event and audit it (under the audit chain key `key`). Returns the final status when this call
/// ended the task.
async fn finish_task_if_done(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    task_id: Uuid,
) -> StoreResult<Option<TaskStatus>> {
    // One index probe (targets_status) while targets remain, so finishing each of a task's
    // 10 000 targets does not count all 10 000 every time.
    let open = sqlx::query(
        "SELECT task_id FROM targets WHERE status IN ('queued', 'running') AND task_id = $1
         LIMIT 1",
    )
    .bind(task_id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    if open.is_some() {
        return Ok(None);
    }
    let counts =
        sqlx::query("SELECT status, COUNT(*) AS n FROM targets WHERE task_id = $1 GROUP BY status")
            .bind(task_id.to_string())
            .fetch_all(&mut *conn)
            .await?;
    let mut by_status = HashMap::new();
    for row in &counts {
        by_status.insert(
            TaskStatus::parse(row.try_get("status")?)?,
            row.try_get::<i64, _>("n")?,
        );
    }
    let open = by_status.get(&TaskStatus::Queued).copied().unwrap_or(0)
        + by_status.get(&TaskStatus::Running).copied().unwrap_or(0);
    if open > 0 {
        return Ok(None);
    }
    let status = if by_status.contains_key(&TaskStatus::Cancelled) {
        TaskStatus::Cancelled
    } else if by_status.contains_key(&TaskStatus::Failed) {
        TaskStatus::Failed
    } else {
        TaskStatus::Succeeded
    };
    let now = now_ts();
    let updated = sqlx::query(
        "UPDATE tasks SET status = $2, finished_at = $3, started_at = COALESCE(started_at, $3)
         WHERE id = $1 AND status IN ('queued', 'running') RETURNING kind, created_by",
    )
    .bind(task_id.to_string())
    .bind(status.as_str())
    .bind(&now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = updated else {
        return Ok(None);
    };
    let data = json!({"status": status}).to_string();
    append_event(conn, task_id, EventKind::Done, None, None, data.as_bytes()).await?;
    let kind: String = row.try_get("kind")?;
    let created_by: String = row.try_get("created_by")?;
    let failed = by_status.get(&TaskStatus::Failed).copied().unwrap_or(0);
    audit(
        conn,
        key,
        NewAudit {
            actor: &Actor::system(),
            action: "task.finish",
            target: Some(format!("task:{task_id}")),
            outcome: match status {
                TaskStatus::Succeeded => "success",
                TaskStatus::Cancelled => "cancelled",
                _ => "failure",
            },
            details: json!({"kind": kind, "status": status, "created_by": created_by,
                            "failed_targets": failed}),
        },
    )
    .await?;
    let targets: i64 = by_status.values().sum();
    notify_task_end(conn, task_id, status, &kind, &created_by, targets, failed).await?;
    Ok(Some(status))
}

/// Most platform names a task's notification lists (failed targets, drifted platforms); the
/// counts cover them all.
const NOTIFY_NAMES: i64 = 10;

/// Queue the notifications of a task's end, in the transaction that ends it (so exactly once per
/// task, whatever its size): `task.failed` or `task.succeeded` (nothing for a cancelled task)
/// with the counts and the first failed platforms' names, and `drift.found` when platforms its
/// scans found drifted (count and first names). Each costs one small read when nobody
/// subscribes.
async fn notify_task_end(
    conn: &mut AnyConnection,
    task_id: Uuid,
    status: TaskStatus,
    kind: &str,
    created_by: &str,
    targets: i64,
    failed: i64,
) -> StoreResult<()> {
    use super::NotificationEvent;
    use super::notifications::{queue_event, subscribers};
    let event = match status {
        TaskStatus::Failed => NotificationEvent::TaskFailed,
        TaskStatus::Succeeded => NotificationEvent::TaskSucceeded,
        _ => return Ok(()),
    };
    if !subscribers(conn, event).await?.is_empty() {
        let failed_platforms: Vec<String> = sqlx::query_scalar(
            "SELECT platform_name FROM targets WHERE task_id = $1 AND status = 'failed'
             ORDER BY platform_name LIMIT $2",
        )
        .bind(task_id.to_string())
        .bind(NOTIFY_NAMES)
        .fetch_all(&mut *conn)
        .await?;
        let payload = json!({"task_id": task_id, "kind": kind, "status": status,
                             "created_by": created_by, "targets": targets,
                             "failed_targets": failed, "failed_platforms": failed_platforms});
        queue_event(conn, event, &payload).await?;
    }
    if !subscribers(conn, NotificationEvent::DriftFound)
        .await?
        .is_empty()
    {
        let drifted: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM platform_scans WHERE task_id = $1 AND state = 'drift'",
        )
        .bind(task_id.to_string())
        .fetch_one(&mut *conn)
        .await?;
        if drifted > 0 {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT p.name FROM platform_scans s JOIN platforms p ON p.id = s.platform_id
                 WHERE s.task_id = $1 AND s.state = 'drift' ORDER BY p.name LIMIT $2",
            )
            .bind(task_id.to_string())
            .bind(NOTIFY_NAMES)
            .fetch_all(&mut *conn)
            .await?;
            let payload = json!({"task_id": task_id, "kind": kind, "platforms": drifted,
                                 "platform_names": names});
            queue_event(conn, NotificationEvent::DriftFound, &payload).await?;
        }
    }
    Ok(())
}

/// The options field of each key in `options` (`None`: the key's options are cleared).
fn render_options(
    options: &BTreeMap<Uuid, KeyOptions>,
) -> Result<HashMap<Uuid, Option<String>>, KeyOptionsError> {
    options
        .iter()
        .map(|(key_id, opts)| Ok((*key_id, opts.render()?)))
        .collect()
}

/// The stored expiry (see [`KeyOptions::expires_at`]) of each key in `options`; `None` for a key
/// whose options have no `expiry-time`.
fn option_expiries(options: &BTreeMap<Uuid, KeyOptions>) -> HashMap<Uuid, Option<String>> {
    options
        .iter()
        .map(|(key_id, opts)| (*key_id, opts.expires_at().map(ts)))
        .collect()
}

/// The assignment change of one key on one platform for a task of `kind` (see
/// [`Store::create_task`]); `options` holds the rendered options of the keys that have some.
async fn change_assignment(
    conn: &mut AnyConnection,
    kind: TaskKind,
    platform_id: Uuid,
    key_id: Uuid,
    options: &HashMap<Uuid, Option<String>>,
    expiries: &HashMap<Uuid, Option<String>>,
    now: &str,
) -> StoreResult<()> {
    // Re-deploying a key that is being revoked cancels the revoke; a revoked assignment
    // stays, marked, until a sync has removed the key from the host.
    let query = match (kind, options.get(&key_id)) {
        (TaskKind::DeployKeys, None) => sqlx::query(
            "INSERT INTO assignments (platform_id, key_id, created_at, sync_status)
             VALUES ($1, $2, $3, 'pending')
             ON CONFLICT (platform_id, key_id) DO UPDATE SET sync_status = 'pending',
                 sync_error = NULL
             WHERE assignments.sync_status = 'revoking'",
        )
        .bind(platform_id.to_string())
        .bind(key_id.to_string())
        .bind(now.to_string()),
        // New options: the assignment is pending again when they differ from what it has.
        (TaskKind::DeployKeys, Some(field)) => sqlx::query(
            "INSERT INTO assignments (platform_id, key_id, created_at, sync_status, options,
                 expires_at)
             VALUES ($1, $2, $3, 'pending', $4, $5)
             ON CONFLICT (platform_id, key_id) DO UPDATE SET options = excluded.options,
                 expires_at = excluded.expires_at, sync_status = 'pending', sync_error = NULL
             WHERE assignments.sync_status = 'revoking'
                OR COALESCE(assignments.options, '') <> COALESCE(excluded.options, '')",
        )
        .bind(platform_id.to_string())
        .bind(key_id.to_string())
        .bind(now.to_string())
        .bind(field.clone())
        .bind(expiries.get(&key_id).cloned().flatten()),
        (TaskKind::RevokeKeys, _) => sqlx::query(
            "UPDATE assignments SET sync_status = 'revoking', sync_error = NULL
             WHERE platform_id = $1 AND key_id = $2",
        )
        .bind(platform_id.to_string())
        .bind(key_id.to_string()),
        (TaskKind::RunCommand | TaskKind::Scan | TaskKind::ReplaceKey | TaskKind::Sync, _) => {
            return Ok(());
        }
    };
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Key `new` takes the place of key `old` on platform `platform_id` (a `replace_key` task): it is
/// assigned with the old assignment's options, and the old one is marked for revoking, so the
/// platform's next sync adds one and removes the other in a single write.
async fn replace_assignment(
    conn: &mut AnyConnection,
    platform_id: Uuid,
    old: Uuid,
    new: Uuid,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO assignments (platform_id, key_id, created_at, sync_status, options,
             expires_at)
         SELECT platform_id, $3, $4, 'pending', options, expires_at FROM assignments
         WHERE platform_id = $1 AND key_id = $2
         ON CONFLICT (platform_id, key_id) DO UPDATE SET options = excluded.options,
             expires_at = excluded.expires_at, sync_status = 'pending', sync_error = NULL",
    )
    .bind(platform_id.to_string())
    .bind(old.to_string())
    .bind(new.to_string())
    .bind(now.to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE assignments SET sync_status = 'revoking', sync_error = NULL
         WHERE platform_id = $1 AND key_id = $2",
    )
    .bind(platform_id.to_string())
    .bind(old.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// [`Store::create_task`] on `conn`, inside the caller's transaction (a schedule's firing or an
/// expiry creates its task in the transaction that claims the firing), audited under the audit
/// chain key `key`. Returns the task id.
pub(super) async fn insert_task(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    actor: &Actor,
    new: NewTask,
) -> StoreResult<Uuid> {
    let id = Uuid::new_v4();
    let now = now_ts();
    let rendered = render_options(&new.params.options)
        .map_err(|e| StoreError::Conflict(format!("options: {e}")))?;
    let expiries = option_expiries(&new.params.options);
    if !new.params.dry_run {
        for (platform_id, _) in &new.platforms {
            for key_id in &new.params.key_ids {
                match new.params.replaces {
                    Some(old) if new.kind == TaskKind::ReplaceKey => {
                        replace_assignment(&mut *conn, *platform_id, old, *key_id, &now).await?
                    }
                    _ => {
                        change_assignment(
                            &mut *conn,
                            new.kind,
                            *platform_id,
                            *key_id,
                            &rendered,
                            &expiries,
                            &now,
                        )
                        .await?
                    }
                }
            }
        }
    }
    let params = json!(new.params).to_string();
    sqlx::query(
        "INSERT INTO tasks (id, kind, status, params, concurrency, created_by, created_at)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(new.kind.as_str())
    .bind(&params)
    .bind(i64::from(new.concurrency))
    .bind(&actor.name)
    .bind(&now)
    .execute(&mut *conn)
    .await?;
    for (position, (platform_id, name)) in new.platforms.iter().enumerate() {
        sqlx::query(
            "INSERT INTO targets (task_id, platform_id, platform_name, position, status)
                 VALUES ($1, $2, $3, $4, 'queued')",
        )
        .bind(id.to_string())
        .bind(platform_id.to_string())
        .bind(name)
        .bind(position as i64)
        .execute(&mut *conn)
        .await?;
    }
    audit(
        &mut *conn,
        key,
        NewAudit {
            actor,
            action: "task.create",
            target: Some(format!("task:{id}")),
            outcome: "success",
            details: json!({
                "kind": new.kind,
                // A task chosen by selector (every scheduled one) records the selector and how
                // many platforms it matched; the targets list them. Copying 10 000 ids into the
                // audit chain at every firing would swamp it.
                "platform_ids": new.params.selector.is_none()
                    .then(|| new.platforms.iter().map(|p| p.0).collect::<Vec<_>>()),
                "platforms": new.platforms.len(),
                "key_ids": new.params.key_ids,
                "options": new.params.options,
                "dry_run": new.params.dry_run,
                "replaces": new.params.replaces,
                "owner": new.params.owner,
                "command": new.params.command,
                "selector": new.params.selector,
            }),
        },
    )
    .await?;
    notify(&mut *conn, super::WORK_CHANNEL, "").await?;
    Ok(id)
}

impl Store {
    /// Platforms (id, name) where any of `key_ids` is assigned, by name: the targets of a key
    /// replacement (`with_revoking` false: a key being revoked is no longer there to replace) or
    /// of an offboarding (`with_revoking` true: a revoke that has not reached the host yet still
    /// leaves the person a login). One query per 500 keys.
    pub async fn platforms_with_keys(
        &self,
        key_ids: &[Uuid],
        with_revoking: bool,
    ) -> StoreResult<Vec<(Uuid, String)>> {
        let mut out = std::collections::BTreeMap::new();
        for chunk in key_ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT DISTINCT p.id, p.name FROM assignments a
                 JOIN platforms p ON p.id = a.platform_id
                 WHERE ({} OR a.sync_status <> 'revoking') AND a.key_id IN ({})",
                if with_revoking { "TRUE" } else { "FALSE" },
                placeholders(chunk.len())
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let name: String = row.try_get("name")?;
                out.insert(name, parse_uuid(row.try_get("id")?)?);
            }
        }
        Ok(out.into_iter().map(|(name, id)| (id, name)).collect())
    }

    /// Names of the platforms where key `new` is already assigned (and not being revoked) with
    /// other options than key `old`'s assignment there: replacing `old` by `new` would change
    /// `new`'s restrictions on them.
    pub async fn replacement_conflicts(&self, old: Uuid, new: Uuid) -> StoreResult<Vec<String>> {
        sqlx::query(
            "SELECT p.name FROM assignments o
             JOIN assignments n ON n.platform_id = o.platform_id AND n.key_id = $2
             JOIN platforms p ON p.id = o.platform_id
             WHERE o.key_id = $1 AND o.sync_status <> 'revoking' AND n.sync_status <> 'revoking'
               AND COALESCE(o.options, '') <> COALESCE(n.options, '')
             ORDER BY p.name",
        )
        .bind(old.to_string())
        .bind(new.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok(row.try_get("name")?))
        .collect()
    }

    /// Ids of the registered keys whose owner is exactly `owner`.
    pub async fn key_ids_of_owner(&self, owner: &str) -> StoreResult<Vec<Uuid>> {
        sqlx::query("SELECT id FROM keys WHERE owner = $1 ORDER BY id")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| parse_uuid(row.try_get("id")?))
            .collect()
    }

    /// Queue a task, one target per platform, in one transaction with its assignment changes and
    /// its audit event. Returns the task id.
    ///
    /// `deploy_keys` assigns each key (a revoke still queued for it is cancelled); a key with an
    /// entry in `params.options` gets those options (replacing what it had, `{}` clears them) and
    /// goes back to `pending` when they changed, a key without one keeps its options. A dry run
    /// changes no assignment: the worker computes "assignments plus (or minus) this request".
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when options cannot be rendered (the API validates them first).
    pub async fn create_task(&self, actor: &Actor, new: NewTask) -> StoreResult<Uuid> {
        let mut tx = self.write_tx().await?;
        let id = insert_task(&mut tx, self.chain_key(), actor, new).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The task with `id` and its targets, if any.
    pub async fn get_task(&self, id: Uuid) -> StoreResult<Option<Task>> {
        let Some(row) = self.task_row(id).await? else {
            return Ok(None);
        };
        let targets = sqlx::query(sql(format!(
            "SELECT {TARGET_COLUMNS} FROM targets WHERE task_id = $1 ORDER BY position"
        )))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(target_from_row)
        .collect::<StoreResult<_>>()?;
        task_from_row(&row, targets).map(Some)
    }

    /// The `tasks` row of `id` ([`TASK_COLUMNS`]), if any.
    pub(super) async fn task_row(&self, id: Uuid) -> StoreResult<Option<AnyRow>> {
        Ok(sqlx::query(sql(format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Tasks, newest first, without their targets.
    pub async fn list_tasks(
        &self,
        filter: &TaskFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Task>> {
        let (after_ts, after_id) = cursor_parts(page.cursor.as_ref());
        let platforms = id_set(filter.platforms.as_deref());
        let rows = sqlx::query(sql(format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR kind = $2)
               AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND id < $4))
               AND ($6 IS NULL OR EXISTS (SELECT 1 FROM targets t
                                           WHERE t.task_id = tasks.id AND {}))
             ORDER BY created_at DESC, id DESC LIMIT $5",
            in_id_set(self.backend, "t.platform_id", 6)
        )))
        .bind(&filter.status)
        .bind(filter.kind.map(TaskKind::as_str))
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .bind(&platforms)
        .fetch_all(&self.pool)
        .await?;
        let mut tasks: Vec<Task> = rows
            .iter()
            .map(|row| task_from_row(row, Vec::new()))
            .collect::<StoreResult<_>>()?;
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
        let mut counts = self
            .target_counts_of(&ids, filter.platforms.as_deref())
            .await?;
        for task in &mut tasks {
            task.target_counts = Some(counts.remove(&task.id).unwrap_or_default());
        }
        Ok(page_of(tasks, page.limit, |t: &Task| Cursor {
            created_at: ts(t.created_at),
            id: t.id.to_string(),
        }))
    }

    /// Claim up to `limit` queued targets for `worker`, oldest task first, never exceeding a
    /// task's `concurrency` in running targets. Each claimed target gets a lease of `lease` and a
    /// `target` event; its task becomes `running`.
    pub async fn claim_targets(
        &self,
        worker: &str,
        limit: u32,
        lease: std::time::Duration,
    ) -> StoreResult<Vec<ClaimedTarget>> {
        let mut claimed = Vec::new();
        if limit == 0 {
            return Ok(claimed);
        }
        let now = Utc::now();
        let expires =
            ts(now + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(30)));
        let tasks = sqlx::query(
            "SELECT k.id, k.kind, k.params FROM tasks k
             WHERE k.status IN ('queued', 'running') AND k.cancel_requested = 0
               AND EXISTS (SELECT 1 FROM targets q WHERE q.task_id = k.id AND q.status = 'queued')
             ORDER BY k.created_at, k.id",
        )
        .fetch_all(&self.pool)
        .await?;
        // PostgreSQL: the task row lock serialises claimers of one task (so its concurrency holds
        // across workers) and SKIP LOCKED keeps targets another claimer holds out of reach.
        let (lock_task, skip_locked) = match self.backend {
            Backend::Sqlite => ("", ""),
            Backend::Postgres => (" FOR UPDATE", " FOR UPDATE SKIP LOCKED"),
        };
        for task in &tasks {
            let want_most = i64::from(limit) - claimed.len() as i64;
            if want_most <= 0 {
                break;
            }
            let task_id: String = task.try_get("id")?;
            let task_uuid = parse_uuid(&task_id)?;
            // A kind testum does not know is never run (nor allowed to stop the queue).
            let kind: TaskKind = match parse_word("kind", task.try_get("kind")?) {
                Ok(kind) => kind,
                Err(e) => {
                    tracing::error!(task = %task_uuid, error = %e, "not running a task of an unknown kind");
                    continue;
                }
            };
            let params: TaskParams = serde_json::from_str(task.try_get("params")?)
                .map_err(|e| StoreError::Corrupt(format!("params: {e}")))?;
            let mut tx = self.write_tx().await?;
            let room: Option<i64> = sqlx::query_scalar(sql(format!(
                "SELECT concurrency - (SELECT COUNT(*) FROM targets r
                                       WHERE r.task_id = tasks.id AND r.status = 'running')
                 FROM tasks WHERE id = $1 AND cancel_requested = 0{lock_task}"
            )))
            .bind(&task_id)
            .fetch_optional(&mut *tx)
            .await?;
            let want = room.unwrap_or(0).min(want_most);
            if want <= 0 {
                continue;
            }
            let platforms: Vec<String> = sqlx::query_scalar(sql(format!(
                // A CTE is evaluated once; as an IN (...) subquery PostgreSQL may run the
                // LIMIT ... SKIP LOCKED select again per row and claim more than the limit.
                "WITH picked AS (
                     SELECT platform_id FROM targets WHERE task_id = $1 AND status = 'queued'
                     ORDER BY position LIMIT $5{skip_locked})
                 UPDATE targets SET status = 'running', lease_owner = $2, lease_expires_at = $3,
                     started_at = $4
                 WHERE task_id = $1 AND platform_id IN (SELECT platform_id FROM picked)
                 RETURNING platform_id"
            )))
            .bind(&task_id)
            .bind(worker)
            .bind(&expires)
            .bind(ts(now))
            .bind(want)
            .fetch_all(&mut *tx)
            .await?;
            if platforms.is_empty() {
                continue;
            }
            sqlx::query(
                "UPDATE tasks SET status = 'running', started_at = COALESCE(started_at, $2)
                 WHERE id = $1 AND status = 'queued'",
            )
            .bind(&task_id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
            for platform in platforms {
                let platform_id = parse_uuid(&platform)?;
                target_event(&mut tx, task_uuid, platform_id).await?;
                claimed.push(ClaimedTarget {
                    task_id: task_uuid,
                    platform_id,
                    kind,
                    params: params.clone(),
                });
            }
            tx.commit().await?;
        }
        Ok(claimed)
    }

    /// Extend the leases of every target `worker` is running, and of every named lease it holds
    /// (platform locks, jobs; see [`Store::try_take_lease`]).
    pub async fn renew_leases(&self, worker: &str, lease: std::time::Duration) -> StoreResult<()> {
        let expires =
            ts(Utc::now() + ChronoDuration::from_std(lease).unwrap_or(ChronoDuration::seconds(30)));
        sqlx::query(
            "UPDATE targets SET lease_expires_at = $2 WHERE lease_owner = $1 AND status = 'running'",
        )
        .bind(worker)
        .bind(&expires)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE leases SET expires_at = $2 WHERE worker = $1")
            .bind(worker)
            .bind(&expires)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Give back targets whose lease ran out (their worker died): idempotent kinds go back to the
    /// queue, run_command targets fail with "worker lost". Returns how many were handled.
    pub async fn reap_expired_leases(&self) -> StoreResult<u64> {
        // Every worker reaps; on PostgreSQL each expired target is taken by one of them only.
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF t SKIP LOCKED",
        };
        let mut tx = self.write_tx().await?;
        let expired = sqlx::query(
            sql(format!(
                "SELECT t.task_id, t.platform_id, k.kind FROM targets t JOIN tasks k ON k.id = t.task_id
                 WHERE t.status = 'running' AND t.lease_expires_at < $1{skip_locked}"
            )),
        )
        .bind(now_ts())
        .fetch_all(&mut *tx)
        .await?;
        for row in &expired {
            let task_id = parse_uuid(row.try_get("task_id")?)?;
            let platform_id = parse_uuid(row.try_get("platform_id")?)?;
            // A kind testum does not know is never retried: it fails as "worker lost".
            let kind: String = row.try_get("kind")?;
            if kind.parse().is_ok_and(TaskKind::is_idempotent) {
                sqlx::query(
                    "UPDATE targets SET status = 'queued', lease_owner = NULL,
                         lease_expires_at = NULL, started_at = NULL
                     WHERE task_id = $1 AND platform_id = $2",
                )
                .bind(task_id.to_string())
                .bind(platform_id.to_string())
                .execute(&mut *tx)
                .await?;
                target_event(&mut tx, task_id, platform_id).await?;
            } else {
                sqlx::query(
                    "UPDATE targets SET status = 'failed', error = 'worker lost', finished_at = $3,
                         lease_owner = NULL, lease_expires_at = NULL
                     WHERE task_id = $1 AND platform_id = $2",
                )
                .bind(task_id.to_string())
                .bind(platform_id.to_string())
                .bind(now_ts())
                .execute(&mut *tx)
                .await?;
                target_event(&mut tx, task_id, platform_id).await?;
                finish_task_if_done(&mut tx, self.chain_key(), task_id).await?;
            }
        }
        tx.commit().await?;
        Ok(expired.len() as u64)
    }

    /// Record how a target ended (only while `worker` still holds its lease), write its `target`
    /// event, and end the task when it was the last open target. Returns the task's final status
    /// when this call ended it.
    pub async fn finish_target(
        &self,
        worker: &str,
        task_id: Uuid,
        platform_id: Uuid,
        result: TargetResult,
    ) -> StoreResult<Option<TaskStatus>> {
        let status = result.status.unwrap_or(TaskStatus::Failed);
        // NULL, not `[]`, for none: the column stays NULL for most targets.
        let warnings = (!result.warnings.is_empty()).then(|| json!(result.warnings).to_string());
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE targets SET status = $4, exit_code = $5, exit_signal = $6, error = $7,
                 changed = $8, finished_at = $9, warnings = $10, lease_owner = NULL,
                 lease_expires_at = NULL, output_digest = $11, output_bytes = $12,
                 error_reason = $13
             WHERE task_id = $1 AND platform_id = $2 AND status = 'running' AND lease_owner = $3",
        )
        .bind(task_id.to_string())
        .bind(platform_id.to_string())
        .bind(worker)
        .bind(status.as_str())
        .bind(result.exit_code)
        .bind(&result.exit_signal)
        .bind(&result.error)
        .bind(result.changed.map(i64::from))
        .bind(now_ts())
        .bind(warnings)
        .bind(&result.output_digest)
        .bind(result.output_bytes)
        .bind(result.error.as_deref().map(crate::tasks::failure_reason))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        target_event(&mut tx, task_id, platform_id).await?;
        let done = finish_task_if_done(&mut tx, self.chain_key(), task_id).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Append a chunk of output (exact bytes) to a task's event log; returns its sequence number.
    pub async fn append_output(
        &self,
        task_id: Uuid,
        platform_id: Uuid,
        stream: &str,
        data: &[u8],
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await?;
        let seq = append_event(
            &mut tx,
            task_id,
            EventKind::Output,
            Some(platform_id),
            Some(stream),
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Ask a task to stop: queued targets are cancelled at once, running ones by their worker.
    /// Returns `false` when the task had already ended. [`StoreError::NotFound`] for no such task.
    pub async fn cancel_task(&self, actor: &Actor, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let status: String = sqlx::query_scalar("SELECT status FROM tasks WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if TaskStatus::parse(&status)?.is_final() {
            return Ok(false);
        }
        sqlx::query("UPDATE tasks SET cancel_requested = 1 WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let cancelled: Vec<String> = sqlx::query_scalar(
            "UPDATE targets SET status = 'cancelled', finished_at = $2, error = 'cancelled'
             WHERE task_id = $1 AND status = 'queued' RETURNING platform_id",
        )
        .bind(id.to_string())
        .bind(now_ts())
        .fetch_all(&mut *tx)
        .await?;
        for platform in cancelled {
            target_event(&mut tx, id, parse_uuid(&platform)?).await?;
        }
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "task.cancel",
                target: Some(format!("task:{id}")),
                outcome: "success",
                details: json!({}),
            },
        )
        .await?;
        finish_task_if_done(&mut tx, self.chain_key(), id).await?;
        // Workers in other processes stop their running targets of this task.
        notify(&mut tx, super::CANCEL_CHANNEL, &id.to_string()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How many targets wait in the queue (all tasks); one indexed count, for `/metrics`.
    pub async fn count_queued_targets(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM targets WHERE status = 'queued'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Whether someone asked task `id` to stop.
    pub async fn cancel_requested(&self, id: Uuid) -> StoreResult<bool> {
        let flag: Option<i64> =
            sqlx::query_scalar("SELECT cancel_requested FROM tasks WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(flag.unwrap_or(0) != 0)
    }
}
