//! Session endpoints: `POST /api/auth/refresh` (public: the refresh token is the credential) and
//! `POST /api/auth/logout`, plus the token pair that login and refresh hand out.
//!
//! Refresh tokens rotate: each one works once and is answered with a new pair. Presenting a
//! spent one again revokes the whole session, the newer tokens included (see
//! [`crate::store::Store::refresh_session`]).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, SessionId};
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use crate::opaque_token::{self, REFRESH_TOKEN_PREFIX};
use crate::secret::Secret;
use crate::store::Refresh;

/// The answer of login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: u64,
    /// Opaque `tsr_...` token for one `POST /api/auth/refresh`.
    pub refresh_token: String,
    /// Seconds the refresh token is valid.
    pub refresh_expires_in: u64,
}

/// A new refresh token and its expiry.
fn new_refresh_token(state: &AppState) -> (Secret, chrono::DateTime<Utc>) {
    let ttl = chrono::Duration::seconds(state.config.refresh_token_ttl_secs as i64);
    (
        opaque_token::generate(REFRESH_TOKEN_PREFIX),
        Utc::now() + ttl,
    )
}

fn pair(
    state: &AppState,
    user: &AuthUser,
    sid: Uuid,
    refresh: &Secret,
) -> Result<TokenPair, ApiError> {
    Ok(TokenPair {
        access_token: state.tokens.issue(user, sid)?,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
        refresh_token: refresh.expose().to_string(),
        refresh_expires_in: state.config.refresh_token_ttl_secs,
    })
}

/// Start a session for `user` (who just proved its password) and hand out its first pair.
pub(super) async fn start_session(
    state: &AppState,
    user: &AuthUser,
) -> Result<TokenPair, ApiError> {
    let (refresh, expires_at) = new_refresh_token(state);
    let sid = state
        .store
        .start_session(user.id, &opaque_token::hash(refresh.expose()), expires_at)
        .await?;
    pair(state, user, sid, &refresh)
}

/// `POST /api/auth/refresh` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `tsr_...` token of the last login or refresh.
    #[schema(value_type = String, format = Password)]
    refresh_token: Secret,
}

/// `POST /api/auth/refresh {refresh_token}` → a new [`TokenPair`]; 401 for an unknown, expired,
/// spent or revoked token or a disabled user (a spent one also ends the session).
#[utoipa::path(
    post,
    path = "/api/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the refresh token given is spent", body = TokenPair),
        (status = 401, description = "Unknown, expired, spent or revoked refresh token (a spent one also ends the session)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or malformed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address; see `Retry-After`", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    let (next, expires_at) = new_refresh_token(&state);
    let outcome = state
        .store
        .refresh_session(
            &opaque_token::hash(body.refresh_token.expose()),
            &opaque_token::hash(next.expose()),
            expires_at,
        )
        .await?;
    match outcome {
        Refresh::Rotated { family_id, user } => {
            if let Some(directory) = &state.ldap
                && state
                    .store
                    .get_user(user.user_id)
                    .await?
                    .is_some_and(|u| u.source == super::ldap_login::LDAP)
            {
                super::ldap_login::recheck(&state, directory, &user, family_id).await?;
            }
            let user = AuthUser::load(&state.store, user).await?;
            Ok(Json(pair(&state, &user, family_id, &next)?))
        }
        Refresh::Reused { family_id } => {
            tracing::warn!(session = %family_id, "spent refresh token reused; session revoked");
            Err(ApiError::unauthorized(
                "the refresh token was already used; the session is ended, sign in again",
            ))
        }
        Refresh::Refused => Err(ApiError::unauthorized(
            "the refresh token is invalid or expired",
        )),
    }
}

/// `POST /api/auth/logout` → 204; the session's access and refresh tokens stop working. A request
/// signed with an API token has no session: 422 naming `Authorization` (revoke the token with
/// `DELETE /api/tokens/{id}` instead).
#[utoipa::path(
    post,
    path = "/api/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "The session is ended"),
        (status = 422, description = "Signed in with an API token, which has no session", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    session: Option<Extension<SessionId>>,
) -> Result<StatusCode, ApiError> {
    let Some(Extension(SessionId(sid))) = session else {
        return Err(ApiError::field(
            "Authorization",
            "an API token has no session to log out of; revoke it with DELETE /api/tokens/{id}",
        ));
    };
    state.store.end_session(&user.actor(), sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
