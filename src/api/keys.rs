//! `/api/keys`: the key registry.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors};
use super::extract::{ApiJson, ApiQuery, Paging, parse_id};
use crate::keys::PublicKey;
use crate::store::{Key, KeyPatch, NewKey, Page};
use crate::validate;

/// `POST /api/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    public_key: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// `PATCH /api/keys/{id}` body; `null` clears `owner` or `expires_at`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, with = "double_option")]
    owner: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    expires_at: Option<Option<DateTime<Utc>>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

fn future(errors: &mut Errors, at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    if let Some(at) = at
        && at <= Utc::now()
    {
        errors.add("expires_at", "must be in the future");
    }
    at
}

/// `POST /api/keys` → 201 with the key.
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<Key>), ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", validate::name(&body.name));
    let key = errors.check("public_key", PublicKey::parse(&body.public_key));
    let owner = errors.check("owner", validate::optional_text(body.owner.as_deref()));
    let expires_at = future(&mut errors, body.expires_at);
    errors.finish()?;
    let (Some(name), Some(key), Some(owner)) = (name, key, owner) else {
        return Err(ApiError::internal("validated values missing"));
    };
    let new = NewKey {
        name,
        public_key: key.line,
        key_type: key.key_type,
        fingerprint: key.fingerprint,
        bits: key.bits,
        comment: key.comment,
        owner,
        expires_at,
    };
    let fingerprint = new.fingerprint.clone();
    match state.store.create_key(&user.actor(), new).await {
        Ok(key) => Ok((StatusCode::CREATED, Json(key))),
        Err(crate::store::StoreError::Conflict(message)) => {
            let existing = state.store.key_by_fingerprint(&fingerprint).await?;
            Err(ApiError::new(
                StatusCode::CONFLICT,
                match existing {
                    Some(key) => format!(
                        "this key ({fingerprint}) is already registered as '{}' (id {})",
                        key.name, key.id
                    ),
                    None => message,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /api/keys?limit=&cursor=`.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Key>>, ApiError> {
    Ok(Json(state.store.list_keys(&paging.page()?).await?))
}

/// `GET /api/keys/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Key>, ApiError> {
    let id = parse_id(&id, "key")?;
    state
        .store
        .get_key(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no key with id {id}")))
}

/// `PATCH /api/keys/{id}`: name, owner, expiry.
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchKey>,
) -> Result<Json<Key>, ApiError> {
    let id = parse_id(&id, "key")?;
    let mut errors = Errors::default();
    let name = match &body.name {
        Some(name) => errors.check("name", validate::name(name)),
        None => None,
    };
    let owner = match &body.owner {
        Some(owner) => errors.check("owner", validate::optional_text(owner.as_deref())),
        None => None,
    };
    let expires_at = body.expires_at.map(|at| future(&mut errors, at));
    errors.finish()?;
    let patch = KeyPatch {
        name,
        owner,
        expires_at,
    };
    match state.store.patch_key(&user.actor(), id, patch).await {
        Err(crate::store::StoreError::NotFound) => {
            Err(ApiError::not_found(format!("no key with id {id}")))
        }
        other => Ok(Json(other?)),
    }
}

/// `DELETE /api/keys/{id}` → 204; 409 while the key is still assigned somewhere.
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "key")?;
    match state.store.delete_key(&user.actor(), id).await {
        Err(crate::store::StoreError::NotFound) => {
            Err(ApiError::not_found(format!("no key with id {id}")))
        }
        other => other
            .map(|()| StatusCode::NO_CONTENT)
            .map_err(ApiError::from),
    }
}
