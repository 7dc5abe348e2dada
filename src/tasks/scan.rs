//! Scanning a platform's authorized_keys: the `scan` task kind, and the scan every deploy and
//! revoke records from the file it read. The pure classification is
//! [`crate::authorized_keys::scan`]; this module connects, reads, names registered keys,
//! decides the platform state and stores it all ([`crate::store::Store::record_scan`]).
//!
//! State rule (DESIGN.md vocabulary): `in_sync` when no finding says the file differs from what
//! testum expects or grants access testum does not manage; lines sshd skips (`invalid_line`) and
//! a missing file with nothing assigned do not count. Every other finding is `drift`.

use std::collections::HashSet;

use uuid::Uuid;

use crate::authorized_keys::{
    Finding, FindingKind, KeyLine, LineClass, ScannedLine, parse_key_line,
};
use crate::deploy::{RemoteFile, read_remote};
use crate::store::{ClaimedTarget, Platform, PlatformState, ScanRecord, TargetResult, TaskStatus};

use super::run::{
    ConnectFailure, RunContext, connect, lock_platform, login_key, note, store_failure,
};

/// Whether `finding` makes a platform drift: not a line sshd skips, not a missing file while
/// nothing is assigned, and not the key testum itself logs in with (fingerprint `login`) sitting
/// outside the block, which is how a platform with key login is set up.
fn counts_as_drift(finding: &Finding, expected_keys: usize, login: Option<&str>) -> bool {
    match finding.kind {
        FindingKind::InvalidLine => false,
        FindingKind::FileMissing => expected_keys > 0,
        FindingKind::UnmanagedKey => login.is_none() || finding.fingerprint.as_deref() != login,
        _ => true,
    }
}

/// What a scan found, in short, for the target's output.
#[derive(Debug, Clone, Default)]
pub struct ScanSummary {
    pub state: Option<PlatformState>,
    pub entries: usize,
    pub managed: usize,
    pub unknown: usize,
    pub findings: Vec<Finding>,
}

impl ScanSummary {
    /// `N key entries (M managed, U unknown); state drift` and one line per finding.
    pub fn render(&self, path: &str) -> String {
        let mut text = format!(
            "{path}: {} key entr{} ({} managed, {} not in the registry); state {}\n",
            self.entries,
            if self.entries == 1 { "y" } else { "ies" },
            self.managed,
            self.unknown,
            self.state.map_or("unknown", PlatformState::as_str),
        );
        for finding in self.findings.iter().take(FINDINGS_IN_OUTPUT) {
            text.push_str(&format!(
                "! {}: {}\n",
                finding_word(finding.kind),
                finding.message
            ));
        }
        if let Some(more) = self.findings.len().checked_sub(FINDINGS_IN_OUTPUT)
            && more > 0
        {
            text.push_str(&format!(
                "! ... and {more} more finding(s): GET /api/platforms/{{id}}/scan has them\n"
            ));
        }
        text
    }
}

/// `SHA256:...` of `key`, as `ssh-keygen -l` prints it.
fn fingerprint(key: &KeyLine) -> Option<String> {
    crate::keys::blob::inspect(&key.blob)
        .ok()
        .map(|key| key.fingerprint)
}

/// Findings a target's output lists; the rest are counted (a 16 MiB file can have hundreds of
/// thousands, and the output is for reading).
const FINDINGS_IN_OUTPUT: usize = 50;

fn finding_word(kind: FindingKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Classify `file` (as read from `platform` in task `task_id`) against the lines testum expects
/// in its block, name the registered keys and the key testum logged in with (`login_key`), and
/// record the scan and the platform state.
///
/// Errors: a store failure, as the target's message.
pub async fn record_read(
    context: &RunContext,
    platform: &Platform,
    task_id: Uuid,
    file: &RemoteFile,
    expected: &[String],
    leaving: &[String],
    login_key: Option<&KeyLine>,
) -> Result<ScanSummary, String> {
    let login = login_key.and_then(fingerprint);
    let mut report = crate::authorized_keys::scan(file.content.as_deref(), expected);
    // Lines of keys being revoked or past their expiry that are still in the block are
    // testum's own, waiting for a sync that removes them: say so, not "added by hand".
    let leaving: HashSet<String> = leaving
        .iter()
        .filter_map(|line| parse_key_line(line).ok())
        .filter_map(|key| fingerprint(&key))
        .collect();
    for finding in &mut report.findings {
        if finding.kind == FindingKind::ManagedChanged
            && finding
                .fingerprint
                .as_ref()
                .is_some_and(|f| leaving.contains(f))
        {
            finding.kind = FindingKind::ManagedLeaving;
            finding.message = format!(
                "line {}: testum's entry for a key being revoked or past its expiry is still \
                 here; the next successful sync removes it",
                finding.line.unwrap_or_default()
            );
        }
    }
    for warning in &file.warnings {
        report.findings.push(Finding {
            kind: FindingKind::UnsafeModes,
            line: None,
            fingerprint: None,
            message: warning.clone(),
        });
    }
    annotate(
        context,
        platform.id,
        &mut report.lines,
        &mut report.findings,
    )
    .await?;
    for finding in &mut report.findings {
        if finding.kind == FindingKind::UnmanagedKey
            && login.is_some()
            && finding.fingerprint == login
        {
            finding.message.push_str(" (the key testum logs in with)");
        }
    }
    // "Managed" means written by testum: a line added into the block by hand is not.
    let by_hand: HashSet<usize> = report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::ManagedChanged)
        .filter_map(|f| f.line)
        .collect();
    for line in &mut report.lines {
        if by_hand.contains(&line.number) {
            line.managed = false;
        }
    }
    let state = if report
        .findings
        .iter()
        .any(|f| counts_as_drift(f, expected.len(), login.as_deref()))
    {
        PlatformState::Drift
    } else {
        PlatformState::InSync
    };
    let entries: Vec<&ScannedLine> = report
        .lines
        .iter()
        .filter(|l| l.class == LineClass::Entry)
        .collect();
    let summary = ScanSummary {
        state: Some(state),
        entries: entries.len(),
        managed: entries.iter().filter(|l| l.managed).count(),
        unknown: entries.iter().filter(|l| l.key_id.is_none()).count(),
        findings: report.findings.clone(),
    };
    context
        .store
        .record_scan(ScanRecord {
            platform_id: platform.id,
            task_id: Some(task_id),
            path: &platform.authorized_keys_path,
            state,
            lines: &report.lines,
            findings: &report.findings,
        })
        .await
        .map_err(|e| store_failure(platform.id, "recording the scan", e))?;
    Ok(summary)
}

/// Name the registered keys on `lines` (key id, name, owner) and say in each unmanaged-key
/// finding whether the key is registered.
async fn annotate(
    context: &RunContext,
    platform: Uuid,
    lines: &mut [ScannedLine],
    findings: &mut [Finding],
) -> Result<(), String> {
    let fingerprints: Vec<String> = lines
        .iter()
        .filter_map(|l| l.fingerprint.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let registry = context
        .store
        .keys_by_fingerprint(&fingerprints)
        .await
        .map_err(|e| store_failure(platform, "reading the key registry", e))?;
    for line in lines.iter_mut() {
        if let Some(key) = line.fingerprint.as_ref().and_then(|f| registry.get(f)) {
            line.key_id = Some(key.id);
            line.key_name = Some(key.name.clone());
            line.owner = key.owner.clone();
        }
    }
    for finding in findings.iter_mut() {
        if finding.kind != FindingKind::UnmanagedKey {
            continue;
        }
        let who = match finding.fingerprint.as_ref().and_then(|f| registry.get(f)) {
            Some(key) => format!(
                "registered key {:?}{}",
                key.name,
                key.owner
                    .as_ref()
                    .map(|o| format!(" of {o}"))
                    .unwrap_or_default()
            ),
            None => "unknown key (not in the registry)".to_owned(),
        };
        finding.message = format!("{}: {who}", finding.message);
    }
    Ok(())
}

/// Record a scan that could not read the file (connect or read failure).
pub async fn record_failure(
    context: &RunContext,
    platform: Uuid,
    task_id: Uuid,
    state: PlatformState,
    error: &str,
) {
    if let Err(e) = context
        .store
        .record_scan_failure(platform, Some(task_id), state, error)
        .await
    {
        tracing::error!(platform = %platform, error = %e, "recording a failed scan failed");
    }
}

/// The `scan` task kind: read the file, record what it grants, change nothing. Runs under the
/// platform's lock, so its record never overtakes a sync's.
pub async fn scan(
    context: &RunContext,
    target: &ClaimedTarget,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let guard = lock_platform(context, platform).await?;
    let result = scan_locked(context, target, platform, warnings).await;
    guard.release().await;
    result
}

async fn scan_locked(
    context: &RunContext,
    target: &ClaimedTarget,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let session = match connect(context, platform, warnings).await {
        Ok(session) => session,
        Err(ConnectFailure { state, message }) => {
            record_failure(context, platform.id, target.task_id, state, &message).await;
            return Err(message);
        }
    };
    let file = match read_remote(&session, &platform.authorized_keys_path).await {
        Ok(file) => file,
        Err(e) => {
            let message = e.to_string();
            record_failure(
                context,
                platform.id,
                target.task_id,
                PlatformState::Error,
                &message,
            )
            .await;
            return Err(message);
        }
    };
    let expected = context
        .store
        .desired_state(platform.id, chrono::Utc::now())
        .await
        .map_err(|e| store_failure(platform.id, "reading the platform's keys", e))?;
    let lines: Vec<String> = expected.keys.iter().map(|(_, line)| line.clone()).collect();
    let login_key = login_key(&session);
    let summary = record_read(
        context,
        platform,
        target.task_id,
        &file,
        &lines,
        &expected.leaving,
        login_key.as_ref(),
    )
    .await?;
    note(
        context,
        target,
        &summary.render(&platform.authorized_keys_path),
    )
    .await;
    Ok(TargetResult {
        status: Some(TaskStatus::Succeeded),
        changed: Some(false),
        ..TargetResult::default()
    })
}
