//! `/api/platforms`: the inventory of hosts, their credentials (write-only) and their keys.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, parse_id};
use super::platform_filters::{ListFilters, PageStart, list_filters};
use super::scope::{find_platform, narrowed, refused};
use crate::grants::OutOfScope;
use crate::role::Role;
use crate::secret::Secret;
use crate::selector::{PlatformFacts, Selector};
use crate::ssh::{AuthMethod, Credential, HostKeyPolicy};
use crate::store::{
    Assignment, NewPlatform, Page, PageRequest, Platform, PlatformPatch, PlatformScan,
    PlatformSort, PlatformState, StoreError,
};
use crate::validate;

/// `POST /api/platforms` body. Secrets are write-only: no answer ever contains them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatform {
    name: String,
    /// Host name or IP address.
    host: String,
    /// SSH port, 1 to 65535.
    #[serde(default = "default_port")]
    #[schema(default = 22)]
    port: i64,
    /// The user testum logs in as.
    username: String,
    /// `password` or `private_key`.
    auth_method: String,
    /// With `auth_method: password`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
    /// With `auth_method: private_key`: an OpenSSH or PEM private key.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key_passphrase: Option<Secret>,
    /// `tofu` (default: pin on first contact) or `strict` (only the pinned key).
    #[serde(default)]
    host_key_policy: Option<String>,
    /// Pin up front: `SHA256:...` as `ssh-keygen -lf` prints it. Required under `strict`.
    #[serde(default)]
    host_key_fingerprint: Option<String>,
    /// Algorithm of the pinned key, e.g. `ssh-ed25519`.
    #[serde(default)]
    host_key_type: Option<String>,
    /// Default `.ssh/authorized_keys` (relative to the user's home).
    #[serde(default)]
    authorized_keys_path: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    /// Exclusive mode (default `false`): syncs also remove key lines outside testum's block,
    /// never the key testum logs in with.
    #[serde(default)]
    exclusive: bool,
}

fn default_port() -> i64 {
    22
}

/// `PATCH /api/platforms/{id}` body. Changing the credential takes `auth_method` with its secret.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPlatform {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key_passphrase: Option<Secret>,
    #[serde(default)]
    host_key_policy: Option<String>,
    #[serde(default)]
    authorized_keys_path: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Exclusive mode: syncs also remove key lines outside testum's block, never the key testum
    /// logs in with.
    #[serde(default)]
    exclusive: Option<bool>,
}

/// Check the credential fields for `auth_method`, off the async runtime (decrypting a private
/// key runs a deliberately slow KDF).
pub(super) async fn credential(
    errors: &mut Errors,
    auth_method: &str,
    password: Option<Secret>,
    private_key: Option<Secret>,
    passphrase: Option<Secret>,
) -> Option<Credential> {
    let method = errors.check("auth_method", auth_method.parse::<AuthMethod>())?;
    match method {
        AuthMethod::Password => {
            if private_key.is_some() {
                errors.add("private_key", "must be absent when auth_method is password");
            }
            match password.filter(|p| !p.expose().is_empty()) {
                Some(p) => Some(Credential::Password(p)),
                None => {
                    errors.add("password", "is required when auth_method is password");
                    None
                }
            }
        }
        AuthMethod::PrivateKey => {
            if password.is_some() {
                errors.add("password", "must be absent when auth_method is private_key");
            }
            let Some(key) = private_key.filter(|k| !k.expose().trim().is_empty()) else {
                errors.add("private_key", "is required when auth_method is private_key");
                return None;
            };
            let passphrase = passphrase.filter(|p| !p.expose().is_empty());
            let (k, p) = (key.clone(), passphrase.clone());
            let checked = tokio::task::spawn_blocking(move || {
                crate::ssh::parse_private_key(k.expose(), p.as_ref().map(Secret::expose)).map_err(
                    |e| match e {
                        crate::ssh::SshError::PrivateKey(reason) => reason,
                        other => other.to_string(),
                    },
                )
            })
            .await
            .unwrap_or_else(|_| Err("could not be checked".into()));
            match checked {
                Ok(()) => Some(Credential::PrivateKey {
                    private_key: key,
                    passphrase,
                }),
                Err(reason) => {
                    let field = if reason.contains("passphrase") && passphrase.is_some() {
                        "private_key_passphrase"
                    } else {
                        "private_key"
                    };
                    errors.add(field, reason);
                    None
                }
            }
        }
    }
}

pub(super) fn host_key_policy(errors: &mut Errors, policy: &str) -> Option<HostKeyPolicy> {
    errors.check(
        "host_key_policy",
        policy.parse().map_err(|e| format!("{e}")),
    )
}

/// `POST /api/platforms` → 201 with the platform (never its credential).
#[utoipa::path(
    post,
    path = "/api/platforms",
    tag = "platforms",
    request_body = CreatePlatform,
    responses(
        (status = 201, description = "Registered", body = Platform),
        (status = 409, description = "Another platform manages the same file or has the same name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<CreatePlatform>,
) -> Result<(StatusCode, Json<Platform>), ApiError> {
    let mut errors = Errors::default();
    let name = errors.check("name", validate::name(&body.name));
    let host = errors.check("host", validate::host(&body.host));
    let port = errors.check("port", validate::port(body.port));
    let username = errors.check("username", validate::username(&body.username));
    let policy = host_key_policy(
        &mut errors,
        body.host_key_policy.as_deref().unwrap_or("tofu"),
    );
    let fingerprint = match &body.host_key_fingerprint {
        Some(f) => errors.check("host_key_fingerprint", validate::fingerprint(f)),
        None => None,
    };
    if policy == Some(HostKeyPolicy::Strict) && body.host_key_fingerprint.is_none() {
        errors.add(
            "host_key_fingerprint",
            "is required when host_key_policy is strict (strict refuses any unpinned host key)",
        );
    }
    let host_key_type = match &body.host_key_type {
        Some(t) if body.host_key_fingerprint.is_none() => {
            errors.add(
                "host_key_type",
                "is only meaningful with host_key_fingerprint",
            );
            Some(t.clone())
        }
        Some(t) if !is_host_key_algorithm(t) => {
            errors.add("host_key_type", "is not an SSH host key algorithm name");
            None
        }
        None if body.host_key_fingerprint.is_some() => {
            errors.add(
                "host_key_type",
                "is required with host_key_fingerprint: a fingerprint does not say which of the host's \
                 keys it is (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...; ssh-keyscan shows it)",
            );
            None
        }
        other => other.clone(),
    };
    let path = errors.check(
        "authorized_keys_path",
        validate::authorized_keys_path(
            body.authorized_keys_path
                .as_deref()
                .unwrap_or(validate::DEFAULT_AUTHORIZED_KEYS_PATH),
        ),
    );
    let tags = errors.check("tags", validate::tags(&body.tags));
    let credential = credential(
        &mut errors,
        &body.auth_method,
        body.password,
        body.private_key,
        body.private_key_passphrase,
    )
    .await;
    errors.finish()?;
    let (
        Some(name),
        Some(host),
        Some(port),
        Some(username),
        Some(policy),
        Some(path),
        Some(tags),
        Some(credential),
    ) = (name, host, port, username, policy, path, tags, credential)
    else {
        return Err(ApiError::internal("validated values missing"));
    };
    let facts = PlatformFacts {
        name: &name,
        host: &host,
        tags: &tags,
        state: PlatformState::NeverScanned,
        pinned: fingerprint.is_some(),
        presented: false,
    };
    require_for(&user, &name, &facts)?;
    let id = Uuid::new_v4();
    let new = NewPlatform {
        id,
        name,
        host,
        port,
        username,
        auth_method: credential.method(),
        credential: crate::credential::seal(&state.master_key, id, &credential),
        host_key_policy: policy,
        host_key_type,
        host_key_fingerprint: fingerprint,
        authorized_keys_path: path,
        tags,
        exclusive: body.exclusive,
    };
    let platform = state.store.create_platform(&user.actor(), new).await?;
    Ok((StatusCode::CREATED, Json(platform)))
}

/// 403 naming `name` unless `user` holds operator on a platform with `facts` (one created, or
/// as an edit would leave it): nobody makes a platform they could not act on.
fn require_for(user: &AuthUser, name: &str, facts: &PlatformFacts) -> Result<(), ApiError> {
    match OutOfScope::of(&user.grants, Role::Operator, [(name, Some(*facts))]) {
        Some(out) => Err(refused(&out)),
        None => Ok(()),
    }
}

fn is_host_key_algorithm(name: &str) -> bool {
    matches!(
        name,
        "ssh-ed25519"
            | "ssh-rsa"
            | "rsa-sha2-256"
            | "rsa-sha2-512"
            | "ecdsa-sha2-nistp256"
            | "ecdsa-sha2-nistp384"
            | "ecdsa-sha2-nistp521"
    )
}

/// Query of `GET /api/platforms`. Every filter given must match; the page's "matching:" line
/// shows them as one selector (see [`super::platform_filters`]).
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page (of the same `sort`).
    pub cursor: Option<String>,
    /// Search: platforms whose name, host or a tag holds this text, ASCII case ignored (the
    /// selector `text:*TEXT*`; `*` and `?` stay wildcards); at most 200 characters.
    pub q: Option<String>,
    /// Only platforms in this state: `in_sync`, `drift`, `unreachable`, `host_key_mismatch`,
    /// `error` or `never_scanned`.
    pub state: Option<String>,
    /// Only platforms with this host-key status: `pinned`, `unpinned` or `mismatch` (the
    /// selector `host_key:STATUS`).
    pub host_key: Option<String>,
    /// Only platforms this selector matches, e.g. `tag:web and not state:in_sync` (see the
    /// README's "Selectors"); a syntax error is a 422 naming `selector` with its position.
    pub selector: Option<String>,
    /// `newest` (default, newest first), `name`, `host` (then name) or `state` (worst first:
    /// host_key_mismatch, error, unreachable, drift, never_scanned, in_sync; then name).
    pub sort: Option<String>,
}

/// The `selector` query or body field, parsed; `None` when absent or blank. A syntax error is
/// added to `errors` under `field` as "at position N: reason".
pub(super) fn selector_field(
    errors: &mut Errors,
    field: &str,
    text: Option<&str>,
) -> Option<Selector> {
    let text = text.filter(|t| !t.trim().is_empty())?;
    errors.check(field, text.parse::<Selector>())
}

/// `GET /api/platforms?q=&state=&host_key=&selector=&sort=&limit=&cursor=`.
#[utoipa::path(
    get,
    path = "/api/platforms",
    tag = "platforms",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of platforms in the order of `sort` (newest first by default)", body = Page<Platform>),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<Platform>>, ApiError> {
    let mut errors = Errors::default();
    let filters = list_filters(&mut errors, &query);
    errors.finish()?;
    let Some(mut filters) = filters else {
        return Err(ApiError::internal("validated filters missing"));
    };
    filters.selector = narrowed(&user, filters.selector);
    Ok(Json(list_page(&state, &filters).await?.0))
}

/// One page of the platforms `filters` pick, in their order, and how many they pick in all when
/// the order had to read every one of them to sort (every order but newest first).
pub async fn list_page(
    state: &AppState,
    filters: &ListFilters,
) -> Result<(Page<Platform>, Option<usize>), ApiError> {
    let (newest, sorted) = match &filters.cursor {
        Some(PageStart::Newest(c)) => (Some(c.clone()), None),
        Some(PageStart::Sorted(c)) => (None, Some(c)),
        None => (None, None),
    };
    let store = &state.store;
    let listing = match (filters.sort, &filters.selector) {
        (PlatformSort::Newest, selector) => {
            let page = PageRequest {
                limit: filters.limit,
                cursor: newest,
            };
            let page = match selector {
                Some(selector) => store.list_selected_platforms(selector, None, &page).await?,
                None => store.list_platforms(None, &page).await?,
            };
            (page, None)
        }
        (sort, selector) => {
            let all = Selector::all();
            let selector = selector.as_ref().unwrap_or(&all);
            let (page, matching) = store
                .list_sorted_platforms(selector, sort, sorted, filters.limit)
                .await?;
            (page, Some(matching))
        }
    };
    Ok(listing)
}

/// Query of `GET /api/platforms/match`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MatchQuery {
    /// The selector to try, e.g. `env=prod and name:web-*`.
    pub selector: Option<String>,
}

/// How many platforms a selector matches, for a live count while a selector is typed.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelectorMatch {
    /// The selector in canonical form (what a task started with it stores).
    pub selector: String,
    /// Platforms matched.
    pub count: usize,
    /// The first 20 matched, by name.
    pub platforms: Vec<MatchedPlatform>,
}

/// One platform a selector matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchedPlatform {
    pub id: Uuid,
    pub name: String,
}

/// Platforms listed by `GET /api/platforms/match`.
pub const MATCH_SAMPLE: usize = 20;

/// `GET /api/platforms/match?selector=` → the canonical selector, its count and the first 20
/// platforms by name, among the platforms the caller may see. 422 naming `selector` when it is
/// missing or does not parse.
#[utoipa::path(
    get,
    path = "/api/platforms/match",
    tag = "platforms",
    params(MatchQuery),
    responses(
        (status = 200, description = "What the selector matches", body = SelectorMatch),
        (status = 422, description = "The selector is missing or does not parse; the message gives the position", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn matching(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiQuery(query): ApiQuery<MatchQuery>,
) -> Result<Json<SelectorMatch>, ApiError> {
    let mut errors = Errors::default();
    let selector = selector_field(&mut errors, "selector", query.selector.as_deref());
    if query
        .selector
        .as_deref()
        .is_none_or(|t| t.trim().is_empty())
    {
        errors.add("selector", "is required");
    }
    errors.finish()?;
    let Some(selector) = selector else {
        return Err(ApiError::internal("validated selector missing"));
    };
    let seen = narrowed(&user, Some(selector.clone())).unwrap_or_else(Selector::all);
    let matched = state.store.select_platforms(&seen).await?;
    Ok(Json(SelectorMatch {
        selector: selector.to_string(),
        count: matched.len(),
        platforms: matched
            .into_iter()
            .take(MATCH_SAMPLE)
            .map(|(id, name)| MatchedPlatform { id, name })
            .collect(),
    }))
}

/// The platform with path id `id`, or a 404 naming it.
pub async fn find(state: &AppState, id: &str) -> Result<Platform, ApiError> {
    let id = parse_id(id, "platform")?;
    state
        .store
        .get_platform(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no platform with id {id}")))
}

/// `GET /api/platforms/{id}`.
#[utoipa::path(
    get,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id")),
    responses((status = 200, description = "The platform", body = Platform), (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Platform>, ApiError> {
    find_platform(&state, &user, &id, Role::Viewer)
        .await
        .map(Json)
}

/// `PATCH /api/platforms/{id}`.
#[utoipa::path(
    patch,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id")),
    request_body = PatchPlatform,
    responses(
        (status = 200, description = "The changed platform", body = Platform),
        (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another platform manages the same file or has the same name", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn patch(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchPlatform>,
) -> Result<Json<Platform>, ApiError> {
    let platform = find_platform(&state, &user, &id, Role::Operator).await?;
    let mut errors = Errors::default();
    let mut patch = PlatformPatch::default();
    if let Some(name) = &body.name {
        patch.name = errors.check("name", validate::name(name));
    }
    if let Some(host) = &body.host {
        patch.host = errors.check("host", validate::host(host));
    }
    if let Some(port) = body.port {
        patch.port = errors.check("port", validate::port(port));
    }
    if let Some(username) = &body.username {
        patch.username = errors.check("username", validate::username(username));
    }
    if let Some(policy) = &body.host_key_policy {
        patch.host_key_policy = host_key_policy(&mut errors, policy);
        if patch.host_key_policy == Some(HostKeyPolicy::Strict)
            && platform.host_key_fingerprint.is_none()
        {
            errors.add(
                "host_key_policy",
                "strict needs a pinned host key; connect once under tofu or re-create the \
                 platform with host_key_fingerprint",
            );
        }
    }
    if let Some(path) = &body.authorized_keys_path {
        patch.authorized_keys_path =
            errors.check("authorized_keys_path", validate::authorized_keys_path(path));
    }
    if let Some(tags) = &body.tags {
        patch.tags = errors.check("tags", validate::tags(tags));
    }
    patch.exclusive = body.exclusive;
    match &body.auth_method {
        Some(method) => {
            if let Some(credential) = credential(
                &mut errors,
                method,
                body.password,
                body.private_key,
                body.private_key_passphrase,
            )
            .await
            {
                let sealed = crate::credential::seal(&state.master_key, platform.id, &credential);
                patch.credential = Some((credential.method(), sealed));
            }
        }
        None if body.password.is_some() || body.private_key.is_some() => {
            errors.add("auth_method", "is required when changing the credential");
        }
        None => {}
    }
    errors.finish()?;
    // A platform may not be moved out of the scope it is changed in.
    let name = patch.name.as_ref().unwrap_or(&platform.name);
    let facts = PlatformFacts {
        name,
        host: patch.host.as_ref().unwrap_or(&platform.host),
        tags: patch.tags.as_ref().unwrap_or(&platform.tags),
        ..PlatformFacts::from(&platform)
    };
    require_for(&user, name, &facts)?;
    // No edit raises its editor's role on the platform: renaming or retagging it into the
    // scope of a stronger grant (admin on `name:web5`) would hand that grant to any platform.
    let before = user.grants.role_on(&PlatformFacts::from(&platform));
    let after = user.grants.role_on(&facts);
    if after > before {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this change would give you role {} on {name}, where you hold {}: only someone \
                 who holds it already may make it",
                after.map_or("none", Role::as_str),
                before.map_or("none", Role::as_str)
            ),
        ));
    }
    // A stored credential goes only where it was given, unless the editor may act on the whole
    // fleet anyway: someone with operator on part of it must not point a platform (and its
    // password or key) at a host of their choosing.
    let moved = [
        (
            "host",
            patch.host.as_ref().is_some_and(|h| *h != platform.host),
        ),
        ("port", patch.port.is_some_and(|p| p != platform.port)),
        (
            "username",
            patch
                .username
                .as_ref()
                .is_some_and(|u| *u != platform.username),
        ),
    ];
    if patch.credential.is_none() && user.grants.fleet() < Some(Role::Operator) {
        let mut errors = Errors::default();
        for (field, _) in moved.iter().filter(|(_, changed)| *changed) {
            errors.add(
                field,
                "changing it needs the credential again (auth_method with password or \
                 private_key): a stored credential is only sent where it was given, unless you \
                 are operator on the whole fleet",
            );
        }
        errors.finish()?;
    }
    let updated = state
        .store
        .patch_platform(&user.actor(), platform.id, patch)
        .await?;
    Ok(Json(updated))
}

/// Query of `DELETE /api/platforms/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` deletes even while keys are assigned (for a host that is gone).
    #[param(value_type = Option<bool>)]
    forget_keys: Option<String>,
}

/// `DELETE /api/platforms/{id}[?forget_keys=true]` → 204; 409 while keys are assigned, unless
/// `forget_keys` (for a host that is gone: the keys testum put there stay).
#[utoipa::path(
    delete,
    path = "/api/platforms/{id}",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id"), DeleteQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Keys are still assigned (see `forget_keys`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let forget_keys = match query.forget_keys.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::field("forget_keys", "must be true or false")),
    };
    let id = find_platform(&state, &user, &id, Role::Operator).await?.id;
    match state
        .store
        .delete_platform(&user.actor(), id, forget_keys)
        .await
    {
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("no platform with id {id}"))),
        other => other
            .map(|()| StatusCode::NO_CONTENT)
            .map_err(ApiError::from),
    }
}

/// `POST /api/platforms/{id}/host_key/trust` body: the new pin, or nothing to re-pin on the next
/// connection.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustHostKey {
    /// The new pin, `SHA256:...`; absent: pin whatever the next connection sees (not under
    /// `strict`).
    #[serde(default)]
    host_key_fingerprint: Option<String>,
    #[serde(default)]
    host_key_type: Option<String>,
}

/// `POST /api/platforms/{id}/host_key/trust`: re-trust after a legitimate host key change.
/// With `host_key_fingerprint` (and optionally `host_key_type`) that key is pinned; without, the
/// pin is cleared and the next connection pins what it sees (refused under `strict`, which never
/// trusts an unknown key). The audit event shows the old and the new fingerprint.
#[utoipa::path(
    post,
    path = "/api/platforms/{id}/host_key/trust",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id")),
    request_body = TrustHostKey,
    responses(
        (status = 200, description = "The platform with its new pin", body = Platform),
        (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn trust_host_key(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<TrustHostKey>,
) -> Result<Json<Platform>, ApiError> {
    let platform = find_platform(&state, &user, &id, Role::Admin).await?;
    let mut errors = Errors::default();
    let pin = match &body.host_key_fingerprint {
        Some(fingerprint) => {
            if body.host_key_type.is_none() {
                errors.add(
                    "host_key_type",
                    "is required with host_key_fingerprint: a fingerprint does not say which of the host's \
                 keys it is (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, ...; ssh-keyscan shows it)",
                );
            }
            errors
                .check("host_key_fingerprint", validate::fingerprint(fingerprint))
                .map(|f| (body.host_key_type.clone(), f))
        }
        None => {
            if body.host_key_type.is_some() {
                errors.add(
                    "host_key_type",
                    "is only meaningful with host_key_fingerprint",
                );
            }
            if platform.host_key_policy == HostKeyPolicy::Strict {
                errors.add(
                    "host_key_fingerprint",
                    "is required: the platform's policy is strict, which never trusts an \
                     unknown key on first use",
                );
            }
            None
        }
    };
    if let Some(t) = &body.host_key_type
        && !is_host_key_algorithm(t)
    {
        errors.add("host_key_type", "is not an SSH host key algorithm name");
    }
    errors.finish()?;
    let updated = state
        .store
        .trust_host_key(&user.actor(), platform.id, pin)
        .await?;
    Ok(Json(updated))
}

/// `GET /api/platforms/{id}/keys` answer: every assignment of the platform (not paged).
#[derive(Debug, Serialize, ToSchema)]
pub struct Assignments {
    items: Vec<Assignment>,
}

/// `GET /api/platforms/{id}/keys`: assigned keys with the last sync result of each.
#[utoipa::path(
    get,
    path = "/api/platforms/{id}/keys",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id")),
    responses((status = 200, description = "The platform's assignments", body = Assignments), (status = 404, description = "No platform with this id", body = Problem, content_type = "application/problem+json"))
)]
pub async fn keys(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Assignments>, ApiError> {
    let platform = find_platform(&state, &user, &id, Role::Viewer).await?;
    let items = state.store.platform_assignments(platform.id).await?;
    Ok(Json(Assignments { items }))
}

/// `GET /api/platforms/{id}/scan`: the latest scan of the platform's authorized_keys (every
/// line, its class and key, each finding), or 404 while the platform was never scanned.
#[utoipa::path(
    get,
    path = "/api/platforms/{id}/scan",
    tag = "platforms",
    params(("id" = Uuid, Path, description = "The platform's id")),
    responses((status = 200, description = "The latest scan", body = PlatformScan), (status = 404, description = "No platform with this id, or never scanned", body = Problem, content_type = "application/problem+json"))
)]
pub async fn scan(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PlatformScan>, ApiError> {
    let platform = find_platform(&state, &user, &id, Role::Viewer).await?;
    match state.store.platform_scan(platform.id).await? {
        Some(scan) => Ok(Json(scan)),
        None => Err(ApiError::not_found(format!(
            "platform {} was never scanned; queue a scan: POST /api/tasks {{\"kind\": \"scan\", \
             \"platform_ids\": [\"{}\"]}}",
            platform.name, platform.id
        ))),
    }
}
