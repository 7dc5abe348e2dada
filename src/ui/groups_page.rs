//! `GET /ui/groups`: groups and grants, for fleet-wide admins (403 for anyone else). The page
//! lists every group with its members and every grant; its forms call `/api/groups` and
//! `/api/grants` (the same checks, audit and errors as the API).

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::json;

use super::pages::{PageResult, page, require_fleet, session_or_redirect, signed_in};
use crate::api::AppState;
use crate::role::Role;
use crate::store::PageRequest;

/// Most groups, grants and users the page shows (the API pages through more).
const SHOWN: u32 = 500;

/// `GET /ui/groups`: groups with their members, grants with their subjects, and the forms to
/// create a group, set its members, give a grant (to a user or a group) and take one away.
pub async fn groups(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = session_or_redirect!(state, headers);
    require_fleet(&session, Role::Admin)?;
    let first = PageRequest {
        limit: SHOWN,
        cursor: None,
    };
    let mut groups = Vec::new();
    for group in state.store.list_groups(&first).await?.items {
        if let Some(detail) = state.store.get_group(group.id).await? {
            groups.push(detail);
        }
    }
    let grants = state.store.list_grants(None, &first).await?;
    let users = state.store.list_users(&first).await?;
    let data = json!({
        "groups": groups, "grants": grants.items, "more_grants": grants.next_cursor.is_some(),
        "users": users.items, "roles": Role::ALL.map(Role::as_str),
    });
    page("groups.html", &session, "groups", data)
}
