//! `/api/groups`: local groups of users (fleet-wide admin only). A grant given to a group
//! (`POST /api/grants {group_id, ...}`) holds for each member. Groups of a sign-in provider
//! (`source` other than `local`) are listed and granted like the others, but their members
//! change only when their users sign in (409 here).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use crate::store::{Group, GroupDetail, GroupPatch, LOCAL_GROUPS, Page};
use crate::validate;

/// Most members one `PATCH` may list.
pub const MAX_MEMBERS: usize = 10_000;

/// `POST /api/groups` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// 1 to 100 characters; unique among local groups whatever its case.
    name: String,
}

/// `PATCH /api/groups/{id}` body: each field optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchGroup {
    #[serde(default)]
    name: Option<String>,
    /// The whole new member list: user ids (UUIDs), at most 10 000; `[]` empties the group.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>)]
    members: Option<Vec<String>>,
}

/// `GET /api/groups?limit=&cursor=` (admin): groups, newest first, with their member counts.
#[utoipa::path(
    get,
    path = "/api/groups",
    tag = "groups",
    params(Paging),
    responses(
        (status = 200, description = "A page of groups, newest first", body = Page<Group>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Group>>, ApiError> {
    Ok(Json(state.store.list_groups(&paging.page()?).await?))
}

/// `POST /api/groups {name}` (admin) → 201, an empty local group; audited as `group.create`.
#[utoipa::path(
    post,
    path = "/api/groups",
    tag = "groups",
    request_body = CreateGroup,
    responses(
        (status = 201, description = "Created, without members", body = GroupDetail),
        (status = 409, description = "A local group of this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<(StatusCode, Json<GroupDetail>), ApiError> {
    let name = validate::name(&body.name).map_err(|e| ApiError::field("name", e))?;
    let group = state
        .store
        .create_group(&user.actor(), &name, LOCAL_GROUPS)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GroupDetail {
            group,
            members: Vec::new(),
        }),
    ))
}

/// The group with path id `id`, or a 404 naming it.
async fn find(state: &AppState, id: &str) -> Result<GroupDetail, ApiError> {
    let id = parse_id(id, "group")?;
    state
        .store
        .get_group(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no group with id {id}")))
}

/// `GET /api/groups/{id}` (admin): the group with its members.
#[utoipa::path(
    get,
    path = "/api/groups/{id}",
    tag = "groups",
    params(("id" = Uuid, Path, description = "The group's id")),
    responses((status = 200, description = "The group with its members", body = GroupDetail), (status = 404, description = "No group with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<GroupDetail>, ApiError> {
    find(&state, &id).await.map(Json)
}

/// `PATCH /api/groups/{id} {name?, members?}` (admin) → the group; audited as `group.update`
/// with the users added and removed. The new members' grants apply from their next request.
#[utoipa::path(
    patch,
    path = "/api/groups/{id}",
    tag = "groups",
    params(("id" = Uuid, Path, description = "The group's id")),
    request_body = PatchGroup,
    responses(
        (status = 200, description = "The changed group", body = GroupDetail),
        (status = 404, description = "No group with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken, or a sign-in provider manages the members", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (a member that is not a user names `members[i]`); `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchGroup>,
) -> Result<Json<GroupDetail>, ApiError> {
    let group = find(&state, &id).await?;
    let mut errors = Errors::default();
    let name = match &body.name {
        Some(name) => errors.check("name", validate::name(name)),
        None => None,
    };
    let members = match &body.members {
        Some(ids) => Some(members(&state, &mut errors, ids).await?),
        None => None,
    };
    errors.finish()?;
    let patch = GroupPatch { name, members };
    Ok(Json(
        state
            .store
            .update_group(&user.actor(), group.group.id, patch)
            .await?,
    ))
}

/// The user ids of `members`; each id that is not a UUID or names no user is added to `errors`
/// as `members[i]`.
async fn members(
    state: &AppState,
    errors: &mut Errors,
    ids: &[String],
) -> Result<Vec<Uuid>, ApiError> {
    if ids.len() > MAX_MEMBERS {
        errors.add("members", format!("at most {MAX_MEMBERS} members"));
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(ids.len());
    for (i, text) in ids.iter().enumerate() {
        match Uuid::parse_str(text) {
            Ok(id) => out.push((i, id)),
            Err(_) => errors.add(&format!("members[{i}]"), "is not a UUID"),
        }
    }
    let wanted: Vec<Uuid> = out.iter().map(|(_, id)| *id).collect();
    let known = state.store.usernames(&wanted).await?;
    for (i, id) in &out {
        if !known.contains_key(id) {
            errors.add(&format!("members[{i}]"), format!("no user with id {id}"));
        }
    }
    Ok(wanted)
}

/// `DELETE /api/groups/{id}` (admin) → 204; its memberships and grants go with it (audited as
/// `group.delete` with the number of grants).
#[utoipa::path(
    delete,
    path = "/api/groups/{id}",
    tag = "groups",
    params(("id" = Uuid, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted, with its memberships and grants"),
        (status = 404, description = "No group with this id", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id, "group")?;
    state.store.delete_group(&user.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
