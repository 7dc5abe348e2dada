//! `/api/notifications`: webhook endpoints (admin only) and their deliveries.
//!
//! An endpoint's URL and secret are write-only: they are sealed under the master key, and answers
//! show only the URL's `scheme://host[:port]` (`url_origin`) and `has_secret`, since a URL may
//! carry a token in its path (Slack's do). See [`crate::notify`] for delivery, retries and the
//! signature.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use super::keys::double_option;
use crate::notify::{Target, open_target, parse_url, seal_target};
use crate::secret::Secret;
use crate::store::{
    Delivery, EndpointPatch, NewEndpoint, NotificationEndpoint, NotificationEvent,
    NotificationFormat, Page, StoreError,
};
use crate::validate;

/// Longest accepted secret, in bytes.
const MAX_SECRET: usize = 1000;

/// `POST /api/notifications` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    name: String,
    /// `http://` or `https://` URL the events are POSTed to. Write-only.
    #[schema(value_type = String, format = Password)]
    url: Secret,
    /// Event words: `task.failed`, `task.succeeded`, `drift.found`, `host_key.mismatch`,
    /// `key.expiring`, `key.expired`, `schedule.failed` (at least one).
    events: Vec<String>,
    /// `json` (default) or `slack`.
    #[serde(default)]
    format: Option<String>,
    /// HMAC-SHA-256 key for `X-Testum-Signature`; absent or empty: unsigned. Write-only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    secret: Option<Secret>,
    /// Default true.
    #[serde(default)]
    enabled: Option<bool>,
}

/// `PATCH /api/notifications/{id}` body; absent fields stay, `secret: null` removes the secret.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchEndpoint {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    url: Option<Secret>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    format: Option<String>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>, format = Password)]
    secret: Option<Option<Secret>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `POST /api/notifications/{id}/test` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedTest {
    /// The queued delivery (see `GET /api/notifications/{id}/deliveries`).
    pub delivery_id: Uuid,
}

fn check_events(errors: &mut Errors, words: &[String]) -> Option<Vec<NotificationEvent>> {
    if words.is_empty() {
        errors.add("events", "must name at least one event");
        return None;
    }
    let mut events = Vec::new();
    let mut ok = true;
    for (i, word) in words.iter().enumerate() {
        match word.parse::<NotificationEvent>() {
            Ok(event) if !events.contains(&event) => events.push(event),
            Ok(_) => {}
            Err(e) => {
                errors.add(&format!("events[{i}]"), format!("{word:?}: {e}"));
                ok = false;
            }
        }
    }
    ok.then_some(events)
}

fn check_format(errors: &mut Errors, word: Option<&str>) -> Option<NotificationFormat> {
    match word {
        None => Some(NotificationFormat::Json),
        Some(word) => errors.check("format", word.parse::<NotificationFormat>()),
    }
}

/// The signing secret: absent is none (unsigned deliveries); an empty or blank one is refused
/// rather than quietly meaning "unsigned".
fn check_secret(errors: &mut Errors, secret: Option<Secret>) -> Option<Secret> {
    let secret = secret?;
    if secret.expose().trim().is_empty() {
        errors.add(
            "secret",
            "must not be empty (leave it out, or null, for unsigned deliveries)",
        );
        return None;
    }
    if secret.expose().len() > MAX_SECRET {
        errors.add("secret", format!("must be at most {MAX_SECRET} bytes"));
        return None;
    }
    Some(secret)
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no notification endpoint with id {id}"))
}

fn or_not_found(id: Uuid) -> impl FnOnce(StoreError) -> ApiError {
    move |e| match e {
        StoreError::NotFound => not_found(id),
        e => e.into(),
    }
}

/// `POST /api/notifications` → 201 with the endpoint (never its URL or secret); 422 naming
/// `url` (not http or https), `events[i]` (unknown word), `format` or `name`; 409 for a taken
/// name.
#[utoipa::path(
    post,
    path = "/api/notifications",
    tag = "notifications",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created", body = NotificationEndpoint),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<NotificationEndpoint>), ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", validate::name(&body.name));
    let origin = errors.check("url", parse_url(body.url.expose()));
    let events = check_events(&mut errors, &body.events);
    let format = check_format(&mut errors, body.format.as_deref());
    let secret = check_secret(&mut errors, body.secret);
    errors.finish()?;
    let (Some(name), Some(url_origin), Some(events), Some(format)) = (name, origin, events, format)
    else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let id = Uuid::new_v4();
    let target = Target {
        url: Secret::new(body.url.expose().trim()),
        secret,
    };
    let new = NewEndpoint {
        id,
        name,
        url_origin,
        sealed: seal_target(&state.master_key, id, &target),
        has_secret: target.secret.is_some(),
        events,
        format,
        enabled: body.enabled.unwrap_or(true),
    };
    let endpoint = state
        .store
        .create_notification_endpoint(&user.actor(), new)
        .await?;
    Ok((StatusCode::CREATED, Json(endpoint)))
}

/// `GET /api/notifications?limit=&cursor=`: endpoints, newest first.
#[utoipa::path(
    get,
    path = "/api/notifications",
    tag = "notifications",
    params(Paging),
    responses(
        (status = 200, description = "A page of endpoints (never a URL path or secret)", body = Page<NotificationEndpoint>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<NotificationEndpoint>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_notification_endpoints(&paging.page()?)
            .await?,
    ))
}

/// `GET /api/notifications/{id}`.
#[utoipa::path(
    get,
    path = "/api/notifications/{id}",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = NotificationEndpoint),
        (status = 404, description = "No endpoint with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<NotificationEndpoint>, ApiError> {
    let id = parse_id(&id, "notification endpoint")?;
    let endpoint = state.store.notification_endpoint(id).await?;
    endpoint.map(Json).ok_or_else(|| not_found(id))
}

/// `PATCH /api/notifications/{id}`: change any field; a new `url` or `secret` is sealed again
/// with the other kept.
#[utoipa::path(
    patch,
    path = "/api/notifications/{id}",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = PatchEndpoint,
    responses(
        (status = 200, description = "The changed endpoint", body = NotificationEndpoint),
        (status = 404, description = "No endpoint with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchEndpoint>,
) -> Result<Json<NotificationEndpoint>, ApiError> {
    let id = parse_id(&id, "notification endpoint")?;
    let mut errors = Errors::default();
    let mut patch = EndpointPatch {
        enabled: body.enabled,
        ..EndpointPatch::default()
    };
    if let Some(name) = &body.name {
        patch.name = errors.check("name", validate::name(name));
    }
    let origin = body
        .url
        .as_ref()
        .and_then(|url| errors.check("url", parse_url(url.expose())));
    if let Some(words) = &body.events {
        patch.events = check_events(&mut errors, words);
    }
    if let Some(word) = &body.format {
        patch.format = check_format(&mut errors, Some(word));
    }
    let secret = body.secret.map(|s| check_secret(&mut errors, s));
    errors.finish()?;
    if body.url.is_some() || secret.is_some() {
        let sealed = state
            .store
            .notification_endpoint_sealed(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let old = open_target(&state.master_key, id, &sealed).map_err(ApiError::internal)?;
        let origin = match origin {
            Some(origin) => origin,
            None => parse_url(old.url.expose()).map_err(ApiError::internal)?,
        };
        let target = Target {
            url: body
                .url
                .map(|url| Secret::new(url.expose().trim()))
                .unwrap_or(old.url),
            secret: secret.unwrap_or(old.secret),
        };
        let has_secret = target.secret.is_some();
        patch.target = Some((
            origin,
            seal_target(&state.master_key, id, &target),
            has_secret,
        ));
    }
    let endpoint = state
        .store
        .update_notification_endpoint(&user.actor(), id, patch)
        .await
        .map_err(or_not_found(id))?;
    Ok(Json(endpoint))
}

/// `DELETE /api/notifications/{id}` → 204; its queued deliveries go with it.
#[utoipa::path(
    delete,
    path = "/api/notifications/{id}",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Deleted, with its deliveries"),
        (status = 404, description = "No endpoint with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "notification endpoint")?;
    state
        .store
        .delete_notification_endpoint(&user.actor(), id)
        .await
        .map_err(or_not_found(id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/notifications/{id}/test` → 202: a `test` delivery is queued (sent within a second
/// or so by a worker, even when the endpoint subscribes to no event; not while it is disabled).
#[utoipa::path(
    post,
    path = "/api/notifications/{id}/test",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    responses(
        (status = 202, description = "A test delivery is queued", body = QueuedTest),
        (status = 404, description = "No endpoint with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn test(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<QueuedTest>), ApiError> {
    let id = parse_id(&id, "notification endpoint")?;
    let delivery_id = state
        .store
        .queue_test_notification(&user.actor(), id)
        .await
        .map_err(or_not_found(id))?;
    Ok((StatusCode::ACCEPTED, Json(QueuedTest { delivery_id })))
}

/// `GET /api/notifications/{id}/deliveries?limit=&cursor=`: deliveries newest first, each with
/// its attempts (time, HTTP status, error, first 1 KiB of the answer, duration).
#[utoipa::path(
    get,
    path = "/api/notifications/{id}/deliveries",
    tag = "notifications",
    params(("id" = Uuid, Path, description = "The endpoint's id"), Paging),
    responses(
        (status = 200, description = "A page of deliveries with their attempts", body = Page<Delivery>),
        (status = 404, description = "No endpoint with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let id = parse_id(&id, "notification endpoint")?;
    if state.store.notification_endpoint(id).await?.is_none() {
        return Err(not_found(id));
    }
    Ok(Json(
        state.store.list_deliveries(id, &paging.page()?).await?,
    ))
}
