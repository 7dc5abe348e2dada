//! The HTTP API: JSON over axum, problem+json errors, WebSocket task streams.
//!
//! Handlers stay thin: they parse input at the edge (see [`extract`] and [`crate::validate`]),
//! call the store, and shape the answer. Everything under `/api` and `/ws` except login needs a
//! valid access token ([`auth::require_auth`]); `/healthz` and `/readyz` are public.

pub mod audit;
pub mod auth;
pub mod error;
pub mod extract;
pub mod keys;
pub mod platforms;
pub mod tasks;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use serde_json::json;
use tower::Layer as _;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::trace::TraceLayer;

use crate::archive::OutputArchive;
use crate::config::ServeConfig;
use crate::crypto::MasterKey;
use crate::store::Store;
use crate::tasks::EventBus;
use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub master_key: MasterKey,
    pub config: Arc<ServeConfig>,
    pub events: EventBus,
    pub tokens: Arc<auth::TokenKeys>,
    /// Where finished tasks' output is archived; readers go through [`crate::archive::events_after`].
    pub archive: OutputArchive,
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
            config,
            events,
            tokens,
            archive,
        })
    }
}

/// The whole router (without trailing-slash normalisation, which wraps it in [`serve`]).
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/api/keys", get(keys::list).post(keys::create))
        .route(
            "/api/keys/{id}",
            get(keys::get).patch(keys::patch).delete(keys::delete),
        )
        .route(
            "/api/platforms",
            get(platforms::list).post(platforms::create),
        )
        .route(
            "/api/platforms/{id}",
            get(platforms::get)
                .patch(platforms::patch)
                .delete(platforms::delete),
        )
        .route("/api/platforms/{id}/keys", get(platforms::keys))
        .route(
            "/api/platforms/{id}/host_key/trust",
            post(platforms::trust_host_key),
        )
        .route("/api/platforms/{id}/deploy_keys", post(tasks::deploy_keys))
        .route("/api/platforms/{id}/revoke_keys", post(tasks::revoke_keys))
        .route("/api/platforms/{id}/run_command", post(tasks::run_command))
        .route("/api/tasks", get(tasks::list).post(tasks::create))
        .route("/api/tasks/{id}", get(tasks::get))
        .route("/api/tasks/{id}/output", get(tasks::output))
        .route("/api/tasks/{id}/cancel", post(tasks::cancel))
        .route("/api/audit", get(audit::list))
        .route("/ws/tasks/{id}", get(ws::task_stream))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/auth/login", post(auth::login))
        .merge(protected)
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        .layer(
            // Spans name the path only: a query string may hold an access token.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path())
            }),
        )
        .with_state(state)
}

/// Serve `router(state)` on `listener` until `shutdown` resolves. Trailing slashes are accepted.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = NormalizePathLayer::trim_trailing_slash().layer(router(state));
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(app),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `GET /healthz`: 200 while the process serves requests.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers, else 503.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database not ready");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database does not answer",
        )
    })?;
    Ok(Json(json!({"status": "ready", "database": "ok"})))
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
