//! `/api/tokens`: API tokens for scripts and CI (every signed-in user).
//!
//! `POST` hands out the secret (`tsm_` + 256 random bits) once; only its SHA-256 is stored. A
//! token's role may not exceed the strongest role its creator holds anywhere, and in use it
//! caps every role its owner holds then, on the platforms the owner's grants cover
//! ([`crate::grants::Grants::capped`]). Users list and revoke their own tokens; fleet-wide
//! admins see and revoke everyone's.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{AuthUser, ViaApiToken, refuse_api_token};
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use crate::opaque_token::{self, API_TOKEN_PREFIX};
use crate::role::Role;
use crate::store::{ApiToken, NewApiToken, Page};
use crate::validate;

/// `POST /api/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: Role,
    /// RFC 3339; absent means the token does not expire.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// `POST /api/tokens` answer: the token's fields plus the secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: ApiToken,
    /// `tsm_...`: use as `Authorization: Bearer tsm_...`. Not retrievable later.
    pub token: String,
}

/// Whose tokens `user` may see and revoke: its own, or (admin) everyone's.
fn scope(user: &AuthUser) -> Option<uuid::Uuid> {
    (user.grants.fleet() < Some(Role::Admin)).then_some(user.id)
}

/// `POST /api/tokens {name, role, expires_at?}` → 201 with the secret in `token`; 422 naming
/// `role` when it exceeds the caller's, `expires_at` when not in the future, or `name`.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedToken),
        (status = 403, description = "Signed in with an API token (tokens cannot make tokens), or too weak a role", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (e.g. `role` above the caller's); `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    via: Option<Extension<ViaApiToken>>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    refuse_api_token(via, "create API tokens")?;
    let mut errors = Errors::default();
    let name = errors.check("name", validate::name(&body.name));
    if Some(body.role) > user.grants.strongest() {
        errors.add(
            "role",
            format!(
                "must not exceed your own role ({})",
                user.grants.strongest().map_or("none", Role::as_str)
            ),
        );
    }
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        errors.add("expires_at", "must be in the future");
    }
    errors.finish()?;
    let Some(name) = name else {
        return Err(ApiError::internal("validated name missing"));
    };
    let secret = opaque_token::generate(API_TOKEN_PREFIX);
    let info = state
        .store
        .create_api_token(
            &user.actor(),
            NewApiToken {
                name,
                role: body.role,
                user_id: user.id,
                token_hash: opaque_token::hash(secret.expose()),
                expires_at: body.expires_at,
            },
        )
        .await?;
    let token = secret.expose().to_string();
    Ok((StatusCode::CREATED, Json(CreatedToken { info, token })))
}

/// `GET /api/tokens?limit=&cursor=`: the caller's tokens (an admin's: all), never a secret.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "tokens",
    params(Paging),
    responses(
        (status = 200, description = "A page of the caller's tokens (an admin's: everyone's), never the secret", body = Page<ApiToken>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<ApiToken>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_api_tokens(scope(&user), &paging.page()?)
            .await?,
    ))
}

/// `DELETE /api/tokens/{id}` → 204; the token is refused from then on. 404 for a token that is
/// not the caller's (unless admin).
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "tokens",
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No token with this id among those the caller may see", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "token")?;
    state
        .store
        .revoke_api_token(&user.actor(), id, scope(&user))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::not_found(format!("no token with id {id}"))
            }
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
