//! `GET /api/audit`: the audit log, newest first, filtered by actor, action, target (exactly or
//! by substring) and time; JSON pages, or every matching event as CSV with `?format=csv`
//! (streamed page by page, so memory does not grow with the log).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::csv_download::{CsvPage, cell, download, wants_csv};
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiQuery, Paging};
use super::keys::substring;
use crate::store::{AuditEvent, AuditFilter, Cursor, Page, PageRequest, Store};

/// Events per database page while streaming CSV.
const CSV_PAGE: u32 = 500;

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 500 (default 50); JSON only.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page; JSON only.
    pub cursor: Option<String>,
    /// Username (exact), or `system`.
    pub actor: Option<String>,
    /// Dotted action name (exact), e.g. `key.create`.
    pub action: Option<String>,
    /// Target (exact), e.g. `platform:<uuid>`.
    pub target: Option<String>,
    /// Earliest time, inclusive (RFC 3339, e.g. `2026-11-29T10:00:00Z`).
    pub since: Option<String>,
    /// Latest time, exclusive (RFC 3339); after `since`.
    pub until: Option<String>,
    /// Actor contains this text (case-insensitive; at most 200 characters).
    pub actor_contains: Option<String>,
    /// Action contains this text (case-insensitive), e.g. `key.` for every key action.
    pub action_contains: Option<String>,
    /// Target contains this text (case-insensitive), or names a platform, key, user or schedule
    /// whose current name contains it.
    pub target_contains: Option<String>,
    /// `json` (default, paged) or `csv` (every matching event, not paged).
    pub format: Option<String>,
}

/// A checked [`AuditQuery`].
#[derive(Debug, Clone)]
pub struct AuditRequest {
    pub filter: AuditFilter,
    /// `format=csv`: every matching event, not paged.
    pub csv: bool,
    pub page: PageRequest,
}

/// An RFC 3339 instant (e.g. `2026-11-29T10:00:00Z`) from query field `field`; empty = no bound.
fn instant(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
    let text = value.filter(|s| !s.is_empty())?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errors.add(
                field,
                format!("must be an RFC 3339 time like 2026-11-29T10:00:00Z ({e})"),
            );
            None
        }
    }
}

impl AuditQuery {
    /// Check every parameter; each bad one is named in one 422.
    pub fn parse(self) -> Result<AuditRequest, ApiError> {
        let mut errors = Errors::default();
        let since = instant(&mut errors, "since", self.since.as_deref());
        let until = instant(&mut errors, "until", self.until.as_deref());
        if let (Some(since), Some(until)) = (since, until)
            && until < since
        {
            // `until` is exclusive: equal bounds are an empty range, a reversed one a mistake.
            errors.add("until", "must not be before since");
        }
        let filter = AuditFilter {
            actor: self.actor.filter(|s| !s.is_empty()),
            action: self.action.filter(|s| !s.is_empty()),
            target: self.target.filter(|s| !s.is_empty()),
            since,
            until,
            actor_contains: substring(
                &mut errors,
                "actor_contains",
                self.actor_contains.as_deref(),
            ),
            action_contains: substring(
                &mut errors,
                "action_contains",
                self.action_contains.as_deref(),
            ),
            target_contains: substring(
                &mut errors,
                "target_contains",
                self.target_contains.as_deref(),
            ),
        };
        let paged = self.limit.is_some() || self.cursor.is_some();
        let csv = wants_csv(&mut errors, self.format.as_deref(), paged);
        errors.finish()?;
        let page = Paging {
            limit: self.limit,
            cursor: self.cursor,
        }
        .page()?;
        Ok(AuditRequest { filter, csv, page })
    }
}

/// `GET /api/audit?actor=&action=&target=&actor_contains=&action_contains=&target_contains=
/// &since=&until=&format=&limit=&cursor=`: `actor`, `action` and `target` match exactly, the
/// `*_contains` ones by case-insensitive substring; `since` (inclusive) and `until` (exclusive)
/// are RFC 3339 times. A bad value is a 422 naming its field.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of audit events, newest first (JSON), or every matching event (`format=csv`, `text/csv`: created_at, actor, action, target, target_name, outcome, details)", body = Page<AuditEvent>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let request = query.parse()?;
    if request.csv {
        return Ok(csv_response(state.store.clone(), request.filter));
    }
    Ok(Json(
        state
            .store
            .list_audit(&request.filter, &request.page)
            .await?,
    )
    .into_response())
}

/// The CSV header; `target_name` is the current name of what `target` names (empty when it has
/// none or was deleted).
const CSV_HEADER: [&str; 7] = [
    "created_at",
    "actor",
    "action",
    "target",
    "target_name",
    "outcome",
    "details",
];

/// Every event matching `filter`, newest first, as `text/csv`: one database page at a time,
/// each page's target names read in one query per kind.
fn csv_response(store: Store, filter: AuditFilter) -> Response {
    download(
        "testum-audit.csv",
        "audit log",
        &CSV_HEADER,
        None,
        move |cursor: Option<Cursor>| {
            let store = store.clone();
            let filter = filter.clone();
            async move { csv_page(&store, &filter, cursor).await }
        },
    )
}

async fn csv_page(
    store: &Store,
    filter: &AuditFilter,
    cursor: Option<Cursor>,
) -> Result<CsvPage<Option<Cursor>>, crate::store::StoreError> {
    let request = PageRequest {
        limit: CSV_PAGE,
        cursor,
    };
    let page = store.list_audit(filter, &request).await?;
    let names = store
        .audit_target_names(page.items.iter().filter_map(|e| e.target.as_deref()))
        .await?;
    let rows = page
        .items
        .iter()
        .map(|e| {
            let target = e.target.clone().unwrap_or_default();
            vec![
                crate::store::ts(e.created_at),
                cell(&e.actor),
                cell(&e.action),
                cell(&target),
                names.get(&target).map(|n| cell(n)).unwrap_or_default(),
                cell(&e.outcome),
                cell(&e.details.to_string()),
            ]
        })
        .collect();
    let after = page
        .next_cursor
        .as_deref()
        .and_then(Cursor::decode)
        .map(Some);
    Ok((rows, after))
}
