//! A task's targets at fleet scale: counts per status, filtered pages of targets, and the targets
//! grouped by identical output (the `output_digest` the worker records when a target ends), each
//! a bounded SQL query over the task's `targets` rows: no answer holds every target, and no
//! output is read.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use super::tasks::{TARGET_COLUMNS, target_from_row, task_from_row};
use base64::Engine as _;

use super::{
    IN_LIST, Page, Store, StoreResult, Target, Task, TaskStatus, id_set, in_id_set, placeholders,
    sql,
};

/// How many targets of a task are in each status, and how many carry warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TargetCounts {
    /// Every target of the task.
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub cancelled: i64,
    /// Targets with at least one warning (any status).
    pub warned: i64,
}

impl TargetCounts {
    /// Add `n` targets in `status`.
    fn add(&mut self, status: TaskStatus, n: i64) {
        self.total += n;
        match status {
            TaskStatus::Queued => self.queued += n,
            TaskStatus::Running => self.running += n,
            TaskStatus::Succeeded => self.succeeded += n,
            TaskStatus::Failed => self.failed += n,
            TaskStatus::Cancelled => self.cancelled += n,
        }
    }

    /// The counts of targets already in memory.
    pub fn of(targets: &[Target]) -> TargetCounts {
        let mut counts = TargetCounts::default();
        for target in targets {
            counts.add(target.status, 1);
            counts.warned += i64::from(!target.warnings.is_empty());
        }
        counts
    }
}

/// Which targets of a task a page holds; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct TargetFilter {
    pub status: Option<TaskStatus>,
    /// Part of the platform name or of the error, matched case-insensitively (ASCII letters on
    /// SQLite, every letter on PostgreSQL).
    pub search: Option<String>,
    /// Only the targets whose output has this digest (with `status` and `error_reason`, the
    /// members of one [`OutputGroup`]).
    pub output_digest: Option<String>,
    /// Only the targets with this [`Target::error_reason`]; `Some("")`: those without one.
    pub error_reason: Option<String>,
    /// Only the targets on these platforms (the ones a user may see); `None`: all.
    pub platforms: Option<Vec<Uuid>>,
}

/// Targets of one task that ended with the same status, the same failure reason (the sample's
/// `error_reason`) and byte-identical output.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutputGroup {
    /// See [`Target::output_digest`].
    pub output_digest: String,
    /// Bytes of output each member stored.
    pub output_bytes: i64,
    pub status: TaskStatus,
    /// Members of the group.
    pub count: i64,
    /// The member that comes first in the task (read its output to see the group's).
    pub sample: Target,
}

/// `text` as a LIKE pattern matching it anywhere, lower-cased, wildcards escaped with `\`.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Where a page of targets or groups ends: lists ordered by numbers (a target's position in
/// its task; a group's size, then its first member's position). Handed to clients opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberCursor(pub i64, pub i64);

impl NumberCursor {
    /// Opaque URL-safe form.
    pub fn encode(self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("n{}|{}", self.0, self.1))
    }

    /// Parse a client's cursor; `None` when it is not one of these.
    pub fn decode(text: &str) -> Option<NumberCursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (a, b) = raw.strip_prefix('n')?.split_once('|')?;
        Some(NumberCursor(a.parse().ok()?, b.parse().ok()?))
    }
}

/// `limit + 1` rows as a page of at most `limit`, with the cursor of its last row when more follow.
fn page_of<T>(mut rows: Vec<(NumberCursor, T)>, limit: u32) -> Page<T> {
    let mut next_cursor = None;
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        next_cursor = rows.last().map(|(cursor, _)| cursor.encode());
    }
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    }
}

impl Store {
    /// The task with `id` without its targets, with its [`TargetCounts`] (of its targets on
    /// `platforms` only, when given).
    pub async fn get_task_head(
        &self,
        id: Uuid,
        platforms: Option<&[Uuid]>,
    ) -> StoreResult<Option<Task>> {
        let Some(row) = self.task_row(id).await? else {
            return Ok(None);
        };
        let mut task = task_from_row(&row, Vec::new())?;
        task.target_counts = Some(
            self.target_counts_of(&[id], platforms)
                .await?
                .remove(&id)
                .unwrap_or_default(),
        );
        Ok(Some(task))
    }

    /// Task `task`'s target on `platform`, if it has one.
    pub async fn task_target(&self, task: Uuid, platform: Uuid) -> StoreResult<Option<Target>> {
        sqlx::query(sql(format!(
            "SELECT {TARGET_COLUMNS} FROM targets WHERE task_id = $1 AND platform_id = $2"
        )))
        .bind(task.to_string())
        .bind(platform.to_string())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(target_from_row)
        .transpose()
    }

    /// [`TargetCounts`] of each task of `tasks` that has targets (on `platforms`, when given).
    pub async fn target_counts_of(
        &self,
        tasks: &[Uuid],
        platforms: Option<&[Uuid]>,
    ) -> StoreResult<HashMap<Uuid, TargetCounts>> {
        let mut out: HashMap<Uuid, TargetCounts> = HashMap::new();
        let platforms = id_set(platforms);
        for chunk in tasks.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT task_id, status, COUNT(*) AS n,
                        SUM(CASE WHEN warnings IS NULL THEN 0 ELSE 1 END) AS warned
                 FROM targets WHERE task_id IN ({}) AND {} GROUP BY task_id, status",
                placeholders(chunk.len()),
                in_id_set(self.backend, "platform_id", chunk.len() + 1)
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            query = query.bind(platforms.clone());
            for row in query.fetch_all(&self.pool).await? {
                let task = super::parse_uuid(row.try_get("task_id")?)?;
                let status = TaskStatus::parse(row.try_get("status")?)?;
                let counts = out.entry(task).or_default();
                counts.add(status, row.try_get("n")?);
                counts.warned += row.try_get::<Option<i64>, _>("warned")?.unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// Up to `limit` of task `task`'s targets after `after`, in the task's order, filtered by
    /// `filter`.
    pub async fn task_targets(
        &self,
        task: Uuid,
        filter: &TargetFilter,
        limit: u32,
        after: Option<NumberCursor>,
    ) -> StoreResult<Page<Target>> {
        let after = after.map(|c| c.0);
        let rows = sqlx::query(sql(format!(
            "SELECT {TARGET_COLUMNS}, position FROM targets
             WHERE task_id = $1 AND ($2 IS NULL OR status = $2)
               AND ($3 IS NULL OR lower(platform_name) LIKE $3 ESCAPE '\\'
                    OR lower(error) LIKE $3 ESCAPE '\\')
               AND ($4 IS NULL OR output_digest = $4)
               AND ($5 IS NULL OR position > $5)
               AND ($7 IS NULL OR COALESCE(error_reason, '') = $7)
               AND {}
             ORDER BY position LIMIT $6",
            in_id_set(self.backend, "platform_id", 8)
        )))
        .bind(task.to_string())
        .bind(filter.status.map(TaskStatus::as_str))
        .bind(filter.search.as_deref().map(contains_pattern))
        .bind(&filter.output_digest)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .bind(&filter.error_reason)
        .bind(id_set(filter.platforms.as_deref()))
        .fetch_all(&self.pool)
        .await?;
        let mut targets = Vec::with_capacity(rows.len());
        for row in &rows {
            let position = row.try_get::<i64, _>("position")?;
            targets.push((NumberCursor(position, 0), target_from_row(row)?));
        }
        Ok(page_of(targets, limit))
    }

    /// A page of task `task`'s ended targets grouped by (output digest, status, error reason),
    /// the smallest groups first (the odd ones out), then by where their first member is in the
    /// task: a host whose key changed is its own group, not one of 300 empty outputs of hosts
    /// that refused the connection. Targets without a digest (not ended, or ended before digests
    /// were kept) are in no group. With `platforms`, only the targets on those platforms are
    /// grouped.
    pub async fn output_groups(
        &self,
        task: Uuid,
        platforms: Option<&[Uuid]>,
        limit: u32,
        after: Option<NumberCursor>,
    ) -> StoreResult<Page<OutputGroup>> {
        let after_count = after.map(|c| c.0);
        let after_first = after.map_or(0, |c| c.1);
        let rows = sqlx::query(sql(format!(
            "SELECT output_digest, status, COUNT(*) AS n, MAX(output_bytes) AS bytes,
                    MIN(position) AS first
             FROM targets WHERE task_id = $1 AND output_digest IS NOT NULL AND {}
             GROUP BY output_digest, status, error_reason
             HAVING ($2 IS NULL OR COUNT(*) > $2 OR (COUNT(*) = $2 AND MIN(position) > $3))
             ORDER BY n, first LIMIT $4",
            in_id_set(self.backend, "platform_id", 5)
        )))
        .bind(task.to_string())
        .bind(after_count)
        .bind(after_first)
        .bind(i64::from(limit) + 1)
        .bind(id_set(platforms))
        .fetch_all(&self.pool)
        .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let count = row.try_get::<i64, _>("n")?;
            let first = row.try_get::<i64, _>("first")?;
            groups.push((
                NumberCursor(count, first),
                (
                    row.try_get::<String, _>("output_digest")?,
                    TaskStatus::parse(row.try_get("status")?)?,
                    count,
                    row.try_get::<Option<i64>, _>("bytes")?.unwrap_or(0),
                    first,
                ),
            ));
        }
        let page = page_of(groups, limit);
        let mut samples = HashMap::new();
        if !page.items.is_empty() {
            let positions: Vec<i64> = page.items.iter().map(|g| g.4).collect();
            let mut query = sqlx::query(sql(format!(
                "SELECT {TARGET_COLUMNS}, position FROM targets
                 WHERE task_id = $1 AND position IN ({})",
                (2..positions.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
            .bind(task.to_string());
            for position in &positions {
                query = query.bind(position);
            }
            for row in query.fetch_all(&self.pool).await? {
                samples.insert(row.try_get::<i64, _>("position")?, target_from_row(&row)?);
            }
        }
        let mut items = Vec::with_capacity(page.items.len());
        for (output_digest, status, count, output_bytes, first) in page.items {
            let Some(sample) = samples.remove(&first) else {
                continue; // the task was deleted between the two reads
            };
            items.push(OutputGroup {
                output_digest,
                output_bytes,
                status,
                count,
                sample,
            });
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{NumberCursor, contains_pattern};

    #[test]
    fn cursors_read_back_and_refuse_other_lists() {
        let cursor = NumberCursor(287, 12);
        assert_eq!(NumberCursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(NumberCursor::decode("!"), None);
        // A cursor of a newest-first list (time|id) is not one of these.
        let other = super::super::Cursor {
            created_at: "2026-01-01T00:00:00.000000Z".into(),
            id: uuid::Uuid::nil().to_string(),
        };
        assert_eq!(NumberCursor::decode(&other.encode()), None);
    }

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern("Web_1"), "%web\\_1%");
        assert_eq!(contains_pattern("100%"), "%100\\%%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
    }
}
