//! The HTTP API: JSON over axum, problem+json errors, WebSocket task streams.
//!
//! Handlers stay thin: they parse input at the edge (see [`extract`] and [`crate::validate`]),
//! call the store, and shape the answer. Everything under `/api` and `/ws` except login needs a
//! valid access token ([`auth::require_auth`]) and a role the access table ([`access`]) allows;
//! `/healthz`, `/readyz`, `/metrics` (which takes a token of its own when `TESTUM_METRICS_TOKEN`
//! is set, see [`scrape`]) and the API documentation ([`docs`]) are public.
//!
//! Around every route: security headers ([`security_headers`]), CORS for configured origins only
//! ([`cors`]), a 1 MiB body limit ([`extract::MAX_BODY_BYTES`]); [`serve`] speaks HTTPS when a
//! certificate is configured ([`tls`]).
//!
//! Layering: near the top. It may use every module below it (`store`, `tasks`, `ssh`, the
//! parsers, `metrics`, ...); only `server` and the web UI (`ui`, which shares its state and
//! errors) use it, so no module below reaches up into `api` (the `/metrics` handler lives here,
//! in [`scrape`], and reads the counters of [`crate::metrics`]).

pub mod access;
pub mod access_report;
pub mod audit;
pub mod auth;
pub mod cors;
pub mod csv_download;
pub mod docs;
pub mod error;
pub mod extract;
pub mod grants;
pub mod groups;
pub mod imports;
pub mod keys;
pub mod known_hosts;
pub mod ldap_login;
pub mod notifications;
pub mod platform_filters;
pub mod platforms;
pub mod provider_login;
pub mod ratelimit;
pub mod schedules;
pub mod scope;
pub mod scrape;
pub mod security_headers;
pub mod sessions;
pub mod tasks;
pub mod tls;
pub mod tokens;
pub mod totp;
pub mod users;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{Request, StatusCode};
use axum::serve::ListenerExt as _;
use axum::{Json, Router, middleware};
use serde::Serialize;
use tower::Layer as _;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::trace::TraceLayer;
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::archive::OutputArchive;
use crate::config::ServeConfig;
use crate::crypto::MasterKey;
use crate::store::Store;
use crate::tasks::{EventBus, WorkerHealth, WorkersStatus};
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub master_key: MasterKey,
    pub config: Arc<ServeConfig>,
    pub events: EventBus,
    pub tokens: Arc<auth::TokenKeys>,
    /// Login attempts per username ([`ratelimit`]).
    pub login_limiter: Arc<ratelimit::UsernameLimiter>,
    /// Where finished tasks' output is archived; readers go through [`crate::archive::events_after`].
    pub archive: OutputArchive,
    /// The in-process workers `/readyz` checks; workers join it via [`crate::tasks::WorkerConfig`].
    pub workers: WorkerHealth,
    /// The HTTPS configuration when testum serves TLS itself (`--tls-cert`/`--tls-key`), else
    /// `None`. `Some` also means: cookies get `Secure`, responses get HSTS.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// The LDAP directory users may sign in through (`TESTUM_LDAP_URL`), checked at start;
    /// `None`: local accounts only.
    pub ldap: Option<Arc<crate::ldap::Directory>>,
    /// The OpenID Connect providers users may sign in through (`TESTUM_OIDC_PROVIDERS`), each
    /// checked at start; empty: none.
    pub oidc: Arc<crate::oidc::Providers>,
}

impl AppState {
    /// State over an opened store; token keys are derived from the master key.
    pub fn new(
        store: Store,
        master_key: MasterKey,
        config: Arc<ServeConfig>,
        events: EventBus,
        archive: OutputArchive,
    ) -> Result<AppState, jsonwebtoken::errors::Error> {
        let tokens = auth::token_keys(&master_key, config.access_token_ttl_secs)?;
        Ok(AppState {
            store,
            master_key,
            config: config.clone(),
            events,
            tokens,
            login_limiter: Arc::new(ratelimit::UsernameLimiter::new(&config.rate_limits)),
            archive,
            workers: WorkerHealth::default(),
            tls: None,
            ldap: None,
            oidc: Arc::default(),
        })
    }
}

/// Every route of the API, each registered with its OpenAPI operation (utoipa-axum's `routes!`
/// reads the handler's `#[utoipa::path]`), so the router and the document cannot drift apart.
/// Who may call each route is in [`access::RULES`]; a new route needs a row there too.
///
/// Login and refresh, the routes that take guessable credentials, are also limited per client IP
/// (`limits`; login per username too, inside the handler).
pub fn routes(limits: &ratelimit::RateLimits) -> OpenApiRouter<AppState> {
    let rate_limited = OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(sessions::refresh))
        .route_layer(ratelimit::ip_layer(limits));
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(scrape::scrape))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::index))
        .routes(routes!(docs::asset))
        .merge(rate_limited)
        .routes(routes!(sessions::logout))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::patch, users::delete))
        .routes(routes!(users::change_own_password))
        .routes(routes!(totp::status, totp::start))
        .routes(routes!(totp::confirm))
        .routes(routes!(totp::disable))
        .routes(routes!(totp::reset))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::get, groups::patch, groups::delete))
        .routes(routes!(grants::list, grants::create))
        .routes(routes!(grants::delete))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::get, keys::patch, keys::delete))
        .routes(routes!(keys::replace))
        .routes(routes!(tasks::revoke_everywhere))
        .routes(routes!(imports::keys))
        .routes(routes!(platforms::list, platforms::create))
        .routes(routes!(imports::platforms))
        .routes(routes!(platforms::matching))
        .routes(routes!(platforms::get, platforms::patch, platforms::delete))
        .routes(routes!(platforms::keys))
        .routes(routes!(platforms::scan))
        .routes(routes!(access_report::report))
        .routes(routes!(platforms::trust_host_key))
        .routes(routes!(tasks::deploy_keys))
        .routes(routes!(tasks::revoke_keys))
        .routes(routes!(tasks::run_command))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::output))
        .routes(routes!(tasks::targets))
        .routes(routes!(tasks::output_groups))
        .routes(routes!(tasks::cancel))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(schedules::get, schedules::patch, schedules::delete))
        .routes(routes!(audit::list))
        .routes(routes!(known_hosts::import))
        .routes(routes!(notifications::list, notifications::create))
        .routes(routes!(
            notifications::get,
            notifications::patch,
            notifications::delete
        ))
        .routes(routes!(notifications::test))
        .routes(routes!(notifications::deliveries))
        .routes(routes!(ws::task_stream))
}

/// The whole router (without trailing-slash normalisation, which wraps it in [`serve`]).
///
/// Every route passes [`auth::require_auth`] (which lets public routes through), then
/// [`access::authorize`], both driven by the access table, then [`totp::require_enrolment`]
/// (a user who must turn on two-factor sign-in may only do that).
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = routes(&state.config.rate_limits).split_for_parts();
    let document = docs::Document::new(openapi);
    let https = state.tls.is_some();
    let cors_origins = state.config.http.cors_origins.clone();
    let router = routes
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            totp::require_enrolment,
        ))
        .route_layer(middleware::from_fn(access::authorize))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ))
        .merge(crate::ui::router(&state.config.rate_limits))
        .layer(Extension(document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(middleware::from_fn(crate::metrics::track_http))
        .layer(
            // Spans name the path only: a query string may hold an access token.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state);
    security_headers::apply(cors::apply(router, &cors_origins), https)
}

/// Serve `router(state)` on `listener` until `shutdown` resolves: HTTPS when `state.tls` is set,
/// else plain HTTP. Trailing slashes are accepted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = state.tls.clone();
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(app);
    match tls {
        Some(config) => {
            // `tap_io` is what gives a custom listener axum's `ConnectInfo<SocketAddr>`.
            let listener = tls::TlsListener::new(listener, config)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// `GET /healthz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// `GET /readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready` (a service that is not ready answers 503 problem+json).
    status: &'static str,
    /// `ok` when the database answered.
    database: &'static str,
    /// `ok` when every in-process worker reported recently; `none in process` with `--workers 0`.
    workers: &'static str,
}

/// `GET /healthz`: 200 while the process serves requests.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process serves requests", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: 200 `{"status": "ready", "database": "ok", "workers": W}` when the database
/// answers and every in-process worker's loop beat recently (W is `"ok"`, or `"none in process"`
/// with `--workers 0`); else 503 problem+json whose `detail` names the failing part.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers and the in-process workers report", body = Ready),
        (status = 503, description = "The database does not answer, or an in-process worker stalled; `detail` names which", body = error::Problem, content_type = "application/problem+json")
    )
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database: it does not answer",
        )
    })?;
    let workers = match state.workers.status() {
        WorkersStatus::NoneInProcess => "none in process",
        WorkersStatus::Alive(_) => "ok",
        WorkersStatus::Stalled { stalled, total } => {
            tracing::warn!(stalled, total, "in-process workers stalled");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "workers: {stalled} of {total} in-process worker(s) did not report for {} s",
                    crate::tasks::STALE_AFTER.as_secs()
                ),
            ));
        }
    };
    Ok(Json(Ready {
        status: "ready",
        database: "ok",
        workers,
    }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}
