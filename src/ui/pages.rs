//! The page handlers: each checks the browser session (no session: a redirect to the login
//! page), reads through the API's own list handlers and renders its template.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde_json::json;
use uuid::Uuid;

use super::session::{PageSession, page_session};
use super::templates::render;
use crate::api::access::Access::AtLeast;
use crate::api::error::ApiError;
use crate::api::extract::{ApiPath, ApiQuery};
use crate::api::tasks as tasks_api;
use crate::api::totp::{ENROL_PAGE, must_enrol};
use crate::api::{AppState, access_report as access_api};
use crate::role::Role;
use crate::store::TaskKind;

/// A page's answer: the page, a redirect, or an [`ApiError`] shown as an HTML error page.
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = render(
            "error.html",
            context! { status => self.0.status.as_u16(), detail => self.0.detail },
        );
        match page {
            Ok(page) => (self.0.status, page).into_response(),
            Err(e) => e.into_response(),
        }
    }
}

pub(super) type PageResult = Result<Response, PageError>;

/// The login page, with the username typed so far and the reason of a failed attempt;
/// `code_asked` (the password was right, the two-factor code missing or wrong) puts the focus on
/// the password field, which the page does not fill in again.
/// The page also offers "Sign in with …" for each OpenID Connect provider.
pub fn login_page(
    state: &AppState,
    username: &str,
    error: Option<&str>,
    code_asked: bool,
) -> Result<Html<String>, ApiError> {
    let providers: Vec<_> = state
        .oidc
        .all()
        .iter()
        .map(|p| context! { name => &p.settings.name, display_name => &p.settings.display_name })
        .collect();
    render(
        "login.html",
        context! { username, error, code_asked, providers },
    )
}

/// The session of a page request, or the redirect to the login page; a user who must turn on
/// two-factor sign-in first is sent to the account page instead.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<PageSession, Response> {
    let session = match page_session(state, headers).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(Redirect::to("/").into_response()),
        Err(e) => return Err(PageError(e).into_response()),
    };
    match must_enrol(state, &session.user).await {
        Ok(false) => Ok(session),
        Ok(true) => Err(Redirect::to(ENROL_PAGE).into_response()),
        Err(e) => Err(PageError(e).into_response()),
    }
}

/// Render `template` for a signed-in user: the layout needs `me`, `csrf` and the `nav` entry.
pub(super) fn page(
    template: &str,
    session: &PageSession,
    nav: &str,
    data: serde_json::Value,
) -> PageResult {
    let grants = &session.user.grants;
    let me = context! {
        username => session.user.username.as_str(),
        role => grants.summary(),
        // Forms that act on platforms: the server checks each platform they name.
        can_write => grants.strongest() >= Some(Role::Operator),
        admin_somewhere => grants.strongest() >= Some(Role::Admin),
        // Pages about the whole fleet (users, groups and grants, notifications, the audit log).
        is_admin => grants.fleet() >= Some(Role::Admin),
        fleet_viewer => grants.fleet() >= Some(Role::Viewer),
    };
    let base = context! { me, csrf => session.csrf.as_str(), nav };
    let data = minijinja::Value::from(minijinja::value::Serde(data));
    Ok(render(template, context! { ..data, ..base })?.into_response())
}

/// 403 (as the API answers it) unless the page's user holds `role` over the whole fleet.
pub(super) fn require_fleet(session: &PageSession, role: Role) -> Result<(), PageError> {
    match crate::api::access::refusal(AtLeast(role), &session.user.grants) {
        Some(detail) => Err(ApiError::new(StatusCode::FORBIDDEN, detail).into()),
        None => Ok(()),
    }
}

/// The page's session, or return the redirect to the login page (`signed_in` must be in scope).
macro_rules! session_or_redirect {
    ($state:expr, $headers:expr) => {
        match signed_in(&$state, &$headers).await {
            Ok(session) => session,
            Err(redirect) => return Ok(redirect),
        }
    };
}
pub(super) use session_or_redirect;

/// `GET /`: the login page, or the keys page for a signed-in browser.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if page_session(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/ui/keys").into_response());
    }
    Ok(login_page(&state, "", None, false)?.into_response())
}

/// `GET /ui/platforms/{id}`: one platform, its latest scan (state, findings, every line with
/// the registered key it holds), its assigned keys with their sync results, and the edit form.
pub async fn platform(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let platform =
        crate::api::scope::find_platform(&state, &session.user, &id, Role::Viewer).await?;
    let role_here = session
        .user
        .grants
        .role_on(&crate::selector::PlatformFacts::from(&platform));
    let assignments = state.store.platform_assignments(platform.id).await?;
    // Each assignment's options as sshd reads them (`restrict,from="..."`); stored options were
    // checked when they were given, so a render error cannot happen and shows as none.
    let options: HashMap<Uuid, String> = assignments
        .iter()
        .filter_map(|a| Some((a.key_id, a.options.render().ok().flatten()?)))
        .collect();
    let scan = state.store.platform_scan(platform.id).await?;
    let now = chrono::Utc::now();
    let expiry: HashMap<Uuid, &str> = assignments
        .iter()
        .filter_map(|a| Some((a.key_id, super::key_pages::expiry_badge(a.expires_at, now)?)))
        .collect();
    // The revoke picker offers this platform's keys only: a list as long as its assignments.
    let revoke_candidates: Vec<serde_json::Value> = assignments
        .iter()
        .map(|a| {
            json!({"id": a.key_id, "name": a.name, "fingerprint": a.fingerprint,
                        "expires_at": a.expires_at})
        })
        .collect();
    let data = json!({
        "platform": platform, "assignments": assignments, "options": options, "scan": scan,
        "expiry": expiry, "revoke_candidates": revoke_candidates,
        "can_act": role_here >= Some(Role::Operator), "can_trust": role_here >= Some(Role::Admin),
    });
    page("platform.html", &session, "platforms", data)
}

/// Query of `GET /ui/access`: the filters of `GET /api/access`, with the platform by name.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct AccessPageQuery {
    #[serde(default)]
    platform: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    owner: String,
    /// `true`, `false` or empty (either).
    #[serde(default)]
    managed: String,
    /// `true` or empty (either).
    #[serde(default)]
    unknown: String,
    #[serde(default)]
    cursor: String,
}

/// `GET /ui/access?platform=&tag=&owner=&managed=&unknown=&cursor=`: the access report (who can
/// log in where), a page at a time, with a CSV download of the whole filtered report.
pub async fn access(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<AccessPageQuery>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let visible = crate::api::scope::visible_platforms(&state, &session.user).await?;
    let platform_id = match query.platform.trim() {
        "" => None,
        name => match state.store.platform_id_by_name(name).await? {
            Some(id) if visible.contains(id) => Some(id.to_string()),
            _ => {
                let error = format!("no platform named {name:?}");
                let data = json!({"entries": [], "filter": query, "error": error});
                return page("access.html", &session, "access", data);
            }
        },
    };
    let some = |text: &str| Some(text.to_string()).filter(|t| !t.is_empty());
    let request = access_api::AccessQuery {
        platform_id: platform_id.clone(),
        tag: some(&query.tag),
        owner: some(&query.owner),
        managed: some(&query.managed),
        unknown: some(&query.unknown),
        cursor: some(&query.cursor),
        ..Default::default()
    }
    .parse()?;
    let filter = crate::store::AccessFilter {
        platforms: visible.ids().map(<[_]>::to_vec),
        ..request.filter
    };
    let report = state
        .store
        .access_report(&filter, request.limit, request.cursor.as_ref())
        .await?;
    let data = json!({
        "entries": report.items, "next_cursor": report.next_cursor, "filter": query,
        "platform_id": platform_id,
    });
    page("access.html", &session, "access", data)
}

/// `GET /ui/tasks?status=&kind=&cursor=`: tasks, newest first, filtered like `GET /api/tasks`.
pub async fn tasks(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(filter): ApiQuery<HashMap<String, String>>,
    query: ApiQuery<tasks_api::ListQuery>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let user = Extension(session.user.clone());
    let Json(list) = tasks_api::list(State(state.clone()), user, query).await?;
    let ids: Vec<Uuid> = list
        .items
        .iter()
        .flat_map(|t| t.params.key_ids.iter().copied())
        .collect();
    let names = state.store.key_names(&ids).await?;
    let keys: HashMap<Uuid, Vec<String>> = list
        .items
        .iter()
        .map(|t| (t.id, key_labels(&t.params.key_ids, &names)))
        .collect();
    let data = json!({
        "tasks": list.items, "next_cursor": list.next_cursor, "filter": filter,
        "statuses": STATUSES, "kinds": TaskKind::ALL, "keys": keys,
    });
    page("tasks.html", &session, "tasks", data)
}

/// `GET /ui/tasks/{id}`: counts per status and progress, a paged table of targets, the output
/// grouped by content and one host's output on demand; the page reads no target list or output
/// itself (the script asks `GET /api/tasks/{id}/targets`, `/output_groups` and `/output`, and
/// follows `WS /ws/tasks/{id}?output=none`), so it costs the same for 5 or 10 000 targets.
pub async fn task(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let task = tasks_api::find_head(&state, &session.user, &id).await?.task;
    // "Run it for real" repeats the dry run's platforms: only then are they all read.
    let real_run = match task.params.dry_run {
        true => real_run(&tasks_api::find(&state, &session.user, &id).await?),
        false => None,
    };
    let replaces = match (task.kind, task.params.replaces, task.params.key_ids.first()) {
        (TaskKind::ReplaceKey, Some(old), Some(&new)) => Some(json!({
            "old": {"id": old, "name": key_name(&state, old).await?},
            "new": {"id": new, "name": key_name(&state, new).await?},
        })),
        _ => None,
    };
    let names = state.store.key_names(&task.params.key_ids).await?;
    let keys = key_labels(&task.params.key_ids, &names);
    let data = json!({
        "task": task, "replaces": replaces, "real_run": real_run, "statuses": STATUSES,
        "keys": keys,
    });
    page("task.html", &session, "tasks", data)
}

/// Every task status, in the order the pages list them.
const STATUSES: [&str; 5] = ["queued", "running", "succeeded", "failed", "cancelled"];

/// The names of `ids` from `names`, in order; a deleted key shows as its id.
fn key_labels(ids: &[Uuid], names: &HashMap<Uuid, String>) -> Vec<String> {
    ids.iter()
        .map(|id| names.get(id).cloned().unwrap_or_else(|| id.to_string()))
        .collect()
}

/// A key's name, or its id once the key is deleted (a task outlives the keys it names).
async fn key_name(state: &AppState, id: Uuid) -> Result<String, PageError> {
    Ok(match state.store.get_key(id).await? {
        Some(key) => key.name,
        None => id.to_string(),
    })
}

/// For a dry run of `deploy_keys` or `revoke_keys`: the `POST /api/tasks` body that runs it for
/// real, as JSON text. The same keys, options and platforms; an offboarding (by `owner`) names
/// the owner again (the owner's keys are resolved when it is confirmed) on the platforms the
/// preview covered, never more.
fn real_run(task: &crate::store::Task) -> Option<String> {
    if !task.params.dry_run || !matches!(task.kind, TaskKind::DeployKeys | TaskKind::RevokeKeys) {
        return None;
    }
    let platform_ids: Vec<Uuid> = task.targets.iter().map(|t| t.platform_id).collect();
    let mut body = json!({"kind": task.kind, "platform_ids": platform_ids});
    match &task.params.owner {
        Some(owner) => body["owner"] = json!(owner),
        None => body["key_ids"] = json!(task.params.key_ids),
    }
    if !task.params.options.is_empty() {
        body["options"] = json!(task.params.options);
    }
    Some(body.to_string())
}

/// `GET /ui/schedules?cursor=`: schedules with their next firing, last result (a link to the
/// task) and last error; operators get the create form and enable, disable and delete.
pub async fn schedules(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: ApiQuery<crate::api::extract::Paging>,
) -> PageResult {
    let session = session_or_redirect!(state, headers);
    let Json(list) = crate::api::schedules::list(State(state.clone()), query).await?;
    let kinds: Vec<&str> = crate::store::ScheduleKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    let data = json!({"schedules": list.items, "next_cursor": list.next_cursor, "kinds": kinds});
    page("schedules.html", &session, "schedules", data)
}

/// `GET /ui/users`: user administration (admins only, else 403); the script lists and changes
/// users through `/api/users`.
pub async fn users(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = session_or_redirect!(state, headers);
    require_fleet(&session, Role::Admin)?;
    page(
        "users.html",
        &session,
        "users",
        json!({ "roles": ["viewer", "operator", "admin", "none"] }),
    )
}

/// `GET /ui/import`: platforms (CSV, JSON, Ansible, ssh config) and keys (authorized_keys,
/// `.pub` files) from pasted or uploaded text, previewed row by row before the import.
pub async fn import(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = session_or_redirect!(state, headers);
    page("import.html", &session, "import", json!({}))
}

/// Deliveries shown per endpoint on the notifications page.
const RECENT_DELIVERIES: u32 = 10;

/// `GET /ui/notifications`: webhook endpoints and their recent deliveries with each attempt's
/// answer (admins only, else 403); changes go through `/api/notifications`.
pub async fn notifications(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let session = session_or_redirect!(state, headers);
    require_fleet(&session, Role::Admin)?;
    let endpoints = state
        .store
        .list_notification_endpoints(&crate::store::PageRequest {
            limit: 100,
            cursor: None,
        })
        .await?;
    let mut shown = Vec::new();
    for endpoint in endpoints.items {
        let recent = crate::store::PageRequest {
            limit: RECENT_DELIVERIES,
            cursor: None,
        };
        let deliveries = state.store.list_deliveries(endpoint.id, &recent).await?;
        let mut item = json!(endpoint);
        item["deliveries"] = json!(deliveries.items);
        shown.push(item);
    }
    let events: Vec<&str> = crate::store::NotificationEvent::ALL
        .iter()
        .map(|e| e.as_str())
        .collect();
    page(
        "notifications.html",
        &session,
        "notifications",
        json!({"endpoints": shown, "events": events}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Target, Task, TaskParams, TaskStatus};

    fn task(kind: TaskKind, params: TaskParams) -> Task {
        let target = |name: &str| Target {
            platform_id: Uuid::new_v4(),
            platform_name: name.into(),
            status: TaskStatus::Succeeded,
            exit_code: None,
            exit_signal: None,
            error: None,
            changed: Some(true),
            warnings: Vec::new(),
            started_at: None,
            finished_at: None,
            output_digest: None,
            output_bytes: None,
            error_reason: None,
        };
        Task {
            id: Uuid::new_v4(),
            kind,
            status: TaskStatus::Succeeded,
            created_by: "admin".into(),
            params,
            concurrency: 50,
            created_at: chrono::Utc::now(),
            started_at: None,
            finished_at: None,
            output_expired_at: None,
            targets: vec![target("web1"), target("web2")],
            target_counts: None,
        }
    }

    #[test]
    fn the_status_list_names_every_status_in_order() {
        let all = [
            TaskStatus::Queued,
            TaskStatus::Running,
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ];
        assert_eq!(STATUSES, all.map(TaskStatus::as_str));
    }

    #[test]
    fn the_real_run_of_a_deploy_preview_has_its_keys_options_and_platforms() {
        let key = Uuid::new_v4();
        let options = crate::authorized_keys::KeyOptions {
            restrict: true,
            from: Some("10.0.0.0/8".into()),
            ..Default::default()
        };
        let params = TaskParams {
            key_ids: vec![key],
            options: [(key, options)].into(),
            dry_run: true,
            ..Default::default()
        };
        let preview = task(TaskKind::DeployKeys, params);
        let body: serde_json::Value = serde_json::from_str(&real_run(&preview).unwrap()).unwrap();
        let platforms: Vec<String> = preview
            .targets
            .iter()
            .map(|t| t.platform_id.to_string())
            .collect();
        assert_eq!(
            body,
            json!({
                "kind": "deploy_keys", "platform_ids": platforms, "key_ids": [key],
                "options": {key.to_string(): {"restrict": true, "from": "10.0.0.0/8"}},
            })
        );
    }

    #[test]
    fn an_offboarding_preview_is_run_by_owner_and_only_previews_have_a_real_run() {
        let params = TaskParams {
            key_ids: vec![Uuid::new_v4()],
            owner: Some("alice".into()),
            dry_run: true,
            ..Default::default()
        };
        let preview = task(TaskKind::RevokeKeys, params.clone());
        let platforms: Vec<Uuid> = preview.targets.iter().map(|t| t.platform_id).collect();
        assert!(!platforms.is_empty());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&real_run(&preview).unwrap()).unwrap(),
            json!({"kind": "revoke_keys", "owner": "alice", "platform_ids": platforms})
        );
        let real = TaskParams {
            dry_run: false,
            ..params
        };
        assert_eq!(real_run(&task(TaskKind::RevokeKeys, real)), None);
        let scan = TaskParams {
            dry_run: true,
            ..Default::default()
        };
        assert_eq!(real_run(&task(TaskKind::Scan, scan)), None);
    }
}
