//! Two-factor sign-in (TOTP, RFC 6238; see [`crate::totp`]) in the API: the second factor of a
//! login ([`second_factor`]), enrolment of one's own account under `/api/users/me/totp`, an
//! admin's reset of another user's, and the gate that holds a user who must use a second factor
//! but has none yet ([`require_enrolment`]).
//!
//! Enrolment: `POST /api/users/me/totp` hands out a new secret (the otpauth URI, the secret in
//! base32 to type by hand and the URI as a QR code) and keeps it pending, replacing a pending
//! one; `POST /api/users/me/totp/confirm {code}` turns it on once a code of the app matches and
//! answers the recovery codes, shown this once. `POST /api/users/me/totp/disable` needs a current
//! code (or a recovery code) or the password. Each is audited (`totp.start`, `totp.enable`,
//! `totp.disable`, `totp.reset`), failures too, and no secret, code or hash is ever in an answer
//! after enrolment, in the audit log or in a log line.
//!
//! These own-account changes refuse API tokens ([`refuse_api_token`]), like a password change.
//! API tokens are not asked for a code at all: a token is a 256-bit random secret, made by a
//! signed-in session (which passed the second factor when one was on), scoped, revocable and
//! shown once; a code every 30 s would only make unattended scripts impossible. The gate still
//! holds a token whose user must enrol, so a policy cannot be sidestepped with a token made
//! before it; under `TESTUM_REQUIRE_TOTP_FOR=admin` it looks at the rights the request carries,
//! so an admin's token capped below admin (which holds no admin rights) is not held.

use axum::Json;
use axum::extract::{Extension, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::{AuthUser, ViaApiToken, refuse_api_token};
use super::error::{ApiError, Problem, ProblemType};
use super::extract::{ApiJson, ApiPath, parse_id};
use crate::crypto::verify_password;
use crate::secret::Secret;
use crate::store::{NewAudit, StoreError, TotpStanding};
use crate::totp::{self, Check, SecondFactor, TotpSecret, recovery};

/// 401 of login: the account needs a second factor and none was sent.
pub const TOTP_REQUIRED: ProblemType = ProblemType {
    uri: "tag:testum,2026:totp-required",
    title: "Second factor required",
};
/// 401 of login: the second factor sent is wrong, expired or used already.
pub const TOTP_INVALID: ProblemType = ProblemType {
    uri: "tag:testum,2026:totp-invalid",
    title: "Wrong second factor",
};
/// 403: the user must turn on two-factor sign-in before anything else.
pub const TOTP_ENROLMENT_REQUIRED: ProblemType = ProblemType {
    uri: "tag:testum,2026:totp-enrolment-required",
    title: "Two-factor enrolment required",
};

/// Where a user is sent to turn two-factor sign-in on.
pub const ENROL_PAGE: &str = "/ui/account";

/// The routes a user held by [`require_enrolment`] may still call: sign out, read and make its
/// enrolment.
const WHILE_ENROLLING: &[(&str, &str)] = &[
    ("POST", "/api/auth/logout"),
    ("GET", "/api/users/me/totp"),
    ("POST", "/api/users/me/totp"),
    ("POST", "/api/users/me/totp/confirm"),
];

/// Why a second factor was refused; the text goes into the audit log (never the code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Two-factor sign-in is on and nothing was sent.
    Missing,
    /// Neither six digits nor a recovery code.
    Malformed,
    /// Not the code of the steps around now.
    Wrong,
    /// The code of a step already used.
    Replayed,
    /// No unused recovery code of the user is this one.
    UnknownRecoveryCode,
}

impl Refusal {
    /// The `reason` recorded in the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "second factor required",
            Refusal::Malformed => "second factor malformed",
            Refusal::Wrong => "wrong code",
            Refusal::Replayed => "code already used",
            Refusal::UnknownRecoveryCode => "unknown or used recovery code",
        }
    }

    /// The 401 a login answers.
    pub fn error(self) -> ApiError {
        match self {
            Refusal::Missing => ApiError::typed(
                StatusCode::UNAUTHORIZED,
                TOTP_REQUIRED,
                "this account signs in with a second factor: give the 6-digit code of your \
                 authenticator app, or a recovery code, as `totp`",
            ),
            _ => ApiError::typed(
                StatusCode::UNAUTHORIZED,
                TOTP_INVALID,
                "the code is wrong, expired or used already",
            ),
        }
    }
}

/// The result of [`second_factor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactorCheck {
    /// The user has no two-factor sign-in on: nothing to check.
    NotEnabled,
    /// A code of the app, now spent.
    Code,
    /// A recovery code, now spent; `left` unused ones remain.
    RecoveryCode { left: i64 },
    /// Refused.
    Refused(Refusal),
}

impl SecondFactorCheck {
    /// How the factor was proven, for the audit log: `totp`, `recovery_code`, or `None`.
    pub fn method(self) -> Option<&'static str> {
        match self {
            SecondFactorCheck::Code => Some("totp"),
            SecondFactorCheck::RecoveryCode { .. } => Some("recovery_code"),
            SecondFactorCheck::NotEnabled | SecondFactorCheck::Refused(_) => None,
        }
    }
}

/// Check `given` (a code or a recovery code, as typed) as the second factor of user `user`, and
/// spend it when it passes: a code's time step is recorded so the code cannot be used again
/// (RFC 6238 §5.2), a recovery code is marked used. Brute force is bounded by the caller's rate
/// limit (the login's per-username and per-IP limits).
pub async fn second_factor(
    state: &AppState,
    user: Uuid,
    given: Option<&Secret>,
) -> Result<SecondFactorCheck, ApiError> {
    let Some(record) = state.store.user_totp(user).await?.filter(|r| r.enabled) else {
        return Ok(SecondFactorCheck::NotEnabled);
    };
    let refused = |refusal| Ok(SecondFactorCheck::Refused(refusal));
    let Some(given) = given.filter(|g| !g.expose().trim().is_empty()) else {
        return refused(Refusal::Missing);
    };
    match SecondFactor::parse(given.expose()) {
        None => refused(Refusal::Malformed),
        Some(SecondFactor::Code(code)) => {
            let secret = totp::open(&state.master_key, record.id, user, &record.sealed)
                .map_err(ApiError::internal)?;
            match totp::check(&secret, &code, totp::now(), record.last_step) {
                Check::Accepted { step } => {
                    if state.store.accept_totp_step(user, record.id, step).await? {
                        Ok(SecondFactorCheck::Code)
                    } else {
                        refused(Refusal::Replayed)
                    }
                }
                Check::Replayed => refused(Refusal::Replayed),
                Check::Wrong | Check::Malformed => refused(Refusal::Wrong),
            }
        }
        Some(SecondFactor::Recovery(code)) => {
            let hash = recovery::hash(user, &code);
            match state.store.use_recovery_code(user, &hash).await? {
                Some(left) => Ok(SecondFactorCheck::RecoveryCode { left }),
                None => refused(Refusal::UnknownRecoveryCode),
            }
        }
    }
}

/// Whether signed-in `user` must use a second factor: its own flag, or the policy for the
/// rights this request carries (the strongest role of its grants; for an API token, capped at
/// the token's role, so an admin's viewer token is not an admin's under `admin`).
/// A user of an OpenID provider never must: the provider asks its own second factor.
fn required(state: &AppState, user: &AuthUser, standing: &TotpStanding) -> bool {
    !through_oidc(standing)
        && state
            .config
            .require_totp_for
            .requires(user.grants.strongest(), standing.require_totp)
}

/// Whether the user signs in through an OpenID provider.
fn through_oidc(standing: &TotpStanding) -> bool {
    standing.source.starts_with("oidc:")
}

/// Whether signed-in `user` must turn on two-factor sign-in before anything else: it is
/// [`required`] and not on yet.
pub async fn must_enrol(state: &AppState, user: &AuthUser) -> Result<bool, ApiError> {
    let Some(standing) = state.store.totp_standing(user.id).await? else {
        return Ok(false);
    };
    Ok(required(state, user, &standing) && !standing.enabled)
}

/// The two-factor status of signed-in `user`, as `GET /api/users/me/totp` and the account page
/// show it.
pub async fn status_of(state: &AppState, user: &AuthUser) -> Result<TotpStatus, ApiError> {
    let standing = state
        .store
        .totp_standing(user.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    Ok(TotpStatus {
        enabled: standing.enabled,
        pending: standing.pending,
        required: required(state, user, &standing),
        recovery_codes_left: standing.recovery_codes_left,
        provider_handles_second_factor: through_oidc(&standing),
    })
}

/// The 403 of a user held by [`require_enrolment`].
fn enrolment_required() -> ApiError {
    ApiError::typed(
        StatusCode::FORBIDDEN,
        TOTP_ENROLMENT_REQUIRED,
        format!(
            "turn on two-factor sign-in first: {ENROL_PAGE} in the web UI, or POST \
             /api/users/me/totp then /api/users/me/totp/confirm"
        ),
    )
}

/// Middleware after [`super::access::authorize`]: a signed-in caller (session or API token)
/// whose user must use a second factor and has not turned it on gets 403 (problem type
/// `tag:testum,2026:totp-enrolment-required`) on every route but [`WHILE_ENROLLING`]. Public
/// routes (no user) pass.
pub async fn require_enrolment(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(user) = request.extensions().get::<AuthUser>().cloned() else {
        return Ok(next.run(request).await);
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let enrolling = WHILE_ENROLLING
        .iter()
        .any(|(method, path)| request.method() == *method && route.as_deref() == Some(*path));
    if !enrolling && must_enrol(&state, &user).await? {
        return Err(enrolment_required());
    }
    Ok(next.run(request).await)
}

/// `GET /api/users/me/totp` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpStatus {
    /// Two-factor sign-in is on: login asks for a code.
    pub enabled: bool,
    /// An enrolment was started and waits for a code (`POST /api/users/me/totp/confirm`).
    pub pending: bool,
    /// The user must use a second factor (`TESTUM_REQUIRE_TOTP_FOR`, or an admin's
    /// `require_totp`); while it is not on, every other route answers 403.
    pub required: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
    /// The account signs in through an OpenID provider (source `oidc:<name>`), which asks its
    /// own second factor: testum's is never required of it and cannot be set up
    /// (`POST /api/users/me/totp` answers 409).
    pub provider_handles_second_factor: bool,
}

/// `POST /api/users/me/totp` answer: what the authenticator app needs, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// `otpauth://totp/testum:<username>?secret=...&issuer=testum` (SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The secret in base32 (RFC 4648), to type into the app by hand.
    pub secret: String,
    /// The otpauth URI as a QR code: an SVG document.
    pub qr_svg: String,
}

/// `POST /api/users/me/totp/confirm` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    /// The current 6-digit code of the app.
    #[schema(value_type = String, format = Password)]
    code: Secret,
}

/// `POST /api/users/me/totp/confirm` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Single-use codes for signing in without the app (`abcd-efgh-jkmn-pqrs`), shown this once:
    /// keep them somewhere safe.
    pub recovery_codes: Vec<String>,
}

/// `POST /api/users/me/totp/disable` body: one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    /// A current code of the app, or a recovery code.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    code: Option<Secret>,
    /// The account's password.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
}

/// `GET /api/users/me/totp` (any role, also while enrolment is required): the caller's
/// two-factor status.
#[utoipa::path(
    get,
    path = "/api/users/me/totp",
    tag = "users",
    responses((status = 200, description = "The caller's two-factor status", body = TotpStatus))
)]
pub async fn status(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
) -> Result<Json<TotpStatus>, ApiError> {
    Ok(Json(status_of(&state, &user).await?))
}

/// `POST /api/users/me/totp` (any role) → 201 with a new secret, pending until confirmed; it
/// replaces a pending one. 409 when two-factor sign-in is on already (turn it off first), or the
/// account signs in through an OpenID provider (which asks its own).
#[utoipa::path(
    post,
    path = "/api/users/me/totp",
    tag = "users",
    responses(
        (status = 201, description = "Started: add the account to the app, then confirm with a code", body = TotpEnrolment),
        (status = 403, description = "Signed in with an API token, which cannot change sign-in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two-factor sign-in is on already, or the account signs in through an OpenID provider", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn start(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
) -> Result<(StatusCode, Json<TotpEnrolment>), ApiError> {
    refuse_api_token(via, "turn on two-factor sign-in")?;
    let standing = state.store.totp_standing(user.id).await?;
    if standing.as_ref().is_some_and(through_oidc) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this account signs in through an OpenID provider, which asks its own second \
             factor; testum's is for local and LDAP accounts",
        ));
    }
    let secret = TotpSecret::generate();
    let material = totp::enrolment(&secret, &user.username).map_err(ApiError::internal)?;
    let id = Uuid::new_v4();
    let sealed = totp::seal(&state.master_key, id, user.id, &secret);
    state
        .store
        .start_totp(&user.actor(), user.id, id, &sealed)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolment {
            otpauth_uri: material.uri.expose().to_string(),
            secret: material.secret.expose().to_string(),
            qr_svg: material.qr_svg.expose().to_string(),
        }),
    ))
}

/// `POST /api/users/me/totp/confirm {code}` (any role) → the recovery codes, shown this once;
/// two-factor sign-in is on from now. 422 naming `code` when it is not a current code of the
/// new secret (audited); 409 when no enrolment waits for a code.
#[utoipa::path(
    post,
    path = "/api/users/me/totp/confirm",
    tag = "users",
    request_body = ConfirmTotp,
    responses(
        (status = 200, description = "On; the recovery codes are shown this once", body = RecoveryCodes),
        (status = 403, description = "Signed in with an API token, which cannot change sign-in", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No enrolment waits for a code", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`code` is not a current code of the app", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiJson(body): ApiJson<ConfirmTotp>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    refuse_api_token(via, "turn on two-factor sign-in")?;
    let not_waiting = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "no enrolment waits for a code: start one first (POST /api/users/me/totp)",
        )
    };
    let record = state
        .store
        .user_totp(user.id)
        .await?
        .filter(|r| !r.enabled)
        .ok_or_else(not_waiting)?;
    let secret = totp::open(&state.master_key, record.id, user.id, &record.sealed)
        .map_err(ApiError::internal)?;
    let code: String = body
        .code
        .expose()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let Check::Accepted { step } = totp::check(&secret, &code, totp::now(), None) else {
        audit_failure(&state, &user, "totp.enable", "wrong code").await?;
        return Err(ApiError::field(
            "code",
            "is not the app's current code: check that the phone's clock is right and type \
             the 6 digits it shows now",
        ));
    };
    let codes = recovery::generate();
    let hashes: Vec<String> = codes
        .iter()
        .filter_map(|c| recovery::normalize(c.expose()))
        .map(|c| recovery::hash(user.id, &c))
        .collect();
    match state
        .store
        .enable_totp(&user.actor(), user.id, record.id, step, &hashes)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(not_waiting()),
        Err(e) => return Err(e.into()),
    }
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose().to_string()).collect(),
    }))
}

/// `POST /api/users/me/totp/disable {code | password}` (any role) → 204: two-factor sign-in is
/// off and the recovery codes are gone (a user the policy requires it of must enrol again
/// before anything else). 422 naming `code` or `password` when wrong (audited); 404 when it is
/// not on; 429 past the login's per-username limit.
#[utoipa::path(
    post,
    path = "/api/users/me/totp/disable",
    tag = "users",
    request_body = DisableTotp,
    responses(
        (status = 204, description = "Off"),
        (status = 403, description = "Signed in with an API token, which cannot change sign-in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Two-factor sign-in is not on (nor pending)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither field given, or the one given is wrong", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this username (shared with login); see `Retry-After`", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiJson(body): ApiJson<DisableTotp>,
) -> Result<StatusCode, ApiError> {
    refuse_api_token(via, "turn off two-factor sign-in")?;
    // Guessing a code or the password here is guessing a login: the same per-username limit.
    state.login_limiter.check(&user.username)?;
    let Some(record) = state.store.user_totp(user.id).await? else {
        return Err(ApiError::not_found("two-factor sign-in is not on"));
    };
    let proof = match (&body.code, &body.password) {
        (Some(code), None) if record.enabled => {
            let check = second_factor(&state, user.id, Some(code)).await?;
            if let SecondFactorCheck::Refused(refusal) = check {
                audit_failure(&state, &user, "totp.disable", refusal.reason()).await?;
                return Err(ApiError::field("code", "is wrong, expired or used already"));
            }
            check.method().unwrap_or("totp")
        }
        (None, Some(password)) => {
            if !password_matches(&state, user.id, password).await? {
                audit_failure(&state, &user, "totp.disable", "wrong password").await?;
                return Err(ApiError::field("password", "is not the current password"));
            }
            "password"
        }
        (Some(_), None) => {
            return Err(ApiError::field(
                "password",
                "the enrolment is not confirmed yet: give the password",
            ));
        }
        _ => {
            return Err(ApiError::field(
                "code",
                "give either `code` (a current code or a recovery code) or `password`",
            ));
        }
    };
    state
        .store
        .remove_totp(
            &user.actor(),
            user.id,
            "totp.disable",
            json!({"proved_with": proof}),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/users/{id}/totp` (admin) → 204: the user's two-factor sign-in (on or pending)
/// and recovery codes are removed, audited as `totp.reset`; for a user who lost the phone and the
/// recovery codes. The user then signs in with the password alone, or must enrol again when it
/// is required. 404 for an unknown user or one without two-factor sign-in.
#[utoipa::path(
    delete,
    path = "/api/users/{id}/totp",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Reset"),
        (status = 403, description = "Signed in with an API token, which cannot change sign-in", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no two-factor sign-in to reset", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn reset(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    refuse_api_token(via, "reset two-factor sign-in")?;
    let id = parse_id(&id, "user")?;
    let target = state
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))?;
    match state
        .store
        .remove_totp(
            &user.actor(),
            id,
            "totp.reset",
            json!({"username": target.username}),
        )
        .await
    {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!(
            "user {} has no two-factor sign-in to reset",
            target.username
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Whether `password` is user `user`'s (Argon2id, off the async runtime); a 422 naming `password`
/// for a user of a sign-in provider, which has no password in testum.
async fn password_matches(
    state: &AppState,
    user: Uuid,
    password: &Secret,
) -> Result<bool, ApiError> {
    let account = state
        .store
        .get_user(user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    if account.source != crate::store::LOCAL_USERS {
        return Err(ApiError::field(
            "password",
            format!(
                "this user signs in through {}: testum keeps no password for it; use a code",
                account.source
            ),
        ));
    }
    let password = password.clone();
    tokio::task::spawn_blocking(move || verify_password(password.expose(), &account.password_hash))
        .await
        .map_err(ApiError::internal)
}

/// Audit a refused own-account change `action` of `user` with `reason` (never the code).
async fn audit_failure(
    state: &AppState,
    user: &AuthUser,
    action: &str,
    reason: &str,
) -> Result<(), ApiError> {
    state
        .store
        .audit(NewAudit {
            actor: &user.actor(),
            action,
            target: Some(format!("user:{}", user.id)),
            outcome: "failure",
            details: json!({"reason": reason}),
        })
        .await?;
    Ok(())
}
