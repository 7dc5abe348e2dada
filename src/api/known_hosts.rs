//! `POST /api/known_hosts` (admin): pin platforms' host keys up front from OpenSSH known_hosts
//! lines, e.g. the output of `ssh-keyscan` or an operator's `~/.ssh/known_hosts`.
//!
//! Body `{"known_hosts": "<text>", "dry_run": false}`. Answer 200 `{dry_run, pinned, unchanged,
//! refused, results}` (with `dry_run` nothing is written and `pinned` counts what would be) where
//! `results` has one row per line and platform: `{line, status, reason, platform_id, platform,
//! key_type, fingerprint}` with `status` one of `pinned`, `unchanged`, `refused`, `skipped`,
//! `invalid` (see [`crate::known_hosts`] for the rules). Pins are written in one transaction,
//! each audited as `host_key.import`; an existing different pin is never replaced (that is
//! `POST /api/platforms/{id}/host_key/trust`).

use axum::Json;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Problem};
use super::extract::ApiJson;
use crate::known_hosts::{self, Outcome, Status};
use crate::role::Role;
use crate::store::ImportedPin;
use uuid::Uuid;

/// `POST /api/known_hosts` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKnownHosts {
    /// known_hosts text: lines as OpenSSH writes them, LF or CRLF.
    known_hosts: String,
    /// Answer what the import would do, line by line, and pin nothing (default false).
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/known_hosts` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// True when nothing was written: `pinned` counts what the import would pin.
    pub dry_run: bool,
    /// Platforms pinned by this import.
    pub pinned: usize,
    /// Platforms that already had the listed key pinned.
    pub unchanged: usize,
    /// Rows refused (a different pin exists, or the key is revoked).
    pub refused: usize,
    /// One row per line and platform, by line.
    pub results: Vec<Outcome>,
}

/// `POST /api/known_hosts`: import known_hosts lines (422 `known_hosts` when there is no line).
#[utoipa::path(
    post,
    path = "/api/known_hosts",
    tag = "platforms",
    request_body = ImportKnownHosts,
    responses(
        (status = 200, description = "What the import did, line by line", body = ImportResult),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn import(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<ImportKnownHosts>,
) -> Result<Json<ImportResult>, ApiError> {
    if body.known_hosts.trim().is_empty() {
        return Err(ApiError::field(
            "known_hosts",
            "must hold at least one known_hosts line",
        ));
    }
    let lines = known_hosts::parse(&body.known_hosts);
    // A line for a platform out of the caller's sight matches nothing, as if it did not exist.
    let visible = super::scope::visible_platforms(&state, &user).await?;
    let mut platforms = state.store.platform_pins().await?;
    platforms.retain(|p| visible.contains(p.id));
    let mut results = known_hosts::plan(&lines, &platforms);
    let to_pin: Vec<(usize, ImportedPin)> = results
        .iter()
        .enumerate()
        .filter(|(_, o)| o.status == Status::Pinned)
        .filter_map(|(i, o)| {
            Some((
                i,
                ImportedPin {
                    platform_id: o.platform_id?,
                    key_type: o.key_type.clone()?,
                    fingerprint: o.fingerprint.clone()?,
                    line: o.line,
                },
            ))
        })
        .collect();
    let pins: Vec<ImportedPin> = to_pin.iter().map(|(_, p)| p.clone()).collect();
    // Pinning is a trust decision: admin on every platform pinned, or nothing is (a preview too).
    let pinned: Vec<Uuid> = pins.iter().map(|p| p.platform_id).collect();
    super::scope::require_on(&state, &user, Role::Admin, &pinned).await?;
    let written = match body.dry_run {
        true => vec![true; pins.len()],
        false => state.store.import_host_keys(&user.actor(), &pins).await?,
    };
    for ((index, _), done) in to_pin.iter().zip(written) {
        if !done {
            let row = &mut results[*index];
            row.status = Status::Refused;
            row.reason = Some(
                "the platform got a host key pinned while this import ran; import again to \
                 compare with it"
                    .into(),
            );
        }
    }
    let count = |status: Status| results.iter().filter(|o| o.status == status).count();
    Ok(Json(ImportResult {
        dry_run: body.dry_run,
        pinned: count(Status::Pinned),
        unchanged: count(Status::Unchanged),
        refused: count(Status::Refused),
        results,
    }))
}
