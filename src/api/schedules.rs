//! `/api/schedules`: cron expressions that create ordinary tasks (see [`crate::schedule`]).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Paging, parse_id};
use super::tasks::{command_and_timeout, concurrency};
use crate::role::Role;
use crate::schedule::{CronSchedule, next_firing};
use crate::store::{NewSchedule, Page, Schedule, ScheduleKind};
use crate::validate;

/// `POST /api/schedules` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    /// Unique name; tasks it creates are `created_by` `schedule:<name>`.
    name: String,
    /// Five fields: minute hour day-of-month month day-of-week (`0 3 * * *`, `*/15 * * * *`,
    /// `30 6 * * mon-fri`).
    cron: String,
    /// IANA time zone the expression is read in (default `UTC`).
    #[serde(default)]
    time_zone: Option<String>,
    /// `run_command`, `scan` or `sync`.
    kind: String,
    /// Which platforms each firing targets (resolved at the firing; `all` for every platform).
    selector: String,
    /// For `run_command` (required there): run by the login shell, at most 64 KiB.
    #[serde(default)]
    command: Option<String>,
    /// For `run_command`: seconds, 1 to 86 400.
    #[serde(default)]
    timeout_s: Option<i64>,
    /// Targets in flight at once in each task, 1 to 1000 (default 50).
    #[serde(default)]
    concurrency: Option<i64>,
    /// Default `true`.
    #[serde(default)]
    enabled: Option<bool>,
}

/// `PATCH /api/schedules/{id}` body: the fields to change; `null` clears `command` or
/// `timeout_s`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSchedule {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    selector: Option<String>,
    #[serde(default, with = "super::keys::double_option")]
    #[schema(value_type = Option<String>)]
    command: Option<Option<String>>,
    #[serde(default, with = "super::keys::double_option")]
    #[schema(value_type = Option<i64>)]
    timeout_s: Option<Option<i64>>,
    #[serde(default)]
    concurrency: Option<i64>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// Check a whole schedule (`body` after a patch is merged) and compute its next firing after
/// now; 422 naming every invalid field.
fn validate(body: CreateSchedule) -> Result<NewSchedule, ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", validate::name(&body.name));
    let time_zone = body
        .time_zone
        .as_deref()
        .map(str::trim)
        .filter(|tz| !tz.is_empty())
        .unwrap_or("UTC")
        .to_string();
    let cron = body.cron.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Err((field, message)) = CronSchedule::new(&cron, &time_zone) {
        errors.add(field, message);
    }
    let kind = errors.check("kind", body.kind.parse::<ScheduleKind>());
    let selector = check_selector(&mut errors, &body.selector);
    let mut command = None;
    let mut timeout_s = None;
    match kind {
        Some(ScheduleKind::RunCommand) => {
            (command, timeout_s) =
                command_and_timeout(&mut errors, body.command.as_deref(), body.timeout_s);
        }
        Some(kind) => {
            if body.command.is_some() {
                errors.add("command", format!("is not used by {kind}"));
            }
            if body.timeout_s.is_some() {
                errors.add("timeout_s", format!("is not used by {kind}"));
            }
        }
        None => {}
    }
    let concurrency = concurrency(&mut errors, body.concurrency);
    errors.finish()?;
    let (Some(name), Some(kind), Some(selector)) = (name, kind, selector) else {
        return Err(ApiError::internal("validated values missing"));
    };
    let mut schedule = NewSchedule {
        name,
        cron,
        time_zone,
        kind,
        selector,
        command,
        timeout_s,
        concurrency,
        enabled: body.enabled.unwrap_or(true),
        next_run_at: None,
    };
    schedule.next_run_at = next_firing(&schedule, Utc::now());
    if schedule.enabled && schedule.next_run_at.is_none() {
        return Err(ApiError::field("cron", "never fires"));
    }
    Ok(schedule)
}

/// A selector's canonical text, or its error under `selector` (`at position N: reason`).
fn check_selector(errors: &mut Errors, text: &str) -> Option<String> {
    if text.trim().is_empty() {
        errors.add("selector", "must not be blank (all selects every platform)");
        return None;
    }
    errors
        .check("selector", text.parse::<crate::selector::Selector>())
        .map(|selector| selector.to_string())
}

/// For a user whose operator role covers part of the fleet: 403 naming the platforms out of
/// scope among those `selector` picks now (each firing checks again, as its creator).
async fn in_scope(state: &AppState, user: &AuthUser, selector: &str) -> Result<(), ApiError> {
    if user.grants.fleet() >= Some(Role::Operator) {
        return Ok(());
    }
    let parsed: crate::selector::Selector = selector
        .parse()
        .map_err(|e| ApiError::field("selector", format!("{e}")))?;
    let ids: Vec<uuid::Uuid> = state
        .store
        .select_platforms(&parsed)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    super::scope::require_on(state, user, Role::Operator, &ids).await
}

/// A schedule fires with its creator's rights: only its creator, or an operator over the whole
/// fleet, may change or delete it (403 otherwise).
fn may_change(user: &AuthUser, schedule: &Schedule) -> Result<(), ApiError> {
    if user.grants.fleet() >= Some(Role::Operator) || schedule.created_by == user.username {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "schedule {} was made by {} and fires with their rights: only they or an operator over \
         the whole fleet may change it",
        schedule.name, schedule.created_by
    )))
}

/// The schedule with path id `id`, or a 404 naming it.
async fn find(state: &AppState, id: &str) -> Result<Schedule, ApiError> {
    let id = parse_id(id, "schedule")?;
    state
        .store
        .get_schedule(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no schedule with id {id}")))
}

/// `POST /api/schedules` → 201 with the schedule (and its `next_run_at`).
#[utoipa::path(
    post,
    path = "/api/schedules",
    tag = "schedules",
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 409, description = "A schedule with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreateSchedule>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let new = validate(body)?;
    in_scope(&state, &user, &new.selector).await?;
    let schedule = state
        .store
        .create_schedule(&user.actor(), &new, false)
        .await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

/// `GET /api/schedules?limit=&cursor=`, newest first.
#[utoipa::path(
    get,
    path = "/api/schedules",
    tag = "schedules",
    params(Paging),
    responses(
        (status = 200, description = "A page of schedules, newest first", body = Page<Schedule>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Schedule>>, ApiError> {
    Ok(Json(state.store.list_schedules(&paging.page()?).await?))
}

/// `GET /api/schedules/{id}`.
#[utoipa::path(
    get,
    path = "/api/schedules/{id}",
    tag = "schedules",
    params(("id" = Uuid, Path, description = "The schedule's id")),
    responses((status = 200, description = "The schedule", body = Schedule), (status = 404, description = "No schedule with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Schedule>, ApiError> {
    find(&state, &id).await.map(Json)
}

/// `PATCH /api/schedules/{id}`: change some fields (the whole is checked again); the next
/// firing is computed anew from now.
#[utoipa::path(
    patch,
    path = "/api/schedules/{id}",
    tag = "schedules",
    params(("id" = Uuid, Path, description = "The schedule's id")),
    request_body = PatchSchedule,
    responses(
        (status = 200, description = "Changed", body = Schedule),
        (status = 404, description = "No schedule with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken, or a fixed field of the built-in schedule was changed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchSchedule>,
) -> Result<Json<Schedule>, ApiError> {
    let old = find(&state, &id).await?;
    may_change(&user, &old)?;
    // The built-in schedule is set by TESTUM_DAILY_SYNC_CRON at every start: a change here
    // would be undone silently at the next one. Only `enabled` (and its concurrency) may change.
    let changes_builtin = body.name.as_deref().is_some_and(|name| name != old.name)
        || body.cron.as_deref().is_some_and(|cron| cron != old.cron)
        || body
            .time_zone
            .as_deref()
            .is_some_and(|tz| tz != old.time_zone)
        || body
            .kind
            .as_deref()
            .is_some_and(|kind| kind != old.kind.as_str())
        || body.selector.as_deref().is_some_and(|s| s != old.selector);
    if old.builtin && changes_builtin {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} is testum's built-in schedule: its name, kind and selector are fixed and \
                 TESTUM_DAILY_SYNC_CRON sets its cron at every start (off disables it); only \
                 enabled and concurrency change here, until the next start",
                old.name
            ),
        ));
    }
    let kind = body.kind.unwrap_or_else(|| old.kind.as_str().to_string());
    // A kind that drops the command drops it from the schedule too.
    let keeps_command = kind == ScheduleKind::RunCommand.as_str();
    let merged = CreateSchedule {
        name: body.name.unwrap_or(old.name),
        cron: body.cron.unwrap_or(old.cron),
        time_zone: Some(body.time_zone.unwrap_or(old.time_zone)),
        selector: body.selector.unwrap_or(old.selector),
        command: match body.command {
            Some(command) => command,
            None if keeps_command => old.command,
            None => None,
        },
        timeout_s: match body.timeout_s {
            Some(timeout) => timeout,
            None if keeps_command => old.timeout_s.map(i64::from),
            None => None,
        },
        kind,
        concurrency: Some(body.concurrency.unwrap_or(i64::from(old.concurrency))),
        enabled: Some(body.enabled.unwrap_or(old.enabled)),
    };
    let new = validate(merged)?;
    in_scope(&state, &user, &new.selector).await?;
    Ok(Json(
        state
            .store
            .update_schedule(&user.actor(), old.id, &new)
            .await?,
    ))
}

/// `DELETE /api/schedules/{id}` → 204; the tasks it created stay.
#[utoipa::path(
    delete,
    path = "/api/schedules/{id}",
    tag = "schedules",
    params(("id" = Uuid, Path, description = "The schedule's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No schedule with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The built-in schedule is turned off with TESTUM_DAILY_SYNC_CRON=off, not deleted", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let schedule = find(&state, &id).await?;
    may_change(&user, &schedule)?;
    if schedule.builtin {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "{} is testum's built-in schedule and would come back at the next start: turn it \
                 off with TESTUM_DAILY_SYNC_CRON=off (PATCH enabled=false holds until the next \
                 start)",
                schedule.name
            ),
        ));
    }
    state
        .store
        .delete_schedule(&user.actor(), schedule.id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
