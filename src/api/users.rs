//! `/api/users`: accounts (admin only) and `POST /api/users/me/password` (every signed-in user);
//! who may call which route is decided by the access table ([`super::access`]) alone.
//!
//! Password hashes never leave the store ([`UserInfo`] is what is shown). Disabling a user or
//! setting its password ends its sessions at once; the last enabled admin cannot be deleted,
//! disabled or demoted (409). Every change is audited in the transaction that makes it.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{AuthUser, ViaApiToken, refuse_api_token};
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use crate::crypto::{hash_password, verify_password};
use crate::role::Role;
use crate::secret::Secret;
use crate::store::{LOCAL_USERS, NewAudit, Page, UserInfo, UserPatch};

/// Fewest characters (Unicode scalar values) a password may have (NIST SP 800-63B §3.1.1.2
/// asks for at least 8; testum holds fleet credentials, so 12).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have (bounds the hashing work one request can cause).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// `POST /api/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    #[schema(value_type = String, format = Password)]
    password: Secret,
    /// The user's own role over the whole fleet, or `null` for none (the user then holds only
    /// what grants give, see `POST /api/grants`). Required.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true)]
    role: Option<Role>,
}

/// `PATCH /api/users/{id}` body: each field optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    /// The fleet-wide role; `null` takes it away (grants stay).
    #[serde(default, with = "super::keys::double_option")]
    #[schema(value_type = Option<Role>)]
    role: Option<Option<Role>>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
    /// The user must sign in with a second factor (TOTP), whatever `TESTUM_REQUIRE_TOTP_FOR`
    /// says; until it is on, the user can only turn it on.
    #[serde(default)]
    require_totp: Option<bool>,
}

/// `POST /api/users/me/password` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[schema(value_type = String, format = Password)]
    current_password: Secret,
    #[schema(value_type = String, format = Password)]
    new_password: Secret,
}

/// A username: 1 to 64 characters of ASCII letters, digits and `.`, `_`, `@`, `-`, not starting
/// with `-`.
fn username(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err("may contain only letters, digits and . _ @ -".into());
    }
    if text.starts_with('-') {
        return Err("must not start with '-'".into());
    }
    Ok(text.to_string())
}

/// The password policy: [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`] characters.
fn password_policy(password: &Secret) -> Result<(), String> {
    let chars = password.expose().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

/// Argon2id hash of `password`, off the async runtime.
async fn hash(password: Secret) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(password.expose()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// `GET /api/users?limit=&cursor=` (admin).
#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    params(Paging),
    responses(
        (status = 200, description = "A page of users, newest first", body = Page<UserInfo>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<UserInfo>>, ApiError> {
    Ok(Json(state.store.list_users(&paging.page()?).await?))
}

/// `POST /api/users {username, password, role}` (admin) → 201 with the user; 409 when the
/// username is taken; 422 naming `username`, `password` (policy) or `role`.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserInfo),
        (status = 409, description = "The username is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    refuse_api_token(via, "create users")?;
    let mut errors = Errors::default();
    let name = errors.check("username", username(&body.username));
    errors.check("password", password_policy(&body.password));
    errors.finish()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validated username missing"));
    };
    let hash = hash(body.password).await?;
    let created = state
        .store
        .create_user(&user.actor(), &name, &hash, body.role)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/users/{id}` (admin).
#[utoipa::path(
    get,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserInfo), (status = 404, description = "No user with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserInfo>, ApiError> {
    let id = parse_id(&id, "user")?;
    let found = state.store.get_user(id).await?;
    found
        .map(|u| Json(u.into()))
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

/// `PATCH /api/users/{id} {role?, disabled?, password?, require_totp?}` (admin) → the user.
/// Disabling or a new password ends the user's sessions; 409 when it would leave no enabled
/// admin.
#[utoipa::path(
    patch,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = PatchUser,
    responses(
        (status = 200, description = "The changed user", body = UserInfo),
        (status = 404, description = "No user with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It would leave no enabled admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<UserInfo>, ApiError> {
    let id = parse_id(&id, "user")?;
    let mut errors = Errors::default();
    if let Some(password) = &body.password {
        refuse_api_token(via, "set a password")?;
        if id == user.id {
            // Here no current password is asked: one's own goes through /me/password, which does.
            errors.add(
                "password",
                "change your own password with POST /api/users/me/password (it asks for the \
                 current one)",
            );
        }
        errors.check("password", password_policy(password));
        if let Some(target) = state.store.get_user(id).await?
            && target.source != LOCAL_USERS
        {
            errors.add("password", provider_password(&target.source));
        }
    }
    errors.finish()?;
    let password_hash = match body.password {
        Some(password) => Some(hash(password).await?),
        None => None,
    };
    let patch = UserPatch {
        role: body.role,
        disabled: body.disabled,
        password_hash,
        require_totp: body.require_totp,
    };
    Ok(Json(
        state.store.update_user(&user.actor(), id, patch).await?,
    ))
}

/// `DELETE /api/users/{id}` (admin) → 204; the user's sessions and API tokens go with it. 409 for
/// the last enabled admin.
#[utoipa::path(
    delete,
    path = "/api/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted, with its sessions and API tokens"),
        (status = 404, description = "No user with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last enabled admin", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "user")?;
    state.store.delete_user(&user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/users/me/password {current_password, new_password}` (any role) → 204. Ends every
/// session of the caller, this one included: sign in again with the new password. 422 naming
/// `current_password` when it is wrong, `new_password` when it breaks the policy.
#[utoipa::path(
    post,
    path = "/api/users/me/password",
    tag = "users",
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; every session of the caller is ended"),
        (status = 403, description = "Signed in with an API token, which cannot change a password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`current_password` is wrong (audited) or `new_password` breaks the policy", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this username (shared with login); see `Retry-After`", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn change_own_password(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    refuse_api_token(via, "change a password")?;
    // Guessing the current password here is guessing a login: the same per-username limit.
    state.login_limiter.check(&user.username)?;
    let mut errors = Errors::default();
    errors.check("new_password", password_policy(&body.new_password));
    errors.finish()?;
    let account = state
        .store
        .get_user(user.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    if account.source != LOCAL_USERS {
        return Err(ApiError::field(
            "new_password",
            provider_password(&account.source),
        ));
    }
    let current = body.current_password;
    let stored = account.password_hash;
    let matches = tokio::task::spawn_blocking(move || verify_password(current.expose(), &stored))
        .await
        .map_err(ApiError::internal)?;
    if !matches {
        state
            .store
            .audit(NewAudit {
                actor: &user.actor(),
                action: "user.password",
                target: Some(format!("user:{}", user.id)),
                outcome: "failure",
                details: json!({"reason": "wrong current password"}),
            })
            .await?;
        return Err(ApiError::field(
            "current_password",
            "is not the current password",
        ));
    }
    let patch = UserPatch {
        password_hash: Some(hash(body.new_password).await?),
        ..UserPatch::default()
    };
    state
        .store
        .update_user(&user.actor(), user.id, patch)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a user of sign-in provider `source` has no password to set in testum.
fn provider_password(source: &str) -> String {
    format!("this user signs in through {source}: the password is kept there, not in testum")
}
