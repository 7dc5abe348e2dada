//! The key pages: `GET /ui/keys` (search, owner filter, expiry badges, where each key is
//! assigned) and `GET /ui/keys/{id}` (where the key is, revoke everywhere, replace, offboard).

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::pages::{PageResult, page, session_or_redirect, signed_in};
use crate::api::error::ApiError;
use crate::api::extract::{ApiPath, ApiQuery, MAX_LIMIT};
use crate::api::scope::visible_platforms;
use crate::api::{AppState, keys as keys_api};
use crate::store::Key;

/// A key expiring within this many days carries the "expiring soon" badge.
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// Owners offered as suggestions in the keys page's owner filter.
const OWNER_CHOICES: u32 = 500;

/// A key's expiry badge at `now`: `expired`, `soon` (within [`EXPIRING_SOON_DAYS`]) or `None`.
pub fn expiry_badge(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<&'static str> {
    let at = expires_at?;
    if at <= now {
        Some("expired")
    } else if at <= now + chrono::Duration::days(EXPIRING_SOON_DAYS) {
        Some("soon")
    } else {
        None
    }
}

/// The expiry badge of each of `keys`, by id (keys without one are absent).
fn badges<'a>(keys: impl IntoIterator<Item = &'a Key>) -> HashMap<Uuid, &'static str> {
    let now = Utc::now();
    keys.into_iter()
        .filter_map(|k| Some((k.id, expiry_badge(k.expires_at, now)?)))
        .collect()
}

/// Query of `GET /ui/keys`: the search text, the owner and the page's cursor.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct KeysPageQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    cursor: String,
}

/// `GET /ui/keys?q=&owner=&cursor=`: keys matching the search (name, comment or fingerprint)
/// and owner, newest first, with expiry badges and where each is assigned. A filter the API
/// refuses shows its message under its field.
pub async fn keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<KeysPageQuery>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let some = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let request = keys_api::KeyListQuery {
        cursor: some(&query.cursor),
        ..keys_api::KeyListQuery::first_page(50, some(&query.q), some(&query.owner))
    };
    let mut errors: HashMap<String, String> = HashMap::new();
    let list = match keys_api::list(State(state.clone()), ApiQuery(request)).await {
        Ok(Json(list)) => list,
        Err(e) if !e.errors.is_empty() => {
            for field in e.errors {
                errors.insert(field.field, field.message);
            }
            crate::store::Page {
                items: Vec::new(),
                next_cursor: None,
            }
        }
        Err(e) => return Err(e.into()),
    };
    let ids: Vec<Uuid> = list.items.iter().map(|k| k.id).collect();
    let visible = visible_platforms(&state, &session.user).await?;
    let mut placements = state.store.key_placements(&ids).await?;
    for places in placements.values_mut() {
        places.retain(|p| visible.contains(p.platform_id));
    }
    let owners = state.store.key_owners(OWNER_CHOICES).await?;
    let data = json!({
        "keys": list.items, "next_cursor": list.next_cursor, "placements": placements,
        "expiry": badges(&list.items), "soon_days": EXPIRING_SOON_DAYS, "filter": query,
        "owners": owners, "errors": errors,
    });
    page("keys.html", &session, "keys", data)
}

/// `GET /ui/keys/{id}`: one key, where it is (assignments counted by sync status, platforms
/// whose scan found it unassigned), **Revoke everywhere**, **Replace with…** (keys of the same
/// owner) and, when it has an owner, the owner's keys and the offboarding action.
pub async fn key(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let Json(key) = keys_api::get(State(state.clone()), ApiPath(id)).await?;
    let visible = visible_platforms(&state, &session.user).await?;
    let mut placements = state
        .store
        .key_placements(&[key.id])
        .await?
        .remove(&key.id)
        .unwrap_or_default();
    placements.retain(|p| visible.contains(p.platform_id));
    let mut whereabouts = state
        .store
        .key_whereabouts(key.id, &key.fingerprint)
        .await?;
    whereabouts
        .unassigned
        .retain(|p| visible.contains(p.platform_id));
    // Where a revoke everywhere goes: every assignment (also one still being revoked).
    let assigned: u64 = whereabouts.by_status.values().sum();
    // A replacement keeps the owner (the API refuses another one): offer only those keys.
    let same_owner = same_owner_keys(&state, key.owner.clone()).await?;
    let others: Vec<&Key> = same_owner.iter().filter(|k| k.id != key.id).collect();
    let owned: Vec<&Key> = match &key.owner {
        Some(_) => same_owner.iter().collect(),
        None => Vec::new(),
    };
    let data = json!({
        "key": key, "placements": placements, "owned": owned, "others": others,
        "where": whereabouts, "assigned": assigned,
        "expiry": expiry_badge(key.expires_at, Utc::now()), "soon_days": EXPIRING_SOON_DAYS,
    });
    page("key.html", &session, "keys", data)
}

/// The keys of `owner` (up to the largest page); for `None`, the unowned keys among the newest
/// page (the list has no "no owner" filter).
async fn same_owner_keys(state: &AppState, owner: Option<String>) -> Result<Vec<Key>, ApiError> {
    let query = keys_api::KeyListQuery::first_page(MAX_LIMIT, None, owner.clone());
    let Json(list) = keys_api::list(State(state.clone()), ApiQuery(query)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|k| k.owner == owner)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_say_expired_and_expiring_within_fourteen_days() {
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        assert_eq!(expiry_badge(None, now), None);
        assert_eq!(expiry_badge(Some(now - day), now), Some("expired"));
        assert_eq!(expiry_badge(Some(now), now), Some("expired"));
        assert_eq!(expiry_badge(Some(now + day * 14), now), Some("soon"));
        assert_eq!(expiry_badge(Some(now + day * 15), now), None);
    }
}
