//! Login and access tokens: `POST /api/auth/login` checks an Argon2id password hash, starts a
//! session ([`super::sessions`]) and returns a short-lived HS256 JWT (RFC 7519) with the session
//! id in its `sid` claim plus a refresh token; [`require_auth`] guards every other `/api` and
//! `/ws` route.
//!
//! The signing key is derived from the master key (see [`crate::crypto::MasterKey::derive`]).
//! Credentials are accepted from `Authorization: Bearer` (a JWT, or an API token `tsm_...`), and
//! for WebSocket upgrades (browsers cannot set headers there) from the `access_token` query
//! parameter, which is never logged. A JWT is honoured only while its session is alive and its
//! user enabled (one indexed query per request), with the role the user has now.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{ConnectInfo, Extension, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use super::ldap_login;
use super::sessions::{TokenPair, start_session};
use super::totp::{SecondFactorCheck, second_factor};
use crate::crypto::{hash_password, verify_password};
use crate::grants::Grants;
use crate::opaque_token::{self, API_TOKEN_PREFIX};
use crate::role::Role;
use crate::secret::Secret;
use crate::store::{Actor, NewAudit, SignedIn, Store};

const ISSUER: &str = "testum";

/// The signed-in user of a request, put in the request's extensions by [`require_auth`].
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub username: String,
    /// What the user may do where: the fleet-wide role and the scoped grants, read on this
    /// request (capped at an API token's role).
    pub grants: Grants,
}

impl AuthUser {
    /// The audit actor for this user.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.id),
            name: self.username.clone(),
        }
    }

    /// `user`, who just signed in (no API token), with the grants it holds now.
    pub async fn signed_in(store: &Store, user: &crate::store::User) -> Result<AuthUser, ApiError> {
        let signed_in = SignedIn {
            user_id: user.id,
            username: user.username.clone(),
            role: user.role,
            token_role: None,
        };
        AuthUser::load(store, signed_in).await
    }

    /// `user` with the grants it holds now (own and through its groups), capped at its API
    /// token's role if it signed in with one.
    pub async fn load(store: &Store, user: SignedIn) -> Result<AuthUser, ApiError> {
        let grants = Grants::new(user.role, store.grants_of(user.user_id).await?);
        Ok(AuthUser {
            id: user.user_id,
            username: user.username,
            grants: match user.token_role {
                Some(cap) => grants.capped(cap),
                None => grants,
            },
        })
    }
}

/// The session of a request signed in with an access token (absent for API tokens), in the
/// request's extensions next to its [`AuthUser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionId(pub Uuid);

/// How a request was signed in, in its extensions: a long-lived request (a WebSocket) asks
/// [`SignedInWith::still_valid`] now and then, so logout, a revoked token or a disabled user ends
/// it too, not only the next request.
#[derive(Debug, Clone)]
pub enum SignedInWith {
    /// An access token of session (refresh chain) `sid` of user `user_id`.
    Session { user_id: Uuid, sid: Uuid },
    /// An API token, by the SHA-256 of its secret.
    ApiToken { token_hash: String },
    /// A web UI cookie session, by the SHA-256 of its token.
    Cookie { token_hash: String },
}

impl SignedInWith {
    /// Whether the credential still signs its user in (not ended, revoked, expired, or the user
    /// disabled or deleted). A database error counts as "still valid": the check runs again.
    pub async fn still_valid(&self, state: &AppState) -> bool {
        let found = match self {
            SignedInWith::Session { user_id, sid } => state
                .store
                .session_user(*sid)
                .await
                .map(|user| user.is_some_and(|user| user.user_id == *user_id)),
            SignedInWith::ApiToken { token_hash } => state
                .store
                .api_token_user(token_hash)
                .await
                .map(|user| user.is_some()),
            SignedInWith::Cookie { token_hash } => state
                .store
                .browser_session(token_hash)
                .await
                .map(|session| session.is_some()),
        };
        found.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot re-check a credential");
            true
        })
    }
}

/// Marks a request signed in with an API token (in its extensions next to its [`AuthUser`]).
/// Such a request may use the API up to the token's role but may not manage credentials (change
/// the password, make more tokens): a leaked token must not turn into an account or outlive its
/// own revocation. See [`refuse_api_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViaApiToken;

/// 403 problem+json when the request was signed in with an API token; `action` says what it may
/// not do, e.g. "change a password".
pub fn refuse_api_token(via: Option<Extension<ViaApiToken>>, action: &str) -> Result<(), ApiError> {
    match via {
        Some(_) => Err(ApiError::forbidden(format!(
            "an API token cannot {action}: sign in with your password"
        ))),
        None => Ok(()),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// Session (refresh chain) id, checked against the sessions table on each request.
    sid: Uuid,
    name: String,
    /// The fleet-wide role when the token was issued (informational: every request reads the
    /// user's rights anew).
    role: Option<Role>,
    iss: String,
    iat: i64,
    exp: i64,
}

/// Signing and verification keys for access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_secs: u64,
}

impl TokenKeys {
    /// Keys from `secret` (32 bytes or more), tokens valid for `ttl_secs`.
    pub fn new(secret: &[u8], ttl_secs: u64) -> Result<TokenKeys, jsonwebtoken::errors::Error> {
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            ttl_secs,
        })
    }

    /// Lifetime of the access tokens issued, in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// A signed access token for `user` in session `sid`.
    pub(super) fn issue(&self, user: &AuthUser, sid: Uuid) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            sid,
            name: user.username.clone(),
            role: user.grants.fleet(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl_secs as i64,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// `(user id, session id)` of a token; `None` when it is expired, forged, or not an HS256
    /// token of this server (`alg: none` and other algorithms are refused). The session still
    /// has to be checked against the store.
    pub fn verify(&self, token: &str) -> Option<(Uuid, Uuid)> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        Some((data.claims.sub, data.claims.sid))
    }
}

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: Secret,
    /// The second factor, for an account with two-factor sign-in on: the 6-digit code of the
    /// authenticator app, or a recovery code. Ignored for other accounts.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    totp: Option<Secret>,
}

/// `POST /api/auth/login`: a [`TokenPair`], or 401 with the same answer for a wrong username
/// and a wrong password; for an account with two-factor sign-in on and the right password, 401
/// of problem type `tag:testum,2026:totp-required` without `totp`, and
/// `tag:testum,2026:totp-invalid` with a wrong one. 429 with `Retry-After` past the
/// per-username (and per-IP) limit, before any password or code is checked: the limit bounds
/// code guessing too.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong username or password (one answer for both); or, for an account with two-factor sign-in, no `totp` (type `tag:testum,2026:totp-required`) or a wrong one (`tag:testum,2026:totp-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this username; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or malformed", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn login(
    State(state): State<AppState>,
    connect_info: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    state.login_limiter.check(&request.username)?;
    let remote = connect_info.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let auth = check_password(
        &state,
        &request.username,
        &request.password,
        request.totp.as_ref(),
        remote,
    )
    .await?;
    Ok(Json(start_session(&state, &auth).await?))
}

/// Check `password` against the Argon2id hash of the enabled user `username` (or, with LDAP
/// sign-in on, against the directory for a name without a local account: [`ldap_login`]), then,
/// when the user has two-factor sign-in on, `totp` ([`super::totp::second_factor`], which spends
/// it), and audit the attempt (`auth.login`, outcome `success` or `failure`, with `remote_addr`;
/// for LDAP the provider and the subject; a refused second factor with its `reason`, a success
/// with its `second_factor`, never a password or a code). Used by the API login and the browser
/// login alike. Errors: 401 with the same answer for a wrong username, a wrong password and a
/// disabled user (an unknown user costs the same time); 503 when the LDAP directory cannot be
/// asked; after the right password, the typed 401s of [`super::totp::Refusal::error`].
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &Secret,
    totp: Option<&Secret>,
    remote: Option<String>,
) -> Result<AuthUser, ApiError> {
    let user = state.store.user_by_name(username).await?;
    let mut details = json!({"remote_addr": remote});
    let auth = match &state.ldap {
        // No account, or one the directory vouches for: the directory decides (see
        // [`super::ldap_login`]); a local account keeps its own password.
        Some(directory) if user.as_ref().is_none_or(|u| u.source == ldap_login::LDAP) => {
            let (auth, provider) =
                ldap_login::sign_in(state, directory, username, password, remote).await?;
            merge(&mut details, provider);
            auth
        }
        _ => local_password(state, user, username, password, remote).await?,
    };
    let factor = second_factor(state, auth.id, totp).await?;
    let outcome = match &factor {
        SecondFactorCheck::Refused(refusal) => {
            merge(&mut details, json!({"reason": refusal.reason()}));
            "failure"
        }
        SecondFactorCheck::RecoveryCode { left } => {
            merge(
                &mut details,
                json!({"second_factor": factor.method(), "recovery_codes_left": left}),
            );
            "success"
        }
        _ => {
            merge(&mut details, json!({"second_factor": factor.method()}));
            "success"
        }
    };
    state
        .store
        .audit(NewAudit {
            actor: &auth.actor(),
            action: "auth.login",
            target: Some(format!("user:{}", auth.id)),
            outcome,
            details,
        })
        .await?;
    if let SecondFactorCheck::Refused(refusal) = factor {
        return Err(refusal.error());
    }
    Ok(auth)
}

/// Copy the fields of object `more` into object `into`.
pub(crate) fn merge(into: &mut serde_json::Value, more: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(more)) = (into.as_object_mut(), more) {
        into.extend(more);
    }
}

/// The enabled local user `user` (looked up as `username`) if `password` is its password; else
/// the failure audited and the one 401 for every wrong combination.
async fn local_password(
    state: &AppState,
    user: Option<crate::store::User>,
    username: &str,
    password: &Secret,
    remote: Option<String>,
) -> Result<AuthUser, ApiError> {
    let hash = match &user {
        Some(user) if !user.disabled => user.password_hash.clone(),
        // Verify against a fixed hash anyway, so an unknown user costs the same time.
        _ => dummy_hash().to_string(),
    };
    let password = password.clone();
    let valid = tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
        .await
        .map_err(ApiError::internal)?;
    // The audit says why (for the admin reading it); the caller gets one answer for all.
    let reason = match &user {
        None => "unknown_user",
        Some(u) if u.disabled => "disabled",
        // "!": an account a sign-in provider made, which has no password here.
        Some(u) if u.password_hash == "!" => "no_local_password",
        Some(_) => "wrong_password",
    };
    let Some(user) = user.filter(|u| valid && !u.disabled) else {
        state
            .store
            .audit(NewAudit {
                actor: &Actor::typed(username),
                action: "auth.login",
                target: None,
                outcome: "failure",
                details: json!({"remote_addr": remote, "reason": reason}),
            })
            .await?;
        return Err(ApiError::unauthorized("invalid username or password"));
    };
    AuthUser::signed_in(&state.store, &user).await
}

fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("testum timing equaliser").unwrap_or_default())
}

/// Reject a request without a valid access token (401), else put its [`AuthUser`] in the request
/// extensions. WebSocket paths (`/ws/...`) also take the token from `access_token` in the query.
/// Routes the access table makes public pass without a token.
/// Without a token, the browser session cookie is tried ([`crate::ui::session::require_cookie`]).
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !super::access::needs_auth(&request) {
        return Ok(next.run(request).await);
    }
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .map(str::to_string);
    let token = from_header.or_else(|| {
        if !request.uri().path().starts_with("/ws/") {
            return None;
        }
        request.uri().query().and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v)
        })
    });
    let Some(token) = token else {
        return crate::ui::session::require_cookie(&state, request, next).await;
    };
    let invalid = || ApiError::unauthorized("the access token is invalid or expired");
    if token.starts_with(API_TOKEN_PREFIX) {
        let token_hash = opaque_token::hash(&token);
        let user = state
            .store
            .api_token_user(&token_hash)
            .await?
            .ok_or_else(invalid)?;
        let user = AuthUser::load(&state.store, user).await?;
        request.extensions_mut().insert(user);
        request.extensions_mut().insert(ViaApiToken);
        request
            .extensions_mut()
            .insert(SignedInWith::ApiToken { token_hash });
    } else {
        let (user_id, sid) = state.tokens.verify(&token).ok_or_else(invalid)?;
        let user = state
            .store
            .session_user(sid)
            .await?
            .filter(|user| user.user_id == user_id)
            .ok_or_else(invalid)?;
        let user = AuthUser::load(&state.store, user).await?;
        request.extensions_mut().insert(user);
        request.extensions_mut().insert(SessionId(sid));
        request
            .extensions_mut()
            .insert(SignedInWith::Session { user_id, sid });
    }
    Ok(next.run(request).await)
}

/// Keys for a state: derived from the master key.
pub fn token_keys(
    master_key: &crate::crypto::MasterKey,
    ttl_secs: u64,
) -> Result<Arc<TokenKeys>, jsonwebtoken::errors::Error> {
    TokenKeys::new(&master_key.derive("testum access token v1"), ttl_secs).map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> AuthUser {
        AuthUser {
            id: Uuid::new_v4(),
            username: "alice".into(),
            grants: Grants::fleet_wide(Role::Admin),
        }
    }

    #[test]
    fn tokens_verify_only_with_the_right_key() {
        let keys = TokenKeys::new(&[1u8; 32], 60).unwrap();
        let (user, sid) = (user(), Uuid::new_v4());
        let token = keys.issue(&user, sid).unwrap();
        assert_eq!(keys.verify(&token), Some((user.id, sid)));
        assert!(
            TokenKeys::new(&[2u8; 32], 60)
                .unwrap()
                .verify(&token)
                .is_none()
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        // alg: none with the same claims is refused.
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#,
        );
        parts[0] = &none_header;
        assert!(
            keys.verify(&format!("{}.{}.", parts[0], parts[1]))
                .is_none()
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(&[1u8; 32], 60).unwrap();
        let claims = Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            name: "a".into(),
            role: Some(Role::Admin),
            iss: ISSUER.into(),
            iat: 0,
            exp: chrono::Utc::now().timestamp() - 60,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_none());
    }
}
