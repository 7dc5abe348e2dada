//! Enforced expiry: keys whose `expires_at` passed, and assignments whose `expiry-time` option
//! passed, are taken off the platforms they are on by one `sync` task, once per expiry value
//! (`expired_mark`); keys and assignments about to expire are announced once (`expiring_mark`).
//! See migrations `0011_schedules`.
//!
//! Both marks are set by compare-and-swap in the transaction that acts on them, so with several
//! processes on one database each expiry is handled by one of them, once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::audit::insert as audit;
use super::keys::{COLUMNS as KEY_COLUMNS, key_from_row};
use super::tasks::insert_task;
use super::{
    Actor, Key, NewAudit, NewTask, Store, StoreResult, TaskKind, TaskParams, parse_ts, parse_uuid,
    sql, ts,
};

/// The most platforms one expiry sync task targets (as `POST /api/tasks` allows); an expiry
/// reaching more platforms leaves the rest to the next sync of each (the daily sync).
const MAX_EXPIRY_PLATFORMS: usize = 10_000;

/// Targets in flight at once in an expiry's sync task (the API's default concurrency).
const EXPIRY_CONCURRENCY: u32 = 50;

/// A key or an assignment whose expiry passed (`platform` set: the assignment's own
/// `expiry-time` on that one platform) or is near.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExpiryItem {
    pub key_id: Uuid,
    pub key_name: String,
    pub fingerprint: String,
    pub owner: Option<String>,
    /// For an assignment's `expiry-time`: the platform `(id, name)`; `null` for the key's own
    /// expiry (every platform it is on).
    pub platform_id: Option<Uuid>,
    pub platform_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Platforms the key is still on (for an assignment: 1).
    pub platforms: u64,
}

/// What one [`Store::enforce_expiry`] pass queued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryOutcome {
    /// The sync task that removes them (`None` when nothing expired).
    pub task_id: Option<Uuid>,
    pub expired: Vec<ExpiryItem>,
}

/// The actor of what expiry does (`created_by` of its sync tasks, its audit events).
pub fn expiry_actor() -> Actor {
    Actor {
        user_id: None,
        name: "expiry".into(),
    }
}

/// Keys whose own expiry is in `(after, until]` with `mark` (a column) not yet set to it, and
/// assigned somewhere (not yet removed as expired) when `assigned_only`.
fn due_keys_sql(mark: &str, assigned_only: bool) -> String {
    let assigned = if assigned_only {
        "AND EXISTS (SELECT 1 FROM assignments a WHERE a.key_id = k.id
                        AND a.sync_status <> 'expired')"
    } else {
        ""
    };
    format!(
        "SELECT k.id, k.name, k.fingerprint, k.owner, k.expires_at,
                (SELECT COUNT(*) FROM assignments a WHERE a.key_id = k.id
                    AND a.sync_status <> 'expired') AS platforms
         FROM keys k
         WHERE k.expires_at IS NOT NULL AND k.expires_at > $1 AND k.expires_at <= $2
           AND (k.{mark} IS NULL OR k.{mark} <> k.expires_at) {assigned}
         ORDER BY k.id"
    )
}

/// Assignments whose `expiry-time` is in `(after, until]` with `mark` not yet set to it and not
/// yet removed as expired.
fn due_assignments_sql(mark: &str) -> String {
    format!(
        "SELECT a.key_id, a.platform_id, p.name AS platform_name, k.name, k.fingerprint,
                k.owner, a.expires_at
         FROM assignments a JOIN keys k ON k.id = a.key_id JOIN platforms p ON p.id = a.platform_id
         WHERE a.expires_at IS NOT NULL AND a.expires_at > $1 AND a.expires_at <= $2
           AND (a.{mark} IS NULL OR a.{mark} <> a.expires_at) AND a.sync_status <> 'expired'
         ORDER BY a.key_id, a.platform_id"
    )
}

/// The item of a due key row (`due_keys_sql`), on `platforms` platforms.
fn key_item(row: &sqlx::any::AnyRow, platforms: u64) -> StoreResult<ExpiryItem> {
    Ok(ExpiryItem {
        key_id: parse_uuid(row.try_get("id")?)?,
        key_name: row.try_get("name")?,
        fingerprint: row.try_get("fingerprint")?,
        owner: row.try_get("owner")?,
        platform_id: None,
        platform_name: None,
        expires_at: parse_ts(row.try_get("expires_at")?)?,
        platforms,
    })
}

/// The item of a due assignment row (`due_assignments_sql`).
fn assignment_item(row: &sqlx::any::AnyRow) -> StoreResult<ExpiryItem> {
    Ok(ExpiryItem {
        key_id: parse_uuid(row.try_get("key_id")?)?,
        key_name: row.try_get("name")?,
        fingerprint: row.try_get("fingerprint")?,
        owner: row.try_get("owner")?,
        platform_id: Some(parse_uuid(row.try_get("platform_id")?)?),
        platform_name: Some(row.try_get("platform_name")?),
        expires_at: parse_ts(row.try_get("expires_at")?)?,
        platforms: 1,
    })
}

/// Set `column` (`expired_mark` or `expiring_mark`) of the row of `table` (`keys`, by id;
/// `assignments`, by key id and platform id: `row_key`) to its `expires_at`, if that is still
/// `expires_at` and the mark is not set to it yet: `true` when this call set it (a
/// compare-and-swap, so of concurrent callers one wins).
async fn mark(
    conn: &mut sqlx::AnyConnection,
    table: &str,
    column: &str,
    row_key: &[&str],
    expires_at: &str,
) -> StoreResult<bool> {
    let by = if table == "keys" {
        "id = $2"
    } else {
        "key_id = $2 AND platform_id = $3"
    };
    let mut query = sqlx::query(sql(format!(
        "UPDATE {table} SET {column} = expires_at
         WHERE expires_at = $1 AND {by} AND ({column} IS NULL OR {column} <> expires_at)"
    )))
    .bind(expires_at.to_string());
    for part in row_key {
        query = query.bind(part.to_string());
    }
    Ok(query.execute(&mut *conn).await?.rows_affected() == 1)
}

/// The earliest timestamp text: every stored timestamp sorts after it.
const BEGINNING: &str = "0000-01-01T00:00:00.000000Z";

impl Store {
    /// Give assignments written before `assignments.expires_at` existed (schema 10 and older)
    /// the expiry of their `expiry-time` option. Touches only rows with the option and no
    /// expiry, so after the first start it reads nothing.
    pub(super) async fn backfill_assignment_expiry(&self) -> StoreResult<()> {
        let rows = sqlx::query(
            "SELECT platform_id, key_id, options FROM assignments
             WHERE expires_at IS NULL AND options LIKE '%expiry-time=%'",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let options: String = row.try_get("options")?;
            let Some(at) = crate::authorized_keys::KeyOptions::parse(&options)
                .ok()
                .and_then(|parsed| parsed.expires_at())
            else {
                continue;
            };
            sqlx::query(
                "UPDATE assignments SET expires_at = $3
                 WHERE platform_id = $1 AND key_id = $2 AND expires_at IS NULL",
            )
            .bind(row.try_get::<String, _>("platform_id")?)
            .bind(row.try_get::<String, _>("key_id")?)
            .bind(ts(at))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Queue the removal of everything whose expiry passed by `now` and that is still on a
    /// platform: in one transaction, mark each expired key (`expired_mark`) and assignment,
    /// create one `sync` task (`created_by` `expiry`) over every platform concerned, and audit
    /// `key.expired` for each. An expiry is handled once (the marks are compared and set like a
    /// compare-and-swap, so concurrent callers never both handle one); a changed expiry is
    /// handled again when it passes.
    pub async fn enforce_expiry(&self, now: DateTime<Utc>) -> StoreResult<ExpiryOutcome> {
        let mut tx = self.write_tx().await?;
        let until = ts(now);
        let mut expired = Vec::new();
        let mut platforms: BTreeMap<Uuid, String> = BTreeMap::new();
        let keys = sqlx::query(sql(due_keys_sql("expired_mark", true)))
            .bind(BEGINNING)
            .bind(&until)
            .fetch_all(&mut *tx)
            .await?;
        for row in &keys {
            let key_id: String = row.try_get("id")?;
            let expires_at: String = row.try_get("expires_at")?;
            if !mark(&mut tx, "keys", "expired_mark", &[&key_id], &expires_at).await? {
                continue;
            }
            let on: Vec<(String, String)> = sqlx::query_as(
                "SELECT p.id, p.name FROM assignments a JOIN platforms p ON p.id = a.platform_id
                 WHERE a.key_id = $1 AND a.sync_status <> 'expired'",
            )
            .bind(&key_id)
            .fetch_all(&mut *tx)
            .await?;
            for (id, name) in &on {
                platforms.insert(parse_uuid(id)?, name.clone());
            }
            expired.push(key_item(row, on.len() as u64)?);
        }
        let assignments = sqlx::query(sql(due_assignments_sql("expired_mark")))
            .bind(BEGINNING)
            .bind(&until)
            .fetch_all(&mut *tx)
            .await?;
        for row in &assignments {
            let key_id: String = row.try_get("key_id")?;
            let platform_id: String = row.try_get("platform_id")?;
            let expires_at: String = row.try_get("expires_at")?;
            let row_key = [key_id.as_str(), platform_id.as_str()];
            if !mark(
                &mut tx,
                "assignments",
                "expired_mark",
                &row_key,
                &expires_at,
            )
            .await?
            {
                continue;
            }
            platforms.insert(parse_uuid(&platform_id)?, row.try_get("platform_name")?);
            expired.push(assignment_item(row)?);
        }
        if expired.is_empty() {
            tx.rollback().await?;
            return Ok(ExpiryOutcome::default());
        }
        let actor = expiry_actor();
        let mut targets: Vec<(Uuid, String)> = platforms.into_iter().collect();
        if targets.len() > MAX_EXPIRY_PLATFORMS {
            tracing::warn!(
                platforms = targets.len(),
                "an expiry reaches more platforms than one task holds; the rest wait for their \
                 next sync"
            );
            targets.truncate(MAX_EXPIRY_PLATFORMS);
        }
        let task_id = if targets.is_empty() {
            None
        } else {
            let task = NewTask {
                kind: TaskKind::Sync,
                platforms: targets,
                params: TaskParams::default(),
                concurrency: EXPIRY_CONCURRENCY,
            };
            Some(insert_task(&mut tx, self.chain_key(), &actor, task).await?)
        };
        for item in &expired {
            audit(
                &mut tx,
                self.chain_key(),
                NewAudit {
                    actor: &actor,
                    action: "key.expired",
                    target: Some(format!("key:{}", item.key_id)),
                    outcome: "success",
                    details: json!({
                        "name": item.key_name, "fingerprint": item.fingerprint,
                        "expires_at": item.expires_at, "platform_id": item.platform_id,
                        "platform_name": item.platform_name, "platforms": item.platforms,
                        "task_id": task_id,
                    }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ExpiryOutcome { task_id, expired })
    }

    /// Keys and assignments whose expiry falls in `(now, now + within]` and that were not
    /// announced yet for that expiry: marked (`expiring_mark`) and returned, each once.
    pub async fn take_expiring(
        &self,
        now: DateTime<Utc>,
        within: chrono::Duration,
    ) -> StoreResult<Vec<ExpiryItem>> {
        let mut tx = self.write_tx().await?;
        let (after, until) = (ts(now), ts(now + within));
        let mut out = Vec::new();
        for row in sqlx::query(sql(due_keys_sql("expiring_mark", false)))
            .bind(&after)
            .bind(&until)
            .fetch_all(&mut *tx)
            .await?
        {
            let key_id: String = row.try_get("id")?;
            let expires_at: String = row.try_get("expires_at")?;
            if mark(&mut tx, "keys", "expiring_mark", &[&key_id], &expires_at).await? {
                let platforms = row.try_get::<i64, _>("platforms")?.max(0) as u64;
                out.push(key_item(&row, platforms)?);
            }
        }
        for row in sqlx::query(sql(due_assignments_sql("expiring_mark")))
            .bind(&after)
            .bind(&until)
            .fetch_all(&mut *tx)
            .await?
        {
            let key_id: String = row.try_get("key_id")?;
            let platform_id: String = row.try_get("platform_id")?;
            let expires_at: String = row.try_get("expires_at")?;
            let row_key = [key_id.as_str(), platform_id.as_str()];
            if mark(
                &mut tx,
                "assignments",
                "expiring_mark",
                &row_key,
                &expires_at,
            )
            .await?
            {
                out.push(assignment_item(&row)?);
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Keys expiring in `(now, now + within]`, or with an assignment whose `expiry-time` does,
    /// soonest first, at most `limit` (`GET /api/keys?expiring_within_days=N`).
    pub async fn expiring_keys(
        &self,
        now: DateTime<Utc>,
        within: chrono::Duration,
        limit: u32,
    ) -> StoreResult<Vec<Key>> {
        let rows = sqlx::query(sql(format!(
            "SELECT {KEY_COLUMNS} FROM (
                 SELECT keys.*, (SELECT MIN(a.expires_at) FROM assignments a
                                 WHERE a.key_id = keys.id AND a.expires_at > $1
                                   AND a.expires_at <= $2) AS assignment_expiry
                 FROM keys) k
             WHERE (k.expires_at > $1 AND k.expires_at <= $2) OR k.assignment_expiry IS NOT NULL
             ORDER BY CASE WHEN k.expires_at > $1 AND k.expires_at <= $2
                           AND (k.assignment_expiry IS NULL OR k.expires_at < k.assignment_expiry)
                      THEN k.expires_at ELSE k.assignment_expiry END, k.id
             LIMIT $3"
        )))
        .bind(ts(now))
        .bind(ts(now + within))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }
}
