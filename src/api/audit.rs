//! `GET /api/audit`: the audit log, newest first, filtered by actor, action and target.

use axum::Json;
use axum::extract::State;
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
}

/// `GET /api/audit?actor=&action=&target=&limit=&cursor=`.
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
    };
    Ok(Json(state.store.list_audit(&filter, &page).await?))
}
