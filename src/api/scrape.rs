//! `GET /metrics`: the process's Prometheus recorder ([`crate::metrics`]) in the text format
//! 0.0.4, with the queue depth read from the store on each scrape.
//!
//! Layering: part of `api`; it reads the counters `crate::metrics` keeps and never the other way
//! round.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::AppState;
use super::error::ApiError;
use crate::metrics;

/// The `Content-Type` of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: the Prometheus text format. Public unless `TESTUM_METRICS_TOKEN` is set; then
/// `Authorization: Bearer <token>` is required (401 otherwise; compared in constant time). The
/// queue depth is read from the database for each scrape (one indexed `COUNT`); if that fails
/// the last value stays and the failure is logged. 503 when the recorder could not be installed.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"),
        (status = 401, description = "`TESTUM_METRICS_TOKEN` is set and the bearer token is missing or wrong", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No metrics recorder could be installed", body = crate::api::error::Problem, content_type = "application/problem+json")
    )
)]
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token
        && !bearer_matches(&headers, expected.expose())
    {
        return ApiError::unauthorized("GET /metrics needs Authorization: Bearer <metrics token>")
            .into_response();
    }
    let Some(handle) = metrics::install() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no metrics recorder installed",
        )
        .into_response();
    };
    match state.store.count_queued_targets().await {
        Ok(depth) => metrics::set_queue_depth(depth),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue depth"),
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        handle.render(),
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Bearer <expected>`. Both sides are hashed first, so
/// the comparison takes the same time whatever the length or content of the guess.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let given = Sha256::digest(given.trim().as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_passes() {
        assert!(bearer_matches(&with_auth("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Bearer s3cret2"), "s3cret"));
        assert!(!bearer_matches(&with_auth("Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
