//! Running one claimed target: open the platform's SSH session (checking and pinning its host
//! key), then sync authorized_keys or run the command, and record the result.

use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::authorized_keys::{
    Applied, EngineError, KeyLine, LineKind, RemovedLines, parse_key_line, present_in_block,
    remove_unmanaged_keys, shadowing_conflict,
};
use crate::crypto::MasterKey;
use crate::deploy::{RemoteFile, sync_observed};
use crate::ssh::{self, ConnectParams, HostKey, Session, SshError};
use crate::store::{
    Actor, ClaimedTarget, DesiredState, NewAudit, NotificationEvent, OutputChunk, PinOutcome,
    Platform, PlatformState, Store, StoreError, TargetResult, TaskKind, TaskStatus,
};

use super::EventBus;
use super::locks::PlatformLocks;
use super::output::{OutputTarget, store_output};
use super::scan::{record_failure, record_read};
use super::writer::OutputWriter;

/// How often a running command checks the store for a cancel it was not woken for.
const CANCEL_POLL: Duration = Duration::from_secs(5);

/// Output chunks (each at most one SSH packet, 32 KiB) queued between a command's SSH channel and
/// its chunker. One is enough to keep the pipeline moving: the host's bytes wait in the kernel's
/// socket buffer, not in ours (a heap profile of 200 hosts streaming showed a third of the heap
/// in packets parked in these queues).
const OUTPUT_CHUNKS_IN_FLIGHT: usize = 1;

/// Lines removed by exclusive mode that a target's output lists; the rest are counted.
const REMOVED_LINES_IN_OUTPUT: usize = 200;

/// Default and upper bound of a command's timeout, in seconds.
pub const DEFAULT_COMMAND_TIMEOUT_S: u32 = 600;

/// What every target run needs.
#[derive(Clone)]
pub struct RunContext {
    pub store: Store,
    pub master_key: MasterKey,
    pub bus: EventBus,
    pub locks: PlatformLocks,
    pub connect_timeout: Duration,
    pub max_output_bytes: u64,
    /// Stores output chunks in batches (and keeps the per-task output cap).
    pub output: OutputWriter,
    pub worker_id: String,
    /// How long this worker's claims and leases last without a heartbeat.
    pub lease: Duration,
    /// Becomes `true` when the worker shuts down and running commands must end.
    pub interrupted: tokio::sync::watch::Receiver<bool>,
    /// Where ended tasks' output is archived; `None` keeps it in the database.
    pub archive: Option<crate::archive::OutputArchive>,
}

/// Most other platforms a shared-host-key warning names; the rest are counted.
const SHARED_HOST_KEY_NAMES: usize = 3;

/// Run `target` to its end and record the result; never fails (failures become the target's).
pub async fn run_target(context: &RunContext, target: ClaimedTarget) {
    // Warnings raised on the way are kept whatever the end: a failure after a warning has both.
    let mut warnings = Vec::new();
    let mut result = match execute(context, &target, &mut warnings).await {
        Ok(result) => result,
        Err(message) => {
            // One line per failed target, so a failure is in the log and not only in the API.
            tracing::warn!(task = %target.task_id, platform = %target.platform_id,
                           kind = %target.kind, error = %message, "target failed");
            TargetResult {
                status: Some(TaskStatus::Failed),
                error: Some(message),
                ..TargetResult::default()
            }
        }
    };
    result.warnings = warnings;
    let (digest, bytes) = context
        .output
        .take_digest(target.task_id, target.platform_id);
    result.output_digest = Some(digest);
    result.output_bytes = Some(i64::try_from(bytes).unwrap_or(i64::MAX));
    match context
        .store
        .finish_target(
            &context.worker_id,
            target.task_id,
            target.platform_id,
            result,
        )
        .await
    {
        Ok(Some(status)) => {
            tracing::info!(task = %target.task_id, status = status.as_str(), "task finished");
            crate::metrics::task_ended(&target.kind, status.as_str());
            if let Some(archive) = &context.archive {
                crate::archive::spawn_archive(
                    context.store.clone(),
                    archive.clone(),
                    target.task_id,
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::error!(task = %target.task_id, error = %e, "recording a target failed"),
    }
}

/// Say something about the run in the target's stdout (deploy summaries), through the batched
/// output writer, so hundreds of targets finishing at once share a few transactions instead of
/// one each. Warnings are not output: they go to the target's `warnings`. Control and
/// invisible format characters are escaped ([`super::printable`]): a note may quote a host's
/// file (lines exclusive mode removed, a dry run's diff, findings).
pub(super) async fn note(context: &RunContext, target: &ClaimedTarget, text: &str) {
    let chunk = OutputChunk {
        task_id: target.task_id,
        platform_id: target.platform_id,
        stream: "stdout",
        data: super::printable(text).as_bytes().to_vec(),
    };
    if let Err(e) = context.output.write(chunk).await {
        tracing::error!(error = %e, "storing output failed");
    }
}

/// The target's error for a store failure while `doing` something, and a log line with the
/// whole error. What a user reads says what failed; the database's own words (which name
/// tables, statements and connection details) go to the worker's log only. A stored value that
/// does not decode (an unknown word in an enum column) is the user's to fix, so its message,
/// which names the column and the value, is shown.
pub(super) fn store_failure(platform: Uuid, doing: &str, error: StoreError) -> String {
    tracing::error!(platform = %platform, error = %error, "store failure while {doing}");
    match error {
        StoreError::Corrupt(_) | StoreError::Conflict(_) => format!("{doing}: {error}"),
        StoreError::NotFound => format!("{doing}: not found"),
        _ => format!("{doing}: internal database error (the worker's log has the details)"),
    }
}

/// Run the target's work; warnings about the run are pushed to `warnings`.
async fn execute(
    context: &RunContext,
    target: &ClaimedTarget,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let store = &context.store;
    let platform = store
        .get_platform(target.platform_id)
        .await
        .map_err(|e| store_failure(target.platform_id, "reading the platform", e))?
        .ok_or("the platform was deleted")?;
    match target.kind {
        TaskKind::DeployKeys | TaskKind::RevokeKeys | TaskKind::ReplaceKey | TaskKind::Sync => {
            sync(context, target, &platform, warnings).await
        }
        TaskKind::Scan => super::scan::scan(context, target, &platform, warnings).await,
        TaskKind::RunCommand => {
            let session = connect(context, &platform, warnings)
                .await
                .map_err(|f| f.message)?;
            run_command(context, target, &session, warnings).await
        }
    }
}

/// Why [`connect`] failed: the message for the target, and the platform state it means for a
/// scan (`host_key_mismatch` for a refused host key, `error` for an unusable stored credential,
/// else `unreachable`).
#[derive(Debug)]
pub(super) struct ConnectFailure {
    pub state: PlatformState,
    pub message: String,
}

impl ConnectFailure {
    fn new(state: PlatformState, message: String) -> ConnectFailure {
        ConnectFailure { state, message }
    }
}

/// Connect, and pin the host key on first use (race-safe: the store pins only when no pin exists,
/// and a concurrent first pin is compared like any other). A host key another platform pinned
/// already adds a warning to `warnings`.
pub(super) async fn connect(
    context: &RunContext,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<Session, ConnectFailure> {
    let error = |message| ConnectFailure::new(PlatformState::Error, message);
    let sealed = context
        .store
        .platform_credential(platform.id)
        .await
        .map_err(|e| error(store_failure(platform.id, "reading the credential", e)))?;
    let credential = crate::credential::open(&context.master_key, platform.id, &sealed)
        .map_err(|e| error(format!("cannot open the stored credential: {e}")))?;
    let pinned = platform
        .host_key_fingerprint
        .clone()
        .map(|fingerprint| HostKey {
            key_type: platform.host_key_type.clone().unwrap_or_default(),
            fingerprint,
        });
    let params = ConnectParams {
        host: platform.host.clone(),
        port: platform.port,
        username: platform.username.clone(),
        credential,
        policy: platform.host_key_policy,
        pinned,
        connect_timeout: context.connect_timeout,
        keepalive_interval: Duration::from_secs(15),
    };
    let session = match ssh::connect(&params).await {
        Ok(session) => session,
        Err(SshError::HostKeyMismatch { pinned, presented }) => {
            return Err(ConnectFailure::new(
                PlatformState::HostKeyMismatch,
                host_key_refused(context, platform, &pinned, &presented).await,
            ));
        }
        Err(e) => {
            return Err(ConnectFailure::new(
                PlatformState::Unreachable,
                e.to_string(),
            ));
        }
    };
    if platform.host_key_fingerprint.is_none() {
        let presented = &session.host_key;
        match context
            .store
            .pin_host_key(platform.id, &presented.key_type, &presented.fingerprint)
            .await
            .map_err(|e| error(store_failure(platform.id, "pinning the host key", e)))?
        {
            PinOutcome::Pinned { shared_with } => {
                if !shared_with.is_empty() {
                    warnings.push(shared_host_key_warning(
                        &presented.fingerprint,
                        &shared_with,
                    ));
                }
            }
            PinOutcome::AlreadyPinned(existing)
                if existing.fingerprint == presented.fingerprint => {}
            PinOutcome::AlreadyPinned(existing) => {
                return Err(ConnectFailure::new(
                    PlatformState::HostKeyMismatch,
                    host_key_refused(context, platform, &existing.fingerprint, presented).await,
                ));
            }
        }
    }
    Ok(session)
}

/// `host key SHA256:... is also pinned by web-01, web-02, web-03 and 197 more: ...`: names at
/// most [`SHARED_HOST_KEY_NAMES`] of the `others`, so a cloned image on a whole fleet stays one
/// readable line (the `host_key.pin` audit event lists them all).
fn shared_host_key_warning(fingerprint: &str, others: &[String]) -> String {
    let named = others.len().min(SHARED_HOST_KEY_NAMES);
    let mut names = others[..named].join(", ");
    match others.len() - named {
        0 => {}
        more => names.push_str(&format!(" and {more} more")),
    }
    format!(
        "host key {fingerprint} is also pinned by {names}: a cloned image or a redirected port?"
    )
}

/// Record and report a connection refused because `presented` differs from the `pinned`
/// fingerprint: the presented key is kept on the platform (for the trust action), the refusal is
/// audited and notified once per mismatch, and the returned message is the target's error.
async fn host_key_refused(
    context: &RunContext,
    platform: &Platform,
    pinned: &str,
    presented: &HostKey,
) -> String {
    let message = format!(
        "host key changed: pinned {pinned}, presented {} {}; refusing to connect (if the change \
         is legitimate, an admin re-trusts it on the platform's page in the UI, with `testum \
         host-key trust {}` or with POST /api/platforms/{}/host_key/trust)",
        presented.key_type, presented.fingerprint, platform.name, platform.id
    );
    if let Err(e) = context
        .store
        .record_presented_host_key(platform.id, presented)
        .await
    {
        tracing::error!(error = %e, "recording the presented host key failed");
    }
    let (presented_type, presented) = (&presented.key_type, &presented.fingerprint);
    if let Err(e) = context
        .store
        .audit(NewAudit {
            actor: &Actor::system(),
            action: "host_key.mismatch",
            target: Some(format!("platform:{}", platform.id)),
            outcome: "denied",
            details: json!({"pinned": pinned, "presented": presented,
                            "presented_type": presented_type,
                            "host": platform.host, "port": platform.port}),
        })
        .await
    {
        tracing::error!(error = %e, "auditing a host key mismatch failed");
    }
    // Once per platform until it is trusted again: a platform whose last scan already reported
    // the mismatch was notified then.
    if platform.state != PlatformState::HostKeyMismatch {
        let payload = json!({"platform_id": platform.id, "platform": platform.name,
                             "host": platform.host, "port": platform.port,
                             "pinned": pinned, "presented": presented});
        if let Err(e) = context
            .store
            .notify_event(NotificationEvent::HostKeyMismatch, payload)
            .await
        {
            tracing::error!(error = %e, "queueing the host key mismatch notification failed");
        }
    }
    tracing::warn!(platform = %platform.id, pinned, presented, "host key mismatch");
    message
}

/// Make the platform's authorized_keys match its assignments, and record the outcome on every
/// assignment involved, whether the sync worked or failed (also when the host was unreachable).
async fn sync(
    context: &RunContext,
    target: &ClaimedTarget,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    // A dry run only reads and records nothing, so it waits for no lock and holds none.
    if target.params.dry_run {
        return super::dry_run::preview(context, target, platform, warnings).await;
    }
    let guard = lock_platform(context, platform).await?;
    let result = sync_locked(context, target, platform, warnings).await;
    guard.release().await;
    result
}

/// Take platform `platform`'s lock (a lease row, see [`PlatformLocks`]): syncs and scans of one
/// platform run one at a time, so a scan never records a file a sync has just replaced.
pub(super) async fn lock_platform(
    context: &RunContext,
    platform: &Platform,
) -> Result<super::locks::PlatformGuard, String> {
    context
        .locks
        .lock(
            &context.store,
            platform.id,
            &context.worker_id,
            context.lease,
        )
        .await
        .map_err(|e| store_failure(platform.id, "taking the platform's lock", e))
}

/// [`sync`] under the platform's lock. Desired state is read under the lock, so a later deploy's
/// keys are never overwritten by an earlier one that started first. The file read by the sync is
/// recorded as the platform's scan (after the write: what is on the host now), also when the
/// sync fails after reading.
async fn sync_locked(
    context: &RunContext,
    target: &ClaimedTarget,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let state = context
        .store
        .desired_state(platform.id, chrono::Utc::now())
        .await
        .map_err(|e| store_failure(platform.id, "reading the platform's keys", e))?;
    let lines: Vec<String> = state.keys.iter().map(|(_, line)| line.clone()).collect();
    let session = match connect(context, platform, warnings).await {
        Ok(session) => session,
        Err(ConnectFailure {
            state: scan_state,
            message,
        }) => {
            record_failure(context, platform.id, target.task_id, scan_state, &message).await;
            record_sync(context, platform, &state, Some(&message), None).await;
            return Err(message);
        }
    };
    let login_key = login_key(&session);
    let removed_unmanaged = std::sync::Mutex::new(Vec::new());
    let compute = |current: &[u8]| {
        let (applied, removed) =
            plan_sync(platform.exclusive, &lines, login_key.as_ref(), current)?;
        *removed_unmanaged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = removed;
        Ok(applied)
    };
    let mut last_read: Option<RemoteFile> = None;
    let outcome = sync_observed(&session, &platform.authorized_keys_path, compute, |file| {
        last_read = Some(file.clone());
    })
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let message = e.to_string();
            let present = match &last_read {
                Some(file) => {
                    record_read(
                        context,
                        platform,
                        target.task_id,
                        file,
                        &lines,
                        &state.leaving,
                        login_key.as_ref(),
                    )
                    .await?;
                    present_in_block(file.content.as_deref().unwrap_or_default(), &lines).ok()
                }
                None => {
                    let scan_state = PlatformState::Error;
                    record_failure(context, platform.id, target.task_id, scan_state, &message)
                        .await;
                    None
                }
            };
            record_sync(
                context,
                platform,
                &state,
                Some(&message),
                present.as_deref(),
            )
            .await;
            return Err(message);
        }
    };
    record_sync(context, platform, &state, None, None).await;
    let now = RemoteFile {
        content: outcome.content.clone(),
        warnings: outcome.warnings.clone(),
    };
    let scanned = record_read(
        context,
        platform,
        target.task_id,
        &now,
        &lines,
        &[],
        login_key.as_ref(),
    )
    .await?;
    let mut summary = format!(
        "{}: {} managed key(s); {}\n",
        platform.authorized_keys_path,
        lines.len(),
        if outcome.changed {
            "file updated"
        } else {
            "already up to date"
        }
    );
    for line in &outcome.added {
        summary.push_str(&format!("+ {line}\n"));
    }
    for line in &outcome.removed {
        summary.push_str(&format!("- {line}\n"));
    }
    let removed = removed_unmanaged
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if outcome.changed {
        for (number, line) in removed.iter().take(REMOVED_LINES_IN_OUTPUT) {
            summary.push_str(&format!("- line {number} (exclusive mode): {line}\n"));
        }
        if removed.len() > REMOVED_LINES_IN_OUTPUT {
            summary.push_str(&format!(
                "- ... and {} more line(s) removed by exclusive mode\n",
                removed.len() - REMOVED_LINES_IN_OUTPUT
            ));
        }
    }
    summary.push_str(&scanned.render(&platform.authorized_keys_path));
    note(context, target, &summary).await;
    warnings.extend(outcome.warnings);
    Ok(TargetResult {
        status: Some(TaskStatus::Succeeded),
        changed: Some(outcome.changed),
        ..TargetResult::default()
    })
}

/// What a sync of a platform (in exclusive mode or not) makes of the file `current` for the
/// desired `lines`: the new content and, in exclusive mode, the unmanaged key lines it removes
/// (never `login_key`'s), numbered as in `current`. Used by the real sync and by a dry run, so
/// both compute the same file.
///
/// # Errors
/// As [`crate::authorized_keys::apply`]; [`EngineError::Conflict`] when (outside exclusive
/// mode) an added entry would be shadowed by an earlier unmanaged line, or when the first entry
/// for `login_key` (the one sshd uses) would go or change its options: a revoke, replacement,
/// offboarding or `from=`/`command=`/`expiry-time=` on the key testum itself logs in with would
/// lock testum out of the host.
pub(super) fn plan_sync(
    exclusive: bool,
    lines: &[String],
    login_key: Option<&KeyLine>,
    current: &[u8],
) -> Result<(Applied, RemovedLines), EngineError> {
    let (applied, removed) = if exclusive {
        let (kept, removed) = remove_unmanaged_keys(current, |line| {
            login_key.is_some_and(|own| own.same_key(line))
        })?;
        let applied = crate::authorized_keys::apply(&kept, lines)?;
        let applied = Applied {
            changed: applied.content != current,
            ..applied
        };
        (applied, removed)
    } else {
        let applied = crate::authorized_keys::apply(current, lines)?;
        if let Some(why) = shadowing_conflict(current, &applied.added)? {
            return Err(EngineError::Conflict(why));
        }
        (applied, Vec::new())
    };
    if let Some(own) = login_key {
        let before = first_entry(current, own);
        if before.is_some() && first_entry(&applied.content, own) != before {
            return Err(EngineError::Conflict(
                "this change would remove the key testum logs in with, or change the options of \
                 its first line (the one sshd uses), and could lock testum out of the host; give \
                 the platform another credential first (PATCH /api/platforms/{id})"
                    .into(),
            ));
        }
    }
    Ok((applied, removed))
}

/// The options (as sshd compares them) of the first entry in `content` for `key`'s key
/// material: the line sshd tries first when testum logs in with it.
fn first_entry(content: &[u8], key: &KeyLine) -> Option<Vec<(String, Option<String>)>> {
    crate::authorized_keys::parse(content)
        .into_iter()
        .find_map(|line| match line.kind {
            LineKind::Key(found) if found.same_key(key) => Some(found.identity().options),
            _ => None,
        })
}

/// Record the sync's result on the platform's assignments (`present`: what the file read by a
/// failed sync holds, per desired key; see [`Store::record_sync`]); a store failure is logged.
async fn record_sync(
    context: &RunContext,
    platform: &Platform,
    state: &DesiredState,
    error: Option<&str>,
    present: Option<&[bool]>,
) {
    if let Err(e) = context
        .store
        .record_sync(platform.id, state, error, present)
        .await
    {
        tracing::error!(platform = %platform.id, error = %e, "recording a sync result failed");
    }
}

/// The key `session` logged in with (exclusive mode never removes it), or `None` for a password
/// login.
pub(super) fn login_key(session: &Session) -> Option<KeyLine> {
    session
        .login_key
        .as_deref()
        .and_then(|line| parse_key_line(line).ok())
}

async fn run_command(
    context: &RunContext,
    target: &ClaimedTarget,
    session: &Session,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let command = target
        .params
        .command
        .as_deref()
        .ok_or("task has no command")?;
    let timeout_s = target.params.timeout_s.unwrap_or(DEFAULT_COMMAND_TIMEOUT_S);
    // Few chunks in flight per target: memory stays bounded by the number of targets, and a slow
    // store slows the remote side through the SSH window.
    let (tx, rx) = mpsc::channel(OUTPUT_CHUNKS_IN_FLIGHT);
    let writer = tokio::spawn(store_output(
        OutputTarget {
            writer: context.output.clone(),
            store: context.store.clone(),
            bus: context.bus.clone(),
            task: target.task_id,
            platform: target.platform_id,
            limit: context.max_output_bytes,
        },
        rx,
    ));
    let started = std::time::Instant::now();
    let status = session
        .exec_until(
            command,
            None,
            Some(Duration::from_secs(u64::from(timeout_s))),
            tx,
            wait_for_cancel(context, target.task_id),
        )
        .await;
    crate::metrics::command_ended(started.elapsed());
    // The sender is gone with the exec, so the writer ends after storing what it had.
    // Output that could not be stored is said on the target: its status stays the command's,
    // but nobody should read the output as complete.
    let lost = match writer.await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("the output writer panicked: {e}")),
    };
    if let Some(why) = lost {
        tracing::error!(task = %target.task_id, error = %why, "output lost");
        warnings.push(format!(
            "output incomplete: {why}; what followed was not kept"
        ));
    }
    let status = status.map_err(|e| e.to_string())?;
    let mut result = TargetResult {
        exit_code: status.code.map(i64::from),
        exit_signal: status.signal.clone(),
        ..TargetResult::default()
    };
    if status.cancelled && *context.interrupted.borrow() {
        result.status = Some(TaskStatus::Failed);
        result.error = Some(
            "interrupted: testum shut down before the command ended; the command was sent \
             TERM/KILL"
                .into(),
        );
    } else if status.cancelled {
        result.status = Some(TaskStatus::Cancelled);
        result.error = Some(if status.terminated {
            "cancelled; the command was terminated".into()
        } else {
            "cancelled; the server did not confirm the command ended".into()
        });
    } else if status.timed_out {
        result.status = Some(TaskStatus::Failed);
        result.error = Some(format!(
            "timed out after {timeout_s} s; the command was terminated"
        ));
    } else if status.code == Some(0) {
        result.status = Some(TaskStatus::Succeeded);
    } else {
        result.status = Some(TaskStatus::Failed);
        result.error = Some(match (&status.code, &status.signal) {
            (_, Some(signal)) => format!("killed by signal {signal}"),
            (Some(code), None) => format!("exit status {code}"),
            (None, None) => "the command ended without an exit status".into(),
        });
    }
    Ok(result)
}

/// Resolves when someone asks task `task` to stop (woken by the bus, checked at least every 5 s)
/// or when the worker is interrupted at shutdown.
async fn wait_for_cancel(context: &RunContext, task: Uuid) {
    let mut interrupted = context.interrupted.clone();
    tokio::select! {
        () = wait_for_cancel_request(context, task) => {}
        () = async {
            // A worker dropped without shutdown never interrupts anything.
            if interrupted.wait_for(|stop| *stop).await.is_err() {
                std::future::pending::<()>().await;
            }
        } => {}
    }
}

async fn wait_for_cancel_request(context: &RunContext, task: Uuid) {
    use tokio::sync::broadcast::error::RecvError;
    // Only cancel requests wake this up (not every output chunk of the task); the store has the
    // last word, and a slow poll covers a wake-up lost while a LISTEN connection reconnected.
    let mut cancels = context.bus.subscribe_cancels();
    loop {
        if context.store.cancel_requested(task).await.unwrap_or(false) {
            return;
        }
        let _ = tokio::time::timeout(CANCEL_POLL, async {
            loop {
                match cancels.recv().await {
                    Ok(id) if id == task => return,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::shared_host_key_warning;
    use crate::store::TaskStatus;

    #[test]
    fn metrics_outcomes_are_the_final_task_statuses() {
        let finals: Vec<&str> = [
            TaskStatus::Queued,
            TaskStatus::Running,
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
        ]
        .into_iter()
        .filter(|s| s.is_final())
        .map(TaskStatus::as_str)
        .collect();
        assert_eq!(finals, crate::metrics::OUTCOMES);
    }

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("web-{i:02}")).collect()
    }

    #[test]
    fn a_shared_host_key_warning_names_a_few_platforms_and_counts_the_rest() {
        assert_eq!(
            shared_host_key_warning("SHA256:x", &names(1)),
            "host key SHA256:x is also pinned by web-01: a cloned image or a redirected port?"
        );
        assert_eq!(
            shared_host_key_warning("SHA256:x", &names(3)),
            "host key SHA256:x is also pinned by web-01, web-02, web-03: a cloned image or a \
             redirected port?"
        );
        let many = shared_host_key_warning("SHA256:x", &names(200));
        assert_eq!(
            many,
            "host key SHA256:x is also pinned by web-01, web-02, web-03 and 197 more: a cloned \
             image or a redirected port?"
        );
    }
}
