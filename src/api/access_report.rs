//! `GET /api/access`: the access report, who can log in where. One row per key entry that the
//! latest scan of each platform found in its authorized_keys (platform, login user, path, line,
//! fingerprint), joined with the registry (key name and owner, or `unknown`). JSON pages, or the
//! whole filtered report as CSV with `?format=csv` (streamed page by page, so memory stays flat at
//! 10 000 hosts).
//!
//! "Where can Alice log in": `?owner=alice`. "Which hosts have a key we do not know":
//! `?unknown=true`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::csv_download::cell;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiQuery, DEFAULT_LIMIT, page_limit};
use crate::store::{AccessCursor, AccessEntry, AccessFilter, Page, Store};

/// Rows per database page while streaming CSV.
const CSV_PAGE: u32 = 500;

/// Query of `GET /api/access`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Only this platform (its id).
    #[param(value_type = Option<Uuid>)]
    pub platform_id: Option<String>,
    /// Only platforms with this tag.
    pub tag: Option<String>,
    /// Only this registered key (its id).
    #[param(value_type = Option<Uuid>)]
    pub key_id: Option<String>,
    /// Only registered keys of this owner (exact match).
    pub owner: Option<String>,
    /// `true`: only lines inside testum's block; `false`: only lines outside it.
    #[param(value_type = Option<bool>)]
    pub managed: Option<String>,
    /// `true`: only keys not in the registry; `false`: only registered keys.
    #[param(value_type = Option<bool>)]
    pub unknown: Option<String>,
    /// `json` (default, paged) or `csv` (the whole report, not paged).
    pub format: Option<String>,
    /// Page size, 1 to 500 (default 50); JSON only.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page; JSON only.
    pub cursor: Option<String>,
}

fn flag(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.add(field, "must be true or false");
            None
        }
    }
}

fn id(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<Uuid> {
    match value {
        None | Some("") => None,
        Some(text) => {
            let parsed = Uuid::parse_str(text).ok();
            if parsed.is_none() {
                errors.add(field, "is not a UUID");
            }
            parsed
        }
    }
}

/// `GET /api/access`: who can log in where, from the platforms' latest scans (of the platforms
/// the caller may see).
#[utoipa::path(
    get,
    path = "/api/access",
    tag = "access",
    params(AccessQuery),
    responses(
        (status = 200, description = "A page of access entries ordered by platform name and line (JSON), or the whole filtered report (`format=csv`, `text/csv`)", body = Page<AccessEntry>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn report(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(query): ApiQuery<AccessQuery>,
) -> Result<Response, ApiError> {
    let mut request = query.parse()?;
    let visible = super::scope::visible_platforms(&state, &user).await?;
    request.filter.platforms = visible.ids().map(<[_]>::to_vec);
    if request.csv {
        return Ok(csv_response(state.store.clone(), request.filter));
    }
    let page = state
        .store
        .access_report(&request.filter, request.limit, request.cursor.as_ref())
        .await?;
    Ok(Json(page).into_response())
}

/// A checked [`AccessQuery`].
#[derive(Debug, Clone)]
pub struct AccessRequest {
    pub filter: AccessFilter,
    /// `format=csv`: the whole report, not paged.
    pub csv: bool,
    /// Page size (JSON only).
    pub limit: u32,
    pub cursor: Option<AccessCursor>,
}

impl AccessQuery {
    /// Check every parameter; a bad one → 422 naming it.
    pub fn parse(self) -> Result<AccessRequest, ApiError> {
        let mut errors = Errors::default();
        let filter = AccessFilter {
            platform_id: id(&mut errors, "platform_id", self.platform_id.as_deref()),
            tag: self.tag.filter(|t| !t.is_empty()),
            key_id: id(&mut errors, "key_id", self.key_id.as_deref()),
            owner: self.owner.filter(|o| !o.is_empty()),
            managed: flag(&mut errors, "managed", self.managed.as_deref()),
            unknown: flag(&mut errors, "unknown", self.unknown.as_deref()),
            platforms: None,
        };
        let limit = errors
            .check("limit", page_limit(self.limit.as_deref()))
            .unwrap_or(DEFAULT_LIMIT);
        let cursor = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(text) => {
                let cursor = AccessCursor::decode(text);
                if cursor.is_none() {
                    errors.add("cursor", "is not a cursor returned by this list");
                }
                cursor
            }
        };
        let paged = self.limit.is_some() || cursor.is_some();
        let csv = super::csv_download::wants_csv(&mut errors, self.format.as_deref(), paged);
        errors.finish()?;
        Ok(AccessRequest {
            filter,
            csv,
            limit,
            cursor,
        })
    }
}

/// The CSV header; one column per [`AccessEntry`] field.
const CSV_HEADER: [&str; 15] = [
    "platform_id",
    "platform_name",
    "login_user",
    "authorized_keys_path",
    "line",
    "fingerprint",
    "key_type",
    "bits",
    "key_id",
    "key_name",
    "owner",
    "managed",
    "options",
    "comment",
    "scanned_at",
];

fn csv_row(entry: &AccessEntry) -> Vec<String> {
    vec![
        entry.platform_id.to_string(),
        cell(&entry.platform_name),
        cell(&entry.login_user),
        cell(&entry.authorized_keys_path),
        entry.line.to_string(),
        entry.fingerprint.clone(),
        cell(&entry.key_type),
        entry.bits.map(|b| b.to_string()).unwrap_or_default(),
        entry.key_id.map(|id| id.to_string()).unwrap_or_default(),
        cell(&entry.key_name),
        entry.owner.as_deref().map(cell).unwrap_or_default(),
        entry.managed.to_string(),
        entry.options.as_deref().map(cell).unwrap_or_default(),
        entry.comment.as_deref().map(cell).unwrap_or_default(),
        crate::store::ts(entry.scanned_at),
    ]
}

/// The whole filtered report as `text/csv`, read and sent one database page at a time.
fn csv_response(store: Store, filter: AccessFilter) -> Response {
    super::csv_download::download(
        "testum-access.csv",
        "access report",
        &CSV_HEADER,
        None,
        move |cursor: Option<AccessCursor>| {
            let store = store.clone();
            let filter = filter.clone();
            async move {
                let page = store
                    .access_report(&filter, CSV_PAGE, cursor.as_ref())
                    .await?;
                let rows = page.items.iter().map(csv_row).collect();
                let after = page
                    .next_cursor
                    .as_deref()
                    .and_then(AccessCursor::decode)
                    .map(Some);
                Ok((rows, after))
            }
        },
    )
}
