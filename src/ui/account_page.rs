//! `GET /ui/account`: the signed-in user's own account, with two-factor sign-in: set it up (QR
//! code and the key to type by hand, then a code of the app to confirm; the recovery codes are
//! shown once), or turn it off with a code or the password. The script (`account.js`) does the
//! steps through `/api/users/me/totp`. A user who must turn it on first is sent here by every
//! other page, so this page alone does not hold such a user back.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use serde_json::json;

use super::pages::{PageResult, page};
use super::session::page_session;
use crate::api::AppState;
use crate::api::totp::status_of;

/// `GET /ui/account`: the account page; without a session, a redirect to the login page.
pub async fn account(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let Some(session) = page_session(&state, &headers).await? else {
        return Ok(Redirect::to("/").into_response());
    };
    let totp = status_of(&state, &session.user).await?;
    page("account.html", &session, "account", json!({ "totp": totp }))
}
