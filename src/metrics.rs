//! Prometheus metrics: one process-wide recorder (the `metrics` facade with
//! `metrics-exporter-prometheus`, no exporter thread of its own) and the counters testum keeps in
//! it; `GET /metrics` (in `api`) renders it in the Prometheus text format 0.0.4.
//!
//! Layering: a leaf. It depends on nothing in the crate (only the `metrics` facade, the exporter
//! and axum's middleware types), so the SSH engine, the workers and the API all record into it
//! without a cycle.
//!
//! Metrics (all registered at zero by [`install`], so a fresh process lists every one):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `testum_tasks_total` | counter | `kind`, `outcome` | tasks ended by a worker (`succeeded`, `failed`, `cancelled`) |
//! | `testum_targets_in_flight` | gauge | | targets this process's workers are running now |
//! | `testum_queue_depth` | gauge | | queued targets in the whole queue (read from the database on each scrape) |
//! | `testum_ssh_connect_duration_seconds` | histogram | `outcome` (`ok`, `error`) | TCP connect, key exchange, host-key check and authentication |
//! | `testum_command_duration_seconds` | histogram | | run_command targets, from exec to exit |
//! | `testum_http_requests_total` | counter | `method`, `route`, `status` | answered HTTP requests |
//! | `testum_http_request_duration_seconds` | histogram | `method`, `route`, `status` | time to the response head |
//!
//! `route` is the route template (`/api/tasks/{id}`, axum's `MatchedPath`), never the raw path, so
//! ids do not explode the label space; requests that match no route count as `unmatched`.
//!
//! The recorder is global to the process (the `metrics` facade allows one): [`install`] sets it up
//! once and later calls return the same handle, so several servers in one process (tests) share
//! one set of counters.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

const TASKS: &str = "testum_tasks_total";
const IN_FLIGHT: &str = "testum_targets_in_flight";
const QUEUE_DEPTH: &str = "testum_queue_depth";
const SSH_CONNECT: &str = "testum_ssh_connect_duration_seconds";
const COMMAND: &str = "testum_command_duration_seconds";
const HTTP_REQUESTS: &str = "testum_http_requests_total";
const HTTP_DURATION: &str = "testum_http_request_duration_seconds";

/// Task kinds and outcomes registered at zero.
const KINDS: [&str; 5] = [
    "deploy_keys",
    "revoke_keys",
    "run_command",
    "scan",
    "replace_key",
];
/// The final task statuses, as `TaskStatus::as_str` spells them (a test in `tasks::run` holds
/// them equal).
pub(crate) const OUTCOMES: [&str; 3] = ["succeeded", "failed", "cancelled"];

/// Routes every deployment probes, registered at zero with status 200 (other label sets appear
/// with their first request).
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Histogram buckets in seconds: from a fast loopback handshake to the longest command timeout.
const BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// How often histogram samples are folded into their buckets between scrapes (bounds memory).
const UPKEEP: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide recorder (once; later calls are no-ops) and register every metric at
/// zero. `None` when another recorder was installed first (an embedding program's): then
/// `/metrics` answers 503 and recording goes to that recorder.
pub fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new().set_buckets(&BUCKETS) {
                Ok(builder) => builder,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad histogram buckets");
                    return None;
                }
            };
            let handle = match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed");
                    return None;
                }
            };
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("testum-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                // Scrapes still fold samples in; only memory between scrapes is unbounded.
                tracing::warn!(error = %e, "metrics: cannot start the upkeep thread");
            }
            register();
            Some(handle)
        })
        .as_ref()
}

/// Describe every metric and create its known series at zero.
fn register() {
    describe_counter!(
        TASKS,
        Unit::Count,
        "Tasks ended by a worker, by kind and outcome."
    );
    describe_gauge!(
        IN_FLIGHT,
        Unit::Count,
        "Targets this process's workers are running."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Queued targets (whole queue, read on scrape)."
    );
    describe_histogram!(
        SSH_CONNECT,
        Unit::Seconds,
        "SSH connect, key exchange, host-key check and authentication."
    );
    describe_histogram!(
        COMMAND,
        Unit::Seconds,
        "run_command targets from exec to exit."
    );
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests by route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response head, by route template and status."
    );
    for kind in KINDS {
        for outcome in OUTCOMES {
            counter!(TASKS, "kind" => kind, "outcome" => outcome).increment(0);
        }
    }
    gauge!(IN_FLIGHT).set(0.0);
    gauge!(QUEUE_DEPTH).set(0.0);
    for outcome in ["ok", "error"] {
        let _ = histogram!(SSH_CONNECT, "outcome" => outcome);
    }
    let _ = histogram!(COMMAND);
    for route in PROBES {
        let labels = [("method", "GET"), ("route", route), ("status", "200")];
        counter!(HTTP_REQUESTS, &labels).increment(0);
        let _ = histogram!(HTTP_DURATION, &labels);
    }
}

/// Count a task a worker ended with `outcome`, one of [`OUTCOMES`].
pub fn task_ended(kind: &(impl AsRef<str> + ?Sized), outcome: &'static str) {
    counter!(TASKS, "kind" => kind.as_ref().to_string(), "outcome" => outcome).increment(1);
}

/// Set `testum_queue_depth` to `depth` queued targets (read by the `/metrics` handler).
pub fn set_queue_depth(depth: i64) {
    gauge!(QUEUE_DEPTH).set(depth as f64);
}

/// A target running in this process; counted in `testum_targets_in_flight` until dropped.
#[must_use = "the target counts as in flight until this is dropped"]
pub struct InFlight(());

/// Count a target as running until the returned guard is dropped.
pub fn target_started() -> InFlight {
    gauge!(IN_FLIGHT).increment(1.0);
    InFlight(())
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT).decrement(1.0);
    }
}

/// Record an SSH connection attempt that took `elapsed` (whether it succeeded).
pub fn ssh_connected(elapsed: Duration, ok: bool) {
    histogram!(SSH_CONNECT, "outcome" => if ok { "ok" } else { "error" }).record(elapsed);
}

/// Record a run_command that took `elapsed` from exec to its end.
pub fn command_ended(elapsed: Duration) {
    histogram!(COMMAND).record(elapsed);
}

/// Middleware counting every request by method, route template and status, with its duration to
/// the response head. Layer it on the whole router, so `MatchedPath` is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    let start = Instant::now();
    // Only standard methods become labels: any token is a valid method name, and each new label
    // value would be a new series (unbounded memory for an unauthenticated caller).
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => request.method().as_str().to_string(),
        _ => "other".to_string(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    counter!(HTTP_REQUESTS, &labels).increment(1);
    histogram!(HTTP_DURATION, &labels).record(start.elapsed());
    response
}
