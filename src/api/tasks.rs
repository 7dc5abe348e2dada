//! `/api/tasks` and the per-platform shortcuts (`deploy_keys`, `revoke_keys`, `run_command`):
//! queue work over one or many platforms, follow it, read its output, cancel it.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, bounded_limit, parse_id};
use super::scope::{Visible, visible_platforms};
use crate::authorized_keys::KeyOptions;
use crate::role::Role;
use crate::selector::Selector;
use crate::store::{EventKind, NewTask, Page, Task, TaskFilter, TaskKind, TaskParams};
use crate::validate;

/// Largest per-task concurrency and default.
pub const MAX_CONCURRENCY: u32 = 1000;
pub const DEFAULT_CONCURRENCY: u32 = 50;
/// Largest command timeout, in seconds (one day).
pub const MAX_TIMEOUT_S: u32 = 86_400;
/// Largest command, in bytes.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Most platforms in one task.
pub const MAX_PLATFORMS: usize = 10_000;

/// `POST /api/tasks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// `deploy_keys`, `revoke_keys`, `run_command`, `scan` or `sync` (converge each platform on
    /// its assignments, changing none).
    kind: String,
    /// Platform ids (UUIDs), at least one, at most 10 000 (optional for `revoke_keys` with
    /// `owner`: then every platform where one of the owner's keys is assigned).
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>)]
    platform_ids: Option<Vec<String>>,
    /// Instead of `platform_ids`: every platform this selector matches when the task is created
    /// (e.g. `tag:web and not tag:db`; see the README's "Selectors"). A selector matching nothing
    /// is a 422; the task stores it in canonical form. With `owner` it narrows the offboarding
    /// like `platform_ids`.
    #[serde(default)]
    selector: Option<String>,
    /// For `revoke_keys` instead of `key_ids` (offboarding): every key of this owner (exact
    /// match), on every platform where one is assigned unless `platform_ids` narrows it.
    #[serde(default)]
    owner: Option<String>,
    /// Key ids (UUIDs), for `deploy_keys` and `revoke_keys`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Uuid>>)]
    key_ids: Option<Vec<String>>,
    /// For `run_command`: run by the login shell, at most 64 KiB.
    #[serde(default)]
    command: Option<String>,
    /// For `run_command`: seconds, 1 to 86 400.
    #[serde(default)]
    timeout_s: Option<i64>,
    /// Targets in flight at once, 1 to 1000 (default 50).
    #[serde(default)]
    concurrency: Option<i64>,
    /// For `deploy_keys`: authorized_keys options per key id (each a key of `key_ids`), e.g.
    /// `{"<key id>": {"from": "10.0.0.0/8", "restrict": true}}`. A key left out keeps the options
    /// it has where it is already assigned (none where it is new); `{}` clears them.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<Uuid, KeyOptions>>)]
    options: Option<BTreeMap<String, KeyOptions>>,
    /// For `deploy_keys` and `revoke_keys`: `true` only shows, per target, the diff of the
    /// authorized_keys the task would write; nothing is written and no assignment changes.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/platforms/{id}/deploy_keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployKeys {
    /// Key ids (UUIDs), at least one.
    #[schema(value_type = Vec<Uuid>)]
    key_ids: Vec<String>,
    /// authorized_keys options per key id, as in `POST /api/tasks`.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<Uuid, KeyOptions>>)]
    options: Option<BTreeMap<String, KeyOptions>>,
    /// `true`: only show the diff the deploy would make.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/platforms/{id}/revoke_keys` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyIds {
    /// Key ids (UUIDs), at least one.
    #[schema(value_type = Vec<Uuid>)]
    key_ids: Vec<String>,
    /// `true`: only show the diff the revoke would make.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/platforms/{id}/run_command` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// Run by the login shell, at most 64 KiB.
    command: String,
    /// Seconds, 1 to 86 400.
    #[serde(default)]
    timeout_s: Option<i64>,
}

/// The answer to a queued or cancelled task.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaskAccepted {
    task_id: Uuid,
}

fn parse_ids(errors: &mut Errors, field: &str, ids: &[String]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match Uuid::parse_str(id) {
            Ok(id) => {
                if seen.insert(id) {
                    out.push(id);
                }
            }
            Err(_) => errors.add(&format!("{field}[{i}]"), "is not a UUID"),
        }
    }
    out
}

/// The options of `body.options` by key id, each checked with sshd's rules (errors name
/// `options.<key id>.<option>`) and each for a key of `key_ids`.
fn check_options(
    errors: &mut Errors,
    options: &BTreeMap<String, KeyOptions>,
    key_ids: &[Uuid],
) -> BTreeMap<Uuid, KeyOptions> {
    let mut out = BTreeMap::new();
    for (id, opts) in options {
        let field = format!("options.{id}");
        let Ok(key_id) = Uuid::parse_str(id) else {
            errors.add(&field, "is not a UUID");
            continue;
        };
        if !key_ids.contains(&key_id) {
            errors.add(&field, "names a key that is not in key_ids");
            continue;
        }
        match opts.render() {
            Ok(_) => {
                out.insert(key_id, opts.clone());
            }
            Err(e) => errors.add(&format!("{field}.{}", e.option), e.message),
        }
    }
    out
}

/// A `run_command`'s `command` (required, not blank, at most 64 KiB, no NUL) and `timeout_s`
/// (1 to 86 400 seconds, optional); an error names the field.
pub(super) fn command_and_timeout(
    errors: &mut Errors,
    command: Option<&str>,
    timeout_s: Option<i64>,
) -> (Option<String>, Option<u32>) {
    let command = match command {
        None => {
            errors.add("command", "is required for run_command");
            None
        }
        Some(c) if c.trim().is_empty() => {
            errors.add("command", "must not be blank");
            None
        }
        Some(c) if c.len() > MAX_COMMAND_BYTES => {
            errors.add(
                "command",
                format!("must be at most {MAX_COMMAND_BYTES} bytes"),
            );
            None
        }
        Some(c) if c.contains('\0') => {
            errors.add("command", "must not contain NUL");
            None
        }
        Some(c) => Some(c.to_string()),
    };
    let timeout_s = timeout_s.and_then(|t| {
        let valid = u32::try_from(t)
            .ok()
            .filter(|t| (1..=MAX_TIMEOUT_S).contains(t));
        if valid.is_none() {
            errors.add(
                "timeout_s",
                format!("must be from 1 to {MAX_TIMEOUT_S} seconds"),
            );
        }
        valid
    });
    (command, timeout_s)
}

/// A task's `concurrency`: 1 to 1000, default 50 (an error names the field).
pub(super) fn concurrency(errors: &mut Errors, value: Option<i64>) -> u32 {
    match value {
        None => DEFAULT_CONCURRENCY,
        Some(c) => match u32::try_from(c)
            .ok()
            .filter(|c| (1..=MAX_CONCURRENCY).contains(c))
        {
            Some(c) => c,
            None => {
                errors.add(
                    "concurrency",
                    format!("must be from 1 to {MAX_CONCURRENCY}"),
                );
                DEFAULT_CONCURRENCY
            }
        },
    }
}

/// Validate and queue a task; answers 202 `{task_id}`.
async fn queue(state: &AppState, user: &AuthUser, body: CreateTask) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let given = body.platform_ids.as_deref().unwrap_or_default();
    let platform_ids = parse_ids(&mut errors, "platform_ids", given);
    let by_owner = body.owner.is_some() && body.kind == TaskKind::RevokeKeys.as_str();
    let selector =
        super::platforms::selector_field(&mut errors, "selector", body.selector.as_deref());
    // An empty list is never "everywhere": a script whose filter came out empty must not
    // offboard the whole fleet. Only an offboarding may leave the field out.
    if body.selector.is_some() {
        if body.platform_ids.is_some() {
            errors.add("selector", "give platform_ids or selector, not both");
        } else if body
            .selector
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            errors.add("selector", "must not be blank");
        }
    } else if given.is_empty() && (body.platform_ids.is_some() || !by_owner) {
        errors.add("platform_ids", "must name at least one platform");
    } else if platform_ids.len() > MAX_PLATFORMS {
        errors.add(
            "platform_ids",
            format!("at most {MAX_PLATFORMS} platforms per task"),
        );
    }
    let key_ids = parse_ids(
        &mut errors,
        "key_ids",
        body.key_ids.as_deref().unwrap_or_default(),
    );
    let mut params = TaskParams::default();
    let kind = errors.check("kind", body.kind.parse::<TaskKind>());
    match kind {
        Some(TaskKind::DeployKeys | TaskKind::RevokeKeys) => {
            if by_owner {
                if body.key_ids.is_some() {
                    errors.add("key_ids", "give key_ids or owner, not both");
                }
                match validate::optional_text(body.owner.as_deref()) {
                    Ok(Some(owner)) => params.owner = Some(owner),
                    Ok(None) => errors.add("owner", "must not be blank"),
                    Err(e) => errors.add("owner", e),
                }
            } else if body.key_ids.as_ref().is_none_or(Vec::is_empty) {
                errors.add(
                    "key_ids",
                    format!("must name at least one key for {}", body.kind),
                );
            }
            if body.command.is_some() || body.timeout_s.is_some() {
                errors.add("command", format!("is not used by {}", body.kind));
            }
            params.key_ids = key_ids.clone();
            params.dry_run = body.dry_run;
            match (&body.options, kind) {
                (Some(options), Some(TaskKind::DeployKeys)) => {
                    params.options = check_options(&mut errors, options, &key_ids);
                }
                (Some(_), _) => errors.add("options", format!("is not used by {}", body.kind)),
                (None, _) => {}
            }
        }
        Some(TaskKind::RunCommand) => {
            if body.key_ids.is_some() {
                errors.add("key_ids", "is not used by run_command");
            }
            (params.command, params.timeout_s) =
                command_and_timeout(&mut errors, body.command.as_deref(), body.timeout_s);
        }
        Some(TaskKind::ReplaceKey) => {
            errors.add(
                "kind",
                "replace_key is queued by POST /api/keys/{id}/replace",
            );
        }
        Some(kind @ (TaskKind::Scan | TaskKind::Sync)) => {
            if body.key_ids.is_some() {
                errors.add("key_ids", format!("is not used by {kind}"));
            }
            if body.command.is_some() || body.timeout_s.is_some() {
                errors.add("command", format!("is not used by {kind}"));
            }
            // A sync may be previewed (the diff of every platform against its assignments).
            params.dry_run = body.dry_run && kind == TaskKind::Sync;
        }
        None => {}
    }
    if body.owner.is_some() && !by_owner {
        errors.add("owner", "is only for revoke_keys");
    }
    if let Some(TaskKind::RunCommand | TaskKind::Scan | TaskKind::Sync) = kind
        && body.options.is_some()
    {
        errors.add("options", format!("is not used by {}", body.kind));
    }
    // A scan never writes anyway; a command cannot be previewed.
    if let Some(TaskKind::RunCommand | TaskKind::Scan) = kind
        && body.dry_run
    {
        errors.add("dry_run", "is only for deploy_keys, revoke_keys and sync");
    }
    let concurrency = concurrency(&mut errors, body.concurrency);
    errors.finish()?;
    let mut platform_ids = platform_ids;
    let mut key_ids = key_ids;
    let mut names = HashMap::new();
    if let Some(selector) = &selector {
        let found = resolve_selector(state, selector).await?;
        params.selector = Some(selector.to_string());
        platform_ids = found.iter().map(|(id, _)| *id).collect();
        names = found.into_iter().collect();
    }
    if let Some(owner) = &params.owner {
        (key_ids, platform_ids) = owner_targets(state, owner, platform_ids).await?;
        params.key_ids = key_ids.clone();
    }
    // Every platform and key must exist: a typo must not silently shrink the task.
    let mut errors = Errors::default();
    if selector.is_none() {
        names = state.store.platform_names(&platform_ids).await?;
    }
    let mut platforms = Vec::with_capacity(platform_ids.len());
    for (i, id) in platform_ids.iter().enumerate() {
        match names.remove(id) {
            Some(name) => platforms.push((*id, name)),
            None => errors.add(
                &format!("platform_ids[{i}]"),
                format!("no platform with id {id}"),
            ),
        }
    }
    for id in state.store.missing_keys(&key_ids).await? {
        errors.add("key_ids", format!("no key with id {id}"));
    }
    // A sync leaves an expired key out: a deploy of one would "succeed" and write nothing.
    if kind == Some(TaskKind::DeployKeys) && params.owner.is_none() {
        let now = chrono::Utc::now();
        for id in &key_ids {
            if let Some(key) = state.store.get_key(*id).await?
                && let Some(expired) = key.expires_at.filter(|at| *at <= now)
            {
                errors.add(
                    "key_ids",
                    format!(
                        "key {:?} expired at {}; it is never written (change its expires_at first)",
                        key.name,
                        expired.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                );
            }
        }
        for (key_id, options) in &params.options {
            if options.expires_at().is_some_and(|at| at <= now) {
                errors.add(
                    &format!("options.{key_id}.expiry-time"),
                    "has passed; the line would never be written",
                );
            }
        }
    }
    errors.finish()?;
    let Some(kind) = kind else {
        return Err(ApiError::internal("validated kind missing"));
    };
    // Every target, or none: a task is refused whole when one platform is out of scope.
    let ids: Vec<Uuid> = platforms.iter().map(|(id, _)| *id).collect();
    super::scope::require_on(state, user, Role::Operator, &ids).await?;
    let task = NewTask {
        kind,
        platforms,
        params,
        concurrency,
    };
    create_and_accept(state, user, task).await
}

/// The platforms `selector` matches now: 422 naming `selector` when it matches none (a task is
/// never empty) or more than a task may hold.
pub(super) async fn resolve_selector(
    state: &AppState,
    selector: &Selector,
) -> Result<Vec<(Uuid, String)>, ApiError> {
    let found = state.store.select_platforms(selector).await?;
    if found.is_empty() {
        return Err(ApiError::field(
            "selector",
            format!("matches no platform: {selector}"),
        ));
    }
    if found.len() > MAX_PLATFORMS {
        return Err(ApiError::field(
            "selector",
            format!(
                "matches {} platforms; at most {MAX_PLATFORMS} per task",
                found.len()
            ),
        ));
    }
    Ok(found)
}

/// An offboarding's keys (every key of `owner`) and platforms (`platform_ids`, or every platform
/// where one of those keys is assigned). 422 naming `owner` when there is nothing to revoke.
async fn owner_targets(
    state: &AppState,
    owner: &str,
    platform_ids: Vec<Uuid>,
) -> Result<(Vec<Uuid>, Vec<Uuid>), ApiError> {
    let key_ids = state.store.key_ids_of_owner(owner).await?;
    if key_ids.is_empty() {
        return Err(ApiError::field(
            "owner",
            format!("no registered key has the owner {owner:?}"),
        ));
    }
    let holding: Vec<Uuid> = state
        .store
        .platforms_with_keys(&key_ids, true)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| platform_ids.is_empty() || platform_ids.contains(id))
        .collect();
    if holding.is_empty() {
        return Err(ApiError::field(
            "owner",
            format!(
                "no key of {owner:?} is assigned to {}",
                if platform_ids.is_empty() {
                    "any platform"
                } else {
                    "these platforms"
                }
            ),
        ));
    }
    Ok((key_ids, holding))
}

/// Queue `task` and answer 202 `{task_id}` with its `Location`.
pub(super) async fn create_and_accept(
    state: &AppState,
    user: &AuthUser,
    task: NewTask,
) -> Result<Response, ApiError> {
    let task_id = state.store.create_task(&user.actor(), task).await?;
    state.events.notify_work();
    let location = format!("/api/tasks/{task_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(TaskAccepted { task_id }),
    )
        .into_response())
}

/// `POST /api/tasks` → 202 `{task_id}`.
#[utoipa::path(
    post,
    path = "/api/tasks",
    tag = "tasks",
    request_body = CreateTask,
    responses((status = 202, description = "Queued; `Location` names the task", body = TaskAccepted, headers(("Location" = String, description = "`/api/tasks/{task_id}`"))), (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<Response, ApiError> {
    queue(&state, &user, body).await
}

/// Queue `kind` on the one platform of the path (a 404 when there is none).
async fn for_platform(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    mut task: CreateTask,
) -> Result<Response, ApiError> {
    let platform = super::platforms::find(state, id).await?;
    task.platform_ids = Some(vec![platform.id.to_string()]);
    queue(state, user, task).await
}

fn key_task(
    kind: &str,
    key_ids: Vec<String>,
    options: Option<BTreeMap<String, KeyOptions>>,
    dry_run: bool,
) -> CreateTask {
    CreateTask {
        kind: kind.into(),
        platform_ids: None,
        selector: None,
        key_ids: Some(key_ids),
        command: None,
        timeout_s: None,
        concurrency: None,
        options,
        dry_run,
        owner: None,
    }
}

/// `POST /api/platforms/{id}/deploy_keys` `{key_ids, options?, dry_run?}` → 202 `{task_id}`.
#[utoipa::path(
    post,
    path = "/api/platforms/{id}/deploy_keys",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The platform's id")),
    request_body = DeployKeys,
    responses((status = 202, description = "Queued; `Location` names the task", body = TaskAccepted, headers(("Location" = String, description = "`/api/tasks/{task_id}`"))), (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"))
)]
pub async fn deploy_keys(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DeployKeys>,
) -> Result<Response, ApiError> {
    let task = key_task("deploy_keys", body.key_ids, body.options, body.dry_run);
    for_platform(&state, &user, &id, task).await
}

/// `POST /api/platforms/{id}/revoke_keys` `{key_ids, dry_run?}` → 202 `{task_id}`.
#[utoipa::path(
    post,
    path = "/api/platforms/{id}/revoke_keys",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The platform's id")),
    request_body = KeyIds,
    responses((status = 202, description = "Queued; `Location` names the task", body = TaskAccepted, headers(("Location" = String, description = "`/api/tasks/{task_id}`"))), (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"))
)]
pub async fn revoke_keys(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<KeyIds>,
) -> Result<Response, ApiError> {
    let task = key_task("revoke_keys", body.key_ids, None, body.dry_run);
    for_platform(&state, &user, &id, task).await
}

/// `POST /api/keys/{id}/revoke` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeEverywhere {
    /// `true`: only show the diff the revoke would make on each platform.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/keys/{id}/revoke` `{dry_run?}` → 202 `{task_id}`: one `revoke_keys` task that
/// takes the key off every platform where it is assigned (also those where an earlier revoke
/// has not finished). 409 when it is assigned nowhere.
#[utoipa::path(
    post,
    path = "/api/keys/{id}/revoke",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The key's id")),
    request_body = RevokeEverywhere,
    responses(
        (status = 202, description = "Queued; `Location` names the task", body = TaskAccepted, headers(("Location" = String, description = "`/api/tasks/{task_id}`"))),
        (status = 404, description = "No key with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is assigned to no platform", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn revoke_everywhere(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeEverywhere>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "key")?;
    let key = state
        .store
        .get_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no key with id {id}")))?;
    let platforms = state.store.platforms_with_keys(&[id], true).await?;
    if platforms.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "key {:?} is assigned to no platform; nothing to revoke",
                key.name
            ),
        ));
    }
    let mut task = key_task("revoke_keys", vec![id.to_string()], None, body.dry_run);
    task.platform_ids = Some(platforms.iter().map(|(p, _)| p.to_string()).collect());
    queue(&state, &user, task).await
}

/// `POST /api/platforms/{id}/run_command` `{command, timeout_s?}` → 202 `{task_id}`.
#[utoipa::path(
    post,
    path = "/api/platforms/{id}/run_command",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The platform's id")),
    request_body = RunCommand,
    responses((status = 202, description = "Queued; `Location` names the task", body = TaskAccepted, headers(("Location" = String, description = "`/api/tasks/{task_id}`"))), (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"), (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"))
)]
pub async fn run_command(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RunCommand>,
) -> Result<Response, ApiError> {
    let task = CreateTask {
        kind: "run_command".into(),
        platform_ids: None,
        selector: None,
        key_ids: None,
        command: Some(body.command),
        timeout_s: body.timeout_s,
        concurrency: None,
        options: None,
        dry_run: false,
        owner: None,
    };
    for_platform(&state, &user, &id, task).await
}

/// Query of `GET /api/tasks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    status: Option<String>,
    /// `deploy_keys`, `revoke_keys` or `run_command`.
    kind: Option<String>,
}

/// `GET /api/tasks?status=&kind=&limit=&cursor=`, newest first.
#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of tasks, newest first, without their targets", body = Page<Task>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Task>>, ApiError> {
    let page = Paging {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let mut errors = Errors::default();
    let status = query.status.filter(|s| !s.is_empty());
    if let Some(status) = &status
        && !["queued", "running", "succeeded", "failed", "cancelled"].contains(&status.as_str())
    {
        errors.add(
            "status",
            "must be queued, running, succeeded, failed or cancelled",
        );
    }
    let kind = match query.kind.as_deref().filter(|s| !s.is_empty()) {
        Some(kind) => errors.check("kind", kind.parse::<TaskKind>()),
        None => None,
    };
    errors.finish()?;
    let visible = visible_platforms(&state, &user).await?;
    let filter = TaskFilter {
        status,
        kind,
        platforms: visible.ids().map(<[_]>::to_vec),
    };
    Ok(Json(state.store.list_tasks(&filter, &page).await?))
}

/// The task with path id `id` with its targets on the platforms `user` may see, or a 404
/// naming it (also when it has no target in sight).
pub async fn find(state: &AppState, user: &AuthUser, id: &str) -> Result<Task, ApiError> {
    let id = parse_id(id, "task")?;
    let visible = visible_platforms(state, user).await?;
    let mut task = state.store.get_task(id).await?.ok_or_else(|| no_task(id))?;
    task.targets.retain(|t| visible.contains(t.platform_id));
    if task.targets.is_empty() {
        return Err(no_task(id));
    }
    Ok(task)
}

fn no_task(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no task with id {id}"))
}

/// `GET /api/tasks/{id}`: status and per-target status, exit codes and errors.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses((status = 200, description = "The task with its targets", body = Task), (status = 404, description = "No task with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Task>, ApiError> {
    find(&state, &user, &id).await.map(Json)
}

/// `POST /api/tasks/{id}/cancel` → 202 while it stops, 409 when it had already ended.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/cancel",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id")),
    responses(
        (status = 202, description = "Cancelling: running targets are stopped", body = TaskAccepted),
        (status = 404, description = "No task with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The task had already ended", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let task = find(&state, &user, &id).await?;
    // Cancelling stops every target: it needs the role on all of them, not only those in sight.
    let all = state
        .store
        .get_task(task.id)
        .await?
        .ok_or_else(|| no_task(task.id))?;
    let ids: Vec<Uuid> = all.targets.iter().map(|t| t.platform_id).collect();
    super::scope::require_on(&state, &user, Role::Operator, &ids).await?;
    if !state.store.cancel_task(&user.actor(), task.id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("task {} has already ended", task.id),
        ));
    }
    state.events.notify(task.id);
    state.events.notify_cancel(task.id);
    state.events.notify_work();
    Ok((
        StatusCode::ACCEPTED,
        Json(TaskAccepted { task_id: task.id }),
    )
        .into_response())
}

/// Query of `GET /api/tasks/{id}/output`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutputQuery {
    /// With `stream`: the raw bytes of this platform's stream. Alone: JSON pages of this
    /// platform's output only (both streams, in order).
    #[param(value_type = Option<Uuid>)]
    platform_id: Option<String>,
    /// `stdout` or `stderr`, with `platform_id`.
    stream: Option<String>,
    /// JSON pages: events after this sequence number (default 0).
    #[param(value_type = Option<u32>)]
    after_seq: Option<String>,
    /// JSON pages: events looked at, 1 to 10 000 (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    limit: Option<String>,
}

/// One output chunk of a JSON output page.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputChunk {
    /// Per-task sequence number, from 1.
    seq: i64,
    platform_id: Option<Uuid>,
    /// `stdout` or `stderr`.
    stream: Option<String>,
    /// The bytes as text, invalid UTF-8 replaced by U+FFFD.
    data: String,
}

/// `GET /api/tasks/{id}/output` JSON answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputPage {
    task_id: Uuid,
    items: Vec<OutputChunk>,
    /// Pass as `after_seq` for the next page; `null` on the last page. A page ends at `limit`
    /// events or about 8 MiB of output, whichever comes first.
    next_after_seq: Option<i64>,
}

/// Most events one `GET /api/tasks/{id}/output` page looks at, and the default.
pub const MAX_OUTPUT_PAGE: u32 = 10_000;
pub const DEFAULT_OUTPUT_PAGE: u32 = 1000;

/// `GET /api/tasks/{id}/output[?platform_id=][&after_seq=&limit=]`: output chunks as JSON (of
/// one platform with `platform_id`), `data` as text with
/// invalid UTF-8 replaced, a page of events at a time (at most `limit` events and about 8 MiB of
/// output; `next_after_seq` continues it). `?platform_id=&stream=stdout|stderr`: the exact bytes
/// of that one stream, as `application/octet-stream`, streamed (bounded by
/// `TESTUM_MAX_OUTPUT_BYTES` per target). 410 once retention deleted the task's output.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/output",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id"), OutputQuery),
    responses(
        (status = 200, description = "A JSON page of output chunks, or with `platform_id` and `stream` the exact bytes of that stream",
         content((OutputPage = "application/json"), (String = "application/octet-stream"))),
        (status = 404, description = "No task with this id, or no target on that platform", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Retention deleted this task's output (`TESTUM_OUTPUT_RETENTION_DAYS` after it ended; the task's `output_expired_at` says when); the task and its targets remain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn output(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<OutputQuery>,
) -> Result<Response, ApiError> {
    let Seen { task, visible } = find_head(&state, &user, &id).await?;
    match (&query.platform_id, &query.stream) {
        (None, None) => output_page(&state, &task, None, &visible, &query).await,
        (Some(platform), stream) => {
            let mut errors = Errors::default();
            let platform = errors.check("platform_id", Uuid::parse_str(platform));
            if let Some(stream) = stream
                && !matches!(stream.as_str(), "stdout" | "stderr")
            {
                errors.add("stream", "must be stdout or stderr");
            }
            errors.finish()?;
            let platform = platform.ok_or_else(|| ApiError::internal("validated value missing"))?;
            if !visible.contains(platform)
                || state.store.task_target(task.id, platform).await?.is_none()
            {
                return Err(ApiError::not_found(format!(
                    "task {} has no target on platform {platform}",
                    task.id
                )));
            }
            match stream {
                Some(stream) => raw_stream(&state, task.id, platform, stream).await,
                None => output_page(&state, &task, Some(platform), &visible, &query).await,
            }
        }
        (None, Some(_)) => Err(ApiError::field("platform_id", "is required with stream")),
    }
}

/// A JSON page of `task`'s output (of `platform` only, when given), without the output of
/// platforms out of `visible`.
async fn output_page(
    state: &AppState,
    task: &Task,
    platform: Option<Uuid>,
    visible: &Visible,
    query: &OutputQuery,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let after = match query.after_seq.as_deref() {
        None | Some("") => 0,
        Some(text) => errors
            .check(
                "after_seq",
                text.parse::<u32>().map_err(|_| "must be a whole number"),
            )
            .map(i64::from)
            .unwrap_or(0),
    };
    let limit = errors
        .check(
            "limit",
            bounded_limit(query.limit.as_deref(), DEFAULT_OUTPUT_PAGE, MAX_OUTPUT_PAGE),
        )
        .unwrap_or(DEFAULT_OUTPUT_PAGE);
    errors.finish()?;
    let page = match platform {
        None => {
            crate::archive::events_after(&state.store, &state.archive, task.id, after, limit).await
        }
        Some(platform) => {
            crate::archive::platform_output_after(
                &state.store,
                &state.archive,
                task.id,
                platform,
                after,
                limit,
            )
            .await
        }
    }
    .map_err(ApiError::internal)?;
    if page.output_expired {
        return Err(expired(task.id));
    }
    let next_after_seq = page
        .more
        .then(|| page.events.last().map(|e| e.seq))
        .flatten();
    let items: Vec<_> = page
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Output)
        .filter(|e| e.platform_id.is_none_or(|p| visible.contains(p)))
        .map(|event| OutputChunk {
            seq: event.seq,
            platform_id: event.platform_id,
            stream: event.stream.clone(),
            data: String::from_utf8_lossy(&event.data).into_owned(),
        })
        .collect();
    Ok(Json(OutputPage {
        task_id: task.id,
        items,
        next_after_seq,
    })
    .into_response())
}

/// 410 Gone: retention deleted task `task`'s output.
fn expired(task: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        format!(
            "the output of task {task} was deleted: output is kept TESTUM_OUTPUT_RETENTION_DAYS \
             days after a task ends (the task's output_expired_at says when)"
        ),
    )
}

/// Events per page of the raw download.
const RAW_PAGE: u32 = 10_000;

/// The exact bytes of `platform`'s `stream` in `task`, streamed a page at a time (each bounded by
/// `crate::archive::PAGE_BYTES`, filtered at the source). The first page is read before the
/// answer starts, so its failures are a clean 410 or 500; a failure later cuts the body short
/// (the client sees an incomplete transfer) and is logged.
async fn raw_stream(
    state: &AppState,
    task: Uuid,
    platform: Uuid,
    stream: &str,
) -> Result<Response, ApiError> {
    let read = {
        let state = state.clone();
        let stream = stream.to_string();
        move |after: i64| {
            let state = state.clone();
            let stream = stream.clone();
            async move {
                crate::archive::output_after(
                    &state.store,
                    &state.archive,
                    task,
                    platform,
                    &stream,
                    after,
                    RAW_PAGE,
                )
                .await
            }
        }
    };
    let first = read(0).await.map_err(ApiError::internal)?;
    if first.output_expired {
        return Err(expired(task));
    }
    let pages = futures::stream::try_unfold(Some(first), move |page| {
        let read = read.clone();
        async move {
            let Some(page) = page else {
                return Ok(None);
            };
            let next = match page.events.last() {
                Some(last) if page.more => Some(read(last.seq).await.inspect_err(|e| {
                    tracing::error!(task = %task, error = %e, "streaming task output failed");
                })?),
                _ => None,
            };
            let bytes: Vec<u8> = page.events.into_iter().flat_map(|e| e.data).collect();
            Ok::<_, crate::archive::ArchiveError>(Some((bytes::Bytes::from(bytes), next)))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(pages),
    )
        .into_response())
}

/// Longest `search` of `GET /api/tasks/{id}/targets`, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Query of `GET /api/tasks/{id}/targets`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetsQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only targets in this status: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: Option<String>,
    /// Only targets whose platform name or error contains this text (case-insensitive), at
    /// most 200 characters.
    pub search: Option<String>,
    /// Only targets whose output has this digest (64 hex digits): the members of one output
    /// group.
    pub output_digest: Option<String>,
    /// Only targets that failed for this reason (a target's `error_reason`, exactly); empty:
    /// only targets that ended without an error. With `output_digest` and `status`, the members
    /// of one output group.
    pub error_reason: Option<String>,
}

impl TargetsQuery {
    /// The filter, page size and cursor, or a 422 naming each bad field.
    pub fn parse(self) -> Result<(crate::store::TargetFilter, NumberPage), ApiError> {
        let mut errors = Errors::default();
        let page = number_page(&mut errors, self.limit.as_deref(), self.cursor.as_deref());
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(text) => errors.check(
                "status",
                serde_json::from_value::<crate::store::TaskStatus>(serde_json::json!(text))
                    .map_err(|_| "must be queued, running, succeeded, failed or cancelled"),
            ),
            None => None,
        };
        let search = self.search.filter(|s| !s.trim().is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
        {
            errors.add(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            );
        }
        let output_digest = self.output_digest.filter(|s| !s.is_empty());
        if output_digest
            .as_ref()
            .is_some_and(|d| d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            errors.add("output_digest", "must be 64 hexadecimal digits");
        }
        errors.finish()?;
        let filter = crate::store::TargetFilter {
            status,
            search: search.map(|s| s.trim().to_string()),
            output_digest: output_digest.map(|d| d.to_ascii_lowercase()),
            error_reason: self.error_reason,
            platforms: None,
        };
        Ok((filter, page))
    }
}

/// Size and start of a page of targets or output groups.
pub type NumberPage = (u32, Option<crate::store::NumberCursor>);

/// `limit` (1 to 500, default 50) and `cursor` of a list ordered by numbers; errors name the
/// field.
fn number_page(errors: &mut Errors, limit: Option<&str>, cursor: Option<&str>) -> NumberPage {
    let limit = errors
        .check("limit", super::extract::page_limit(limit))
        .unwrap_or(super::extract::DEFAULT_LIMIT);
    let cursor = match cursor {
        None | Some("") => None,
        Some(text) => {
            let cursor = crate::store::NumberCursor::decode(text);
            if cursor.is_none() {
                errors.add("cursor", "is not a cursor returned by this list");
            }
            cursor
        }
    };
    (limit, cursor)
}

/// A task as a user sees it, with the platforms they may see.
pub struct Seen {
    /// Without its targets; its counts are those of the targets in sight.
    pub task: Task,
    pub visible: Visible,
}

/// The task with path id `id` as `user` sees it (see [`Seen`]), or a 404 naming it (also when
/// it has no target on a platform they may see).
pub async fn find_head(state: &AppState, user: &AuthUser, id: &str) -> Result<Seen, ApiError> {
    let id = parse_id(id, "task")?;
    let visible = visible_platforms(state, user).await?;
    let task = state
        .store
        .get_task_head(id, visible.ids())
        .await?
        .ok_or_else(|| no_task(id))?;
    if visible.ids().is_some() && task.target_counts.is_none_or(|c| c.total == 0) {
        return Err(no_task(id));
    }
    Ok(Seen { task, visible })
}

/// `GET /api/tasks/{id}/targets?status=&search=&output_digest=&error_reason=&limit=&cursor=`: a page of the
/// task's targets in the task's order, filtered.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/targets",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id"), TargetsQuery),
    responses(
        (status = 200, description = "A page of the task's targets, in the task's order", body = Page<crate::store::Target>),
        (status = 404, description = "No task with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn targets(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TargetsQuery>,
) -> Result<Json<Page<crate::store::Target>>, ApiError> {
    let (mut filter, (limit, after)) = query.parse()?;
    let Seen { task, visible } = find_head(&state, &user, &id).await?;
    filter.platforms = visible.ids().map(<[_]>::to_vec);
    Ok(Json(
        state
            .store
            .task_targets(task.id, &filter, limit, after)
            .await?,
    ))
}

/// `GET /api/tasks/{id}/output_groups?limit=&cursor=`: the task's ended targets grouped by
/// status and byte-identical output (like `dshbak -c`), the smallest groups first.
#[utoipa::path(
    get,
    path = "/api/tasks/{id}/output_groups",
    tag = "tasks",
    params(("id" = Uuid, Path, description = "The task's id"), Paging),
    responses(
        (status = 200, description = "A page of output groups, smallest first: each with its digest, size, status, member count and first member (read its output with `GET /api/tasks/{id}/output?platform_id=`; list the members with `GET /api/tasks/{id}/targets?output_digest=`). Targets still running are in no group yet", body = Page<crate::store::OutputGroup>),
        (status = 404, description = "No task with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn output_groups(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<crate::store::OutputGroup>>, ApiError> {
    let mut errors = Errors::default();
    let (limit, after) = number_page(
        &mut errors,
        paging.limit.as_deref(),
        paging.cursor.as_deref(),
    );
    errors.finish()?;
    let Seen { task, visible } = find_head(&state, &user, &id).await?;
    Ok(Json(
        state
            .store
            .output_groups(task.id, visible.ids(), limit, after)
            .await?,
    ))
}
