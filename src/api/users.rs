//! `/api/users`: accounts (admin only) and `POST /api/users/me/password` (every signed-in user).
//!
//! Password hashes never leave the store ([`UserInfo`] is what is shown). Disabling a user or
//! setting its password ends its sessions at once; the last enabled admin cannot be deleted,
//! disabled or demoted (409). Every change is audited in the transaction that makes it.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors};
use super::extract::{ApiJson, ApiQuery, Paging, parse_id};
use crate::crypto::{hash_password, verify_password};
use crate::role::Role;
use crate::secret::Secret;
use crate::store::{Page, UserInfo, UserPatch};

/// Fewest characters (Unicode scalar values) a password may have (NIST SP 800-63B §3.1.1.2
/// asks for at least 8; testum holds fleet credentials, so 12).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most characters a password may have (bounds the hashing work one request can cause).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// `POST /api/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    password: Secret,
    role: Role,
}

/// `PATCH /api/users/{id}` body: each field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    password: Option<Secret>,
}

/// `POST /api/users/me/password` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: Secret,
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
pub async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<UserInfo>>, ApiError> {
    user.require(Role::Admin)?;
    Ok(Json(state.store.list_users(&paging.page()?).await?))
}

/// `POST /api/users {username, password, role}` (admin) → 201 with the user; 409 when the
/// username is taken; 422 naming `username`, `password` (policy) or `role`.
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserInfo>), ApiError> {
    user.require(Role::Admin)?;
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
pub async fn get(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
) -> Result<Json<UserInfo>, ApiError> {
    user.require(Role::Admin)?;
    let id = parse_id(&id, "user")?;
    let found = state.store.get_user(id).await?;
    found
        .map(|u| Json(u.into()))
        .ok_or_else(|| ApiError::not_found(format!("no user with id {id}")))
}

/// `PATCH /api/users/{id} {role?, disabled?, password?}` (admin) → the user. Disabling or a new
/// password ends the user's sessions; 409 when it would leave no enabled admin.
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<UserInfo>, ApiError> {
    user.require(Role::Admin)?;
    let id = parse_id(&id, "user")?;
    let mut errors = Errors::default();
    if let Some(password) = &body.password {
        errors.check("password", password_policy(password));
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
    };
    Ok(Json(
        state.store.update_user(&user.actor(), id, patch).await?,
    ))
}

/// `DELETE /api/users/{id}` (admin) → 204; the user's sessions and API tokens go with it. 409 for
/// the last enabled admin.
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Role::Admin)?;
    let id = parse_id(&id, "user")?;
    state.store.delete_user(&user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/users/me/password {current_password, new_password}` (any role) → 204. Ends every
/// session of the caller, this one included: sign in again with the new password. 422 naming
/// `current_password` when it is wrong, `new_password` when it breaks the policy.
pub async fn change_own_password(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let mut errors = Errors::default();
    errors.check("new_password", password_policy(&body.new_password));
    errors.finish()?;
    let account = state
        .store
        .get_user(user.id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the user no longer exists"))?;
    let current = body.current_password;
    let stored = account.password_hash;
    let matches = tokio::task::spawn_blocking(move || verify_password(current.expose(), &stored))
        .await
        .map_err(ApiError::internal)?;
    if !matches {
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
