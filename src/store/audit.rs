//! The audit log: who did what to which target, when, and how it ended.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::{
    Actor, Cursor, Page, PageRequest, Store, StoreResult, now_ts, page_of, parse_ts, parse_uuid,
};

/// One audit event as listed by `GET /api/audit`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Username, or `system`.
    pub actor: String,
    /// Dotted action name, e.g. `key.create`, `task.finish`, `auth.login`.
    pub action: String,
    /// What the action was applied to, e.g. `key:<uuid>`, `platform:<uuid>`.
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Action-specific details (never secrets).
    pub details: serde_json::Value,
}

/// An audit event to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: Option<String>,
    pub outcome: &'a str,
    pub details: serde_json::Value,
}

/// Filters of `GET /api/audit`; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
}

/// Insert `event` on `conn` (usually inside the transaction of the change it records).
pub(crate) async fn insert(conn: &mut AnyConnection, event: NewAudit<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (id, created_at, actor, action, target, outcome, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(now_ts())
    .bind(&event.actor.name)
    .bind(event.action)
    .bind(event.target)
    .bind(event.outcome)
    .bind(event.details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete one row with `statement` (`DELETE ... WHERE id = $1 RETURNING <one text column>`) on
/// `conn` and record `action` on `<kind>:<id>` with `details` plus that column as
/// `details[detail]`, in the same transaction. [`super::StoreError::NotFound`] when no row
/// matched.
pub(crate) async fn delete_audited(
    conn: &mut AnyConnection,
    actor: &Actor,
    statement: &'static str,
    id: Uuid,
    action: &str,
    detail: &str,
    mut details: serde_json::Value,
) -> StoreResult<()> {
    let value: Option<String> = sqlx::query_scalar(statement)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let value = value.ok_or(super::StoreError::NotFound)?;
    let kind = action.split('.').next().unwrap_or(action);
    details[detail] = serde_json::Value::String(value);
    insert(
        conn,
        NewAudit {
            actor,
            action,
            target: Some(format!("{kind}:{id}")),
            outcome: "success",
            details,
        },
    )
    .await
}

impl Store {
    /// Record an event that is not part of another write (login, task finish, refused host key).
    pub async fn audit(&self, event: NewAudit<'_>) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        insert(&mut conn, event).await
    }

    /// Audit events, newest first.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let (after_ts, after_id) = cursor_parts(page.cursor.as_ref());
        let rows = sqlx::query(
            "SELECT id, created_at, actor, action, target, outcome, details FROM audit_events
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2)
               AND ($3 IS NULL OR target = $3)
               AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5))
             ORDER BY created_at DESC, id DESC LIMIT $6",
        )
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.target)
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(|row| {
                let details: String = row.try_get("details")?;
                Ok(AuditEvent {
                    id: parse_uuid(row.try_get("id")?)?,
                    created_at: parse_ts(row.try_get("created_at")?)?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    outcome: row.try_get("outcome")?,
                    details: serde_json::from_str(&details)
                        .unwrap_or(serde_json::Value::String(details)),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(events, page.limit, |e| Cursor {
            created_at: super::ts(e.created_at),
            id: e.id.to_string(),
        }))
    }
}

/// `(created_at, id)` bounds of a newest-first page, both `None` for the first page.
pub(crate) fn cursor_parts(cursor: Option<&Cursor>) -> (Option<String>, Option<String>) {
    match cursor {
        Some(c) => (Some(c.created_at.clone()), Some(c.id.clone())),
        None => (None, None),
    }
}
