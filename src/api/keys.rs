//! `/api/keys`: the key registry.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use crate::keys::PublicKey;
use crate::store::{Key, KeyFilter, KeyPatch, NewKey, NewTask, Page, TaskKind, TaskParams};
use crate::validate;

/// `POST /api/keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for people, unique is not required.
    name: String,
    /// One OpenSSH line (`type base64 [comment]`, options allowed) or an RFC 4716 block.
    public_key: String,
    #[serde(default)]
    owner: Option<String>,
    /// RFC 3339; must be in the future.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// `PATCH /api/keys/{id}` body; `null` clears `owner` or `expires_at`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    owner: Option<Option<String>>,
    /// RFC 3339; must be in the future.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    expires_at: Option<Option<DateTime<Utc>>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
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
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Registered", body = Key),
        (status = 409, description = "This key is already registered (the answer names it)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<Key>), ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", validate::key_name(&body.name));
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

/// Query of `GET /api/keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only keys that expire within this many days (0 to 3650), or that have an assignment whose
    /// `expiry-time` does, soonest first, at most `limit` (one page, no cursor).
    #[param(value_type = Option<u32>, maximum = 3650)]
    pub expiring_within_days: Option<String>,
    /// Only keys whose name, comment or fingerprint contains this text (case-insensitive; at
    /// most 200 characters).
    #[serde(default)]
    pub q: Option<String>,
    /// Only keys of this owner (exact match).
    #[serde(default)]
    pub owner: Option<String>,
}

/// Longest substring filter (`q=`, `*_contains=`) a list accepts, in characters.
pub const MAX_FILTER_CHARS: usize = 200;

/// A substring filter from query field `field`: `None` when absent or empty, else the text
/// (trimmed); longer than [`MAX_FILTER_CHARS`] is an error under `field`.
pub fn substring(errors: &mut Errors, field: &str, value: Option<&str>) -> Option<String> {
    let text = value.map(str::trim).filter(|t| !t.is_empty())?;
    if text.chars().count() > MAX_FILTER_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_FILTER_CHARS} characters"),
        );
        return None;
    }
    Some(text.to_owned())
}

impl KeyListQuery {
    /// The query of the first page of keys matching `filter` (the UI's pages and pickers).
    pub fn first_page(limit: u32, q: Option<String>, owner: Option<String>) -> KeyListQuery {
        KeyListQuery {
            limit: Some(limit.to_string()),
            cursor: None,
            expiring_within_days: None,
            q,
            owner,
        }
    }
}

/// `GET /api/keys?q=&owner=&limit=&cursor=`, or `?expiring_within_days=N`. Send the same
/// filters with `cursor` for the next page; `q` and `owner` do not combine with
/// `expiring_within_days` (422).
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    params(KeyListQuery),
    responses(
        (status = 200, description = "A page of keys, newest first (expiring soonest first with `expiring_within_days`)", body = Page<Key>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<KeyListQuery>,
) -> Result<Json<Page<Key>>, ApiError> {
    let mut errors = Errors::default();
    let filter = KeyFilter {
        q: substring(&mut errors, "q", query.q.as_deref()),
        owner: query.owner.filter(|o| !o.is_empty()),
    };
    let expiring = query
        .expiring_within_days
        .as_deref()
        .is_some_and(|d| !d.is_empty());
    if expiring && (filter.q.is_some() || filter.owner.is_some()) {
        errors.add("expiring_within_days", "does not combine with q or owner");
    }
    errors.finish()?;
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    match query
        .expiring_within_days
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        None => Ok(Json(state.store.list_keys(&filter, &page).await?)),
        Some(days) => {
            let days = days
                .parse::<u32>()
                .ok()
                .filter(|d| *d <= 3650)
                .ok_or_else(|| {
                    ApiError::field(
                        "expiring_within_days",
                        "must be a whole number from 0 to 3650",
                    )
                })?;
            let items = state
                .store
                .expiring_keys(
                    Utc::now(),
                    chrono::Duration::days(i64::from(days)),
                    page.limit,
                )
                .await?;
            Ok(Json(Page {
                items,
                next_cursor: None,
            }))
        }
    }
}

/// `GET /api/keys/{id}`.
#[utoipa::path(
    get,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses((status = 200, description = "The key", body = Key), (status = 404, description = "No key with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
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
#[utoipa::path(
    patch,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    request_body = PatchKey,
    responses((status = 200, description = "The changed key", body = Key), (status = 404, description = "No key with this id", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"))
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchKey>,
) -> Result<Json<Key>, ApiError> {
    let id = parse_id(&id, "key")?;
    let mut errors = Errors::default();
    let name = match &body.name {
        Some(name) => errors.check("name", validate::key_name(name)),
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
#[utoipa::path(
    delete,
    path = "/api/keys/{id}",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No key with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is still assigned to a platform", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
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

/// `POST /api/keys/{id}/replace` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceKey {
    /// The key that takes this key's place (UUID of a registered key).
    #[schema(value_type = Uuid)]
    new_key_id: String,
    /// Targets in flight at once, 1 to 1000 (default 50).
    #[serde(default)]
    concurrency: Option<i64>,
}

/// `POST /api/keys/{id}/replace {new_key_id}` → 202 `{task_id}`: one `replace_key` task over
/// every platform where this key is assigned. Each platform's sync adds the new key (with the
/// old assignment's options) and removes the old one in one atomic write, so the old key leaves
/// only where the new one landed; a failed target is a platform that still has the old key
/// (its assignment stays `revoking` until a later sync succeeds).
#[utoipa::path(
    post,
    path = "/api/keys/{id}/replace",
    tag = "keys",
    params(("id" = Uuid, Path, description = "The key to replace")),
    request_body = ReplaceKey,
    responses(
        (status = 202, description = "Queued; `Location` names the task", body = super::tasks::TaskAccepted),
        (status = 404, description = "No key with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is assigned to no platform", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReplaceKey>,
) -> Result<axum::response::Response, ApiError> {
    let old = parse_id(&id, "key")?;
    let old_key = state
        .store
        .get_key(old)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no key with id {old}")))?;
    let mut errors = Errors::default();
    let new = match uuid::Uuid::parse_str(&body.new_key_id) {
        Ok(new) if new == old => {
            errors.add("new_key_id", "is the key being replaced");
            None
        }
        Ok(new) => Some(new),
        Err(_) => {
            errors.add("new_key_id", "is not a UUID");
            None
        }
    };
    let concurrency = super::tasks::concurrency(&mut errors, body.concurrency);
    errors.finish()?;
    let Some(new) = new else {
        return Err(ApiError::internal("validated key id missing"));
    };
    let Some(new_key) = state.store.get_key(new).await? else {
        return Err(ApiError::field(
            "new_key_id",
            format!("no key with id {new}"),
        ));
    };
    // A rotation hands the old key's logins to the new one: same person, same restrictions.
    if new_key.owner != old_key.owner {
        let whose = |owner: &Option<String>| match owner {
            Some(owner) => format!("belongs to {owner:?}"),
            None => "has no owner".to_owned(),
        };
        return Err(ApiError::field(
            "new_key_id",
            format!(
                "{} while the replaced key {}; a replacement keeps the owner (set it with PATCH \
                 /api/keys/{{id}} first)",
                whose(&new_key.owner),
                whose(&old_key.owner)
            ),
        ));
    }
    // A rotation acts on every platform the old key is on: the role on all of them, or nothing.
    let platforms = state.store.platforms_with_keys(&[old], false).await?;
    let ids: Vec<uuid::Uuid> = platforms.iter().map(|(id, _)| *id).collect();
    super::scope::require_on(&state, &user, crate::role::Role::Operator, &ids).await?;
    let conflicts = state.store.replacement_conflicts(old, new).await?;
    if !conflicts.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "key {:?} is already assigned with other options on {}; replacing would change \
                 its restrictions there: deploy it with the options you want, or revoke it there \
                 first",
                new_key.name,
                conflicts.join(", ")
            ),
        ));
    }
    if platforms.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "key {:?} is assigned to no platform; nothing to replace",
                old_key.name
            ),
        ));
    }
    let task = NewTask {
        kind: TaskKind::ReplaceKey,
        platforms,
        params: TaskParams {
            key_ids: vec![new],
            replaces: Some(old),
            ..TaskParams::default()
        },
        concurrency,
    };
    super::tasks::create_and_accept(&state, &user, task).await
}
