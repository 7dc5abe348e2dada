//! `GET /api/audit`: the audit log, newest first, filtered by actor, action, target and time.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiQuery, Paging};
use crate::store::{AuditEvent, AuditFilter, Page};

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<String>,
    cursor: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// An RFC 3339 instant (e.g. `2026-11-29T10:00:00Z`) from query field `field`; empty = no bound.
fn instant(field: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| {
                ApiError::field(
                    field,
                    format!("must be an RFC 3339 time like 2026-11-29T10:00:00Z ({e})"),
                )
            }),
    }
}

/// `GET /api/audit?actor=&action=&target=&since=&until=&limit=&cursor=`: actor, action and
/// target match exactly; `since` (inclusive) and `until` (exclusive) are RFC 3339 times, 422
/// naming the field when unparsable.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let filter = AuditFilter {
        actor: query.actor.filter(|s| !s.is_empty()),
        action: query.action.filter(|s| !s.is_empty()),
        target: query.target.filter(|s| !s.is_empty()),
        since: instant("since", query.since)?,
        until: instant("until", query.until)?,
    };
    Ok(Json(state.store.list_audit(&filter, &page).await?))
}
