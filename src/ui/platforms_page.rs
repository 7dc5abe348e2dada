//! `GET /ui/platforms`: the platform list at fleet scale. Search, state, host-key status and the
//! user's selector are one GET form (so a filtered view is a URL to bookmark or share), composed
//! into one selector the page shows and the task forms can target as a whole ("all N
//! matching"); per platform one cell sums up the last sync, reachability and host key.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::pages::{PageResult, page, signed_in};
use crate::api::AppState;
use crate::api::error::{ApiError, Errors};
use crate::api::extract::ApiQuery;
use crate::api::platform_filters::list_filters;
use crate::api::platforms::{ListQuery, list_page};
use crate::api::scope::narrowed;
use crate::selector::{HostKeyStatus, Selector};
use crate::store::{Page, PlatformSort, PlatformState, SYNC_KINDS};

/// Page sizes offered (the API takes any from 1 to 500).
const PAGE_SIZES: &[u32] = &[25, 50, 100, 200, 500];

/// The filters as the next-page link repeats them (empty ones left out).
#[derive(Serialize)]
struct NextPage<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    q: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    state: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    host_key: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    selector: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    sort: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    limit: &'a str,
    cursor: &'a str,
}

/// `GET /ui/platforms?q=&state=&host_key=&selector=&sort=&limit=&cursor=`: a page of platforms
/// (the same checks and order as `GET /api/platforms`), the composed selector and how many
/// platforms it matches in all, and the forms that act on the ticked ones or on all of them.
/// A bad field shows its error on the page (with no platforms), not an error page.
pub async fn platforms(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> PageResult {
    let session = match signed_in(&state, &headers).await {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let mut errors = Errors::default();
    // A user whose grants cover part of the fleet sees that part: the page, its count and the
    // selector "all N matching" acts on are narrowed to it.
    let filters = list_filters(&mut errors, &query).map(|mut filters| {
        filters.selector = narrowed(&session.user, filters.selector);
        filters
    });
    // Field errors by field, shown next to their inputs.
    let problems: serde_json::Map<String, serde_json::Value> = errors
        .finish()
        .err()
        .map(|e: ApiError| e.errors)
        .unwrap_or_default()
        .into_iter()
        .map(|f| (f.field, json!(f.message)))
        .collect();
    let (list, matching, count) = match &filters {
        Some(filters) => {
            let (list, known) = list_page(&state, filters).await?;
            // The same count `GET /api/platforms/match` gives for the composed selector; a
            // sorted list has already read every matching platform and counted them.
            let count = match known {
                Some(count) => count,
                None => {
                    let all = Selector::all();
                    let selector = filters.selector.as_ref().unwrap_or(&all);
                    state.store.select_platforms(selector).await?.len()
                }
            };
            let text = filters
                .selector
                .as_ref()
                .map_or_else(|| "all".to_string(), ToString::to_string);
            (list, text, count)
        }
        None => (
            Page {
                items: Vec::new(),
                next_cursor: None,
            },
            String::new(),
            0,
        ),
    };
    let ids: Vec<Uuid> = list.items.iter().map(|p| p.id).collect();
    let last = state.store.platform_last_results(&ids, SYNC_KINDS).await?;
    let contact = state.store.platform_scan_errors(&ids).await?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let (q, wanted, host_key, selector, sort, limit) = (
        text(&query.q),
        text(&query.state),
        text(&query.host_key),
        text(&query.selector),
        text(&query.sort),
        text(&query.limit),
    );
    let next_href = match &list.next_cursor {
        Some(cursor) => {
            let next = NextPage {
                q: &q,
                state: &wanted,
                host_key: &host_key,
                selector: &selector,
                sort: &sort,
                limit: &limit,
                cursor,
            };
            serde_urlencoded::to_string(&next)
                .ok()
                .map(|query| format!("/ui/platforms?{query}"))
        }
        None => None,
    };
    let filtered = [&q, &wanted, &host_key, &selector]
        .iter()
        .any(|v| !v.trim().is_empty());
    let data = json!({
        "platforms": list.items, "next_href": next_href, "last": last, "contact": contact,
        "problems": problems, "matching": matching, "count": count,
        "filtered": filtered, "q": q, "state": wanted, "states": PlatformState::ALL,
        "host_key": host_key, "host_keys": HostKeyStatus::ALL, "selector": selector,
        "sort": sort, "sorts": PlatformSort::ALL, "limit": limit, "page_sizes": PAGE_SIZES,
    });
    page("platforms.html", &session, "platforms", data)
}
