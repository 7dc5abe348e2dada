//! `/api/grants`: roles given to a user or a group over all platforms or over those a selector
//! matches (fleet-wide admin only). The rights they give are computed in [`crate::grants`] and
//! read on every request, so a new or deleted grant applies from the subject's next request.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use crate::role::Role;
use crate::store::{Grant, GrantSubject, NewGrant, Page};

/// `POST /api/grants` body: exactly one of `user_id` and `group_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    /// The user to give the role to.
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    user_id: Option<String>,
    /// The group to give the role to (it holds for every member).
    #[serde(default)]
    #[schema(value_type = Option<Uuid>)]
    group_id: Option<String>,
    /// `viewer`, `operator` or `admin`.
    role: String,
    /// `all`, or a selector (e.g. `tag:web`; see the README's "Selectors") of the platforms the
    /// role holds on. Stored in canonical form.
    selector: String,
}

/// Query of `GET /api/grants`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only the grants given to this user (directly; not through groups).
    #[param(value_type = Option<Uuid>)]
    user_id: Option<String>,
    /// Only the grants given to this group.
    #[param(value_type = Option<Uuid>)]
    group_id: Option<String>,
}

/// An optional UUID field: `None` when absent or empty; an error names `field`.
fn uuid_field(errors: &mut Errors, field: &str, text: Option<&str>) -> Option<Uuid> {
    let text = text.filter(|t| !t.is_empty())?;
    errors.check(field, Uuid::parse_str(text).map_err(|_| "is not a UUID"))
}

/// `GET /api/grants?user_id=&group_id=&limit=&cursor=` (admin): grants, newest first.
#[utoipa::path(
    get,
    path = "/api/grants",
    tag = "grants",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of grants, newest first", body = Page<Grant>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Grant>>, ApiError> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let mut errors = Errors::default();
    let user = uuid_field(&mut errors, "user_id", query.user_id.as_deref());
    let group = uuid_field(&mut errors, "group_id", query.group_id.as_deref());
    if user.is_some() && group.is_some() {
        errors.add("group_id", "give user_id or group_id, not both");
    }
    errors.finish()?;
    let subject = user
        .map(GrantSubject::User)
        .or(group.map(GrantSubject::Group));
    Ok(Json(state.store.list_grants(subject, &page).await?))
}

/// `POST /api/grants {user_id | group_id, role, selector}` (admin) → 201; audited as
/// `grant.create`. 422 naming `role`, `selector` (with the position of a syntax error),
/// `user_id` or `group_id` (not a UUID, names nobody, both or neither given); 409 when the
/// subject already has this role on this selector.
#[utoipa::path(
    post,
    path = "/api/grants",
    tag = "grants",
    request_body = CreateGrant,
    responses(
        (status = 201, description = "Given; it applies from the subject's next request", body = Grant),
        (status = 409, description = "The subject already has this role on this selector", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateGrant>,
) -> Result<(StatusCode, Json<Grant>), ApiError> {
    let mut errors = Errors::default();
    let role = errors.check("role", body.role.parse::<Role>());
    let selector = match body.selector.trim() {
        "" => {
            errors.add(
                "selector",
                "is required: all, or a selector such as tag:web",
            );
            None
        }
        text => errors.check("selector", text.parse::<crate::selector::Selector>()),
    };
    let subject_user = uuid_field(&mut errors, "user_id", body.user_id.as_deref());
    let subject_group = uuid_field(&mut errors, "group_id", body.group_id.as_deref());
    let subject = match (subject_user, subject_group) {
        (Some(id), None) => {
            if state.store.get_user(id).await?.is_none() {
                errors.add("user_id", format!("no user with id {id}"));
            }
            Some(GrantSubject::User(id))
        }
        (None, Some(id)) => {
            if state.store.get_group(id).await?.is_none() {
                errors.add("group_id", format!("no group with id {id}"));
            }
            Some(GrantSubject::Group(id))
        }
        (Some(_), Some(_)) => {
            errors.add("group_id", "give user_id or group_id, not both");
            None
        }
        (None, None) => {
            if body.user_id.is_none() && body.group_id.is_none() {
                errors.add("user_id", "user_id or group_id is required");
            }
            None
        }
    };
    errors.finish()?;
    let (Some(subject), Some(role), Some(selector)) = (subject, role, selector) else {
        return Err(ApiError::internal("validated grant missing"));
    };
    let grant = state
        .store
        .create_grant(
            &user.actor(),
            NewGrant {
                subject,
                role,
                selector,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(grant)))
}

/// `DELETE /api/grants/{id}` (admin) → 204; audited as `grant.delete`. The subject loses what it
/// gave from its next request (a WebSocket already open keeps the platforms it showed).
#[utoipa::path(
    delete,
    path = "/api/grants/{id}",
    tag = "grants",
    params(("id" = Uuid, Path, description = "The grant's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No grant with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "grant")?;
    state.store.delete_grant(&user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
