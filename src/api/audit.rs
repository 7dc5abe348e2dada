//! `GET /api/audit`: the audit log, newest first, filtered by actor, action, target and time.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiQuery, Paging};
use crate::store::{AuditEvent, AuditFilter, Page};

/// Query of `GET /api/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Username (exact), or `system`.
    actor: Option<String>,
    /// Dotted action name (exact), e.g. `key.create`.
    action: Option<String>,
    /// Target (exact), e.g. `platform:<uuid>`.
    target: Option<String>,
    /// Earliest time, inclusive (RFC 3339, e.g. `2026-11-29T10:00:00Z`).
    since: Option<String>,
    /// Latest time, exclusive (RFC 3339).
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
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events, newest first", body = Page<AuditEvent>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
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
