//! `GET /ui/account`: the signed-in user's own account.
//!
//! - Two-factor sign-in: set it up (QR code and the key to type by hand, then a code of the app
//!   to confirm; the recovery codes are shown once), or turn it off with a code or the password.
//!   An account of an OpenID provider is told that its provider asks the second factor instead.
//!   The script (`account.js`) does the steps through `/api/users/me/totp`. A user who must turn
//!   it on first is sent here by every other page, so this page alone does not hold such a user
//!   back.
//! - API tokens, the CLI's and scripts' credential (and the only one of a provider's users, who
//!   have no password for `testum login`): the user's own tokens that are not revoked, newest
//!   first (read with the store call of `GET /api/tokens`, limited to the caller even for an
//!   admin), a form making one with `POST /api/tokens` (its secret is shown once, by
//!   `account.js`), and a revoke button each (`DELETE /api/tokens/{id}`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use serde_json::json;

use super::pages::{PageResult, page};
use super::session::page_session;
use crate::api::AppState;
use crate::api::extract::MAX_LIMIT;
use crate::api::totp::status_of;
use crate::role::Role;
use crate::store::PageRequest;

/// `GET /ui/account`: the account page; without a session, a redirect to the login page.
pub async fn account(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(session) = page_session(&state, &headers).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let totp = status_of(&state, &session.user).await?;
    let listed = state
        .store
        .list_api_tokens(
            Some(session.user.id),
            &PageRequest {
                limit: MAX_LIMIT,
                cursor: None,
            },
        )
        .await?;
    let now = Utc::now();
    let tokens: Vec<_> = listed
        .items
        .iter()
        .filter(|t| t.revoked_at.is_none())
        .map(|t| json!({"token": t, "expired": t.expires_at.is_some_and(|at| at <= now)}))
        .collect();
    // A token's role may be any the user holds somewhere, or a weaker one.
    let strongest = session.user.grants.strongest();
    let token_roles: Vec<_> = Role::ALL
        .into_iter()
        .filter(|r| Some(*r) <= strongest)
        .map(Role::as_str)
        .collect();
    page(
        "account.html",
        &session,
        "account",
        json!({
            "totp": totp,
            "tokens": tokens,
            "more_tokens": listed.next_cursor.is_some(),
            "token_roles": token_roles,
        }),
    )
}
