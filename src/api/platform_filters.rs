//! The filters of a platform list (`GET /api/platforms` and the platforms page) read into one
//! selector: the search `q`, `state`, `host_key` and the user's `selector`, and-ed together. The
//! composed selector's text picks the same set again anywhere a selector is taken (a task's
//! `selector`, `GET /api/platforms/match`).

use super::error::Errors;
use super::extract::page_limit;
use super::platforms::{ListQuery, selector_field};
use crate::selector::{HostKeyStatus, Selector};
use crate::store::{Cursor, PlatformSort, PlatformState, SortCursor};

/// Longest search text, in characters.
pub const MAX_SEARCH: usize = 200;

/// A platform list's query, checked: what to list and in which order.
#[derive(Debug, Clone)]
pub struct ListFilters {
    /// Every filter and-ed; `None` without any filter (every platform).
    pub selector: Option<Selector>,
    pub sort: PlatformSort,
    /// Page size, 1 to 500.
    pub limit: u32,
    /// Where the page starts, for the sort's kind of cursor.
    pub cursor: Option<PageStart>,
}

/// A checked `cursor`: newest-first lists and sorted lists have their own.
#[derive(Debug, Clone)]
pub enum PageStart {
    Newest(Cursor),
    Sorted(SortCursor),
}

/// Check `query`: each bad field (`q`, `state`, `host_key`, `selector`, `sort`, `limit`,
/// `cursor`) is added to `errors` under its name, and `None` returned when any was bad.
pub fn list_filters(errors: &mut Errors, query: &ListQuery) -> Option<ListFilters> {
    let before = errors.len();
    let search = match query.q.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        q if q.chars().count() > MAX_SEARCH => {
            errors.add("q", format!("is at most {MAX_SEARCH} characters"));
            None
        }
        q if q.chars().any(char::is_control) => {
            errors.add("q", "must not hold control characters");
            None
        }
        q => Selector::search(q),
    };
    let state = word::<PlatformState>(errors, "state", query.state.as_deref()).map(Selector::state);
    let host_key = word::<HostKeyStatus>(errors, "host_key", query.host_key.as_deref())
        .map(Selector::host_key);
    let own = selector_field(errors, "selector", query.selector.as_deref());
    let sort =
        word::<PlatformSort>(errors, "sort", query.sort.as_deref()).unwrap_or(PlatformSort::Newest);
    let limit = errors.check("limit", page_limit(query.limit.as_deref()));
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => {
            let start = match sort {
                PlatformSort::Newest => Cursor::decode(text).map(PageStart::Newest),
                sorted => SortCursor::decode(sorted, text).map(PageStart::Sorted),
            };
            if start.is_none() {
                errors.add(
                    "cursor",
                    "is not a cursor returned by this list in this order",
                );
            }
            start
        }
    };
    if errors.len() > before {
        return None;
    }
    let parts: Vec<Selector> = [search, state, host_key, own]
        .into_iter()
        .flatten()
        .collect();
    Some(ListFilters {
        selector: (!parts.is_empty()).then(|| Selector::all_of(parts)),
        sort,
        limit: limit?,
        cursor,
    })
}

/// A word-valued query field (`state`, `host_key`, `sort`); `None` when absent or empty, and
/// when it is not one of the words (then an error names `field` and the words).
fn word<T>(errors: &mut Errors, field: &str, text: Option<&str>) -> Option<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match text.filter(|t| !t.is_empty()) {
        Some(text) => errors.check(field, text.parse::<T>()),
        None => None,
    }
}
