//! Dry runs of `deploy_keys` and `revoke_keys` (`dry_run: true`): the target connects, reads the
//! platform's authorized_keys and computes what a sync would write, and shows it as a unified
//! diff in its output. Nothing is written on the host (not the file, not the lock file, no
//! temporary file: only the read step runs) and no assignment changes: the desired set is "the
//! platform's assignments plus (or minus) this request" ([`crate::store::Store::preview_state`]),
//! because [`crate::store::Store::create_task`] changes no assignment for a dry run. The only
//! thing a dry run may record is the host key pin of a first contact, as every connection does.

use std::time::Duration;

use similar::TextDiff;

use crate::authorized_keys::Applied;
use crate::deploy::read_remote;
use crate::store::{ClaimedTarget, Platform, TargetResult, TaskStatus};

use super::run::{RunContext, connect, login_key, note, plan_sync, store_failure};

/// Lines of a diff a dry run's output shows; the rest are counted.
const DIFF_LINES_IN_OUTPUT: usize = 2000;

/// Longest time spent looking for the smallest diff of one file.
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// Run `target` as a dry run: its output is [`describe`]'s text and its `changed` says whether the
/// file would change. Host warnings (modes sshd's StrictModes refuses) go to `warnings`.
pub(super) async fn preview(
    context: &RunContext,
    target: &ClaimedTarget,
    platform: &Platform,
    warnings: &mut Vec<String>,
) -> Result<TargetResult, String> {
    let state = context
        .store
        .preview_state(
            platform.id,
            chrono::Utc::now(),
            target.kind,
            &target.params.key_ids,
            &target.params.options,
        )
        .await
        .map_err(|e| store_failure(platform.id, "reading the platform's keys", e))?;
    let lines: Vec<String> = state.keys.iter().map(|(_, line)| line.clone()).collect();
    let session = connect(context, platform, warnings)
        .await
        .map_err(|failure| failure.message)?;
    let login_key = login_key(&session);
    let path = &platform.authorized_keys_path;
    let file = read_remote(&session, path)
        .await
        .map_err(|e| e.to_string())?;
    warnings.extend(file.warnings);
    let current = file.content.as_deref().unwrap_or_default();
    // The same computation as the real sync: a shadowing conflict fails the dry run as it would
    // fail the sync, and exclusive mode shows its removals in the diff.
    let (applied, removed) = plan_sync(platform.exclusive, &lines, login_key.as_ref(), current)
        .map_err(|e| e.to_string())?;
    note(
        context,
        target,
        &describe(path, current, &applied, removed.len()),
    )
    .await;
    Ok(TargetResult {
        status: Some(TaskStatus::Succeeded),
        changed: Some(applied.changed),
        ..TargetResult::default()
    })
}

/// What a dry run of the file at `path` shows: `dry run: <path>: no change`, or a first line
/// saying it would change followed by a unified diff (`--- a/<path>`, `+++ b/<path>`, three lines
/// of context) from `current` to `applied.content`. Bytes that are not UTF-8 show as U+FFFD.
pub fn describe(path: &str, current: &[u8], applied: &Applied, removed_unmanaged: usize) -> String {
    if !applied.changed {
        return format!("dry run: {path}: no change\n");
    }
    let old = String::from_utf8_lossy(current);
    let new = String::from_utf8_lossy(&applied.content);
    // A deadline bounds the work on a huge, much-changed file; past it the diff is coarser
    // (larger hunks) but still correct.
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old.as_ref(), new.as_ref());
    let name = path.trim_start_matches('/');
    let exclusive = match removed_unmanaged {
        0 => String::new(),
        n => format!(", {n} removed by exclusive mode"),
    };
    let diff = diff
        .unified_diff()
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    // Exclusive mode on a file of 100 000 hand-added lines would make a diff of that size.
    let total = diff.lines().count();
    let diff = if total > DIFF_LINES_IN_OUTPUT {
        let mut kept: String = diff
            .lines()
            .take(DIFF_LINES_IN_OUTPUT)
            .flat_map(|line| [line, "\n"])
            .collect();
        kept.push_str(&format!(
            "... and {} more line(s) of diff\n",
            total - DIFF_LINES_IN_OUTPUT
        ));
        kept
    } else {
        diff
    };
    format!(
        "dry run: {path}: would change ({} managed line(s) added, {} removed{exclusive}); nothing \
         was written\n{}",
        applied.added.len(),
        applied.removed.len(),
        diff
    )
}

#[cfg(test)]
mod tests {
    use super::describe;
    use crate::authorized_keys::apply;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVuYvogQYbVxDGA0k3o2arRrUh3skIHz1VzNHgwbPJm c";

    #[test]
    fn an_unchanged_file_says_no_change() {
        let current = b"# mine\n";
        let applied = apply(current, &[]).unwrap();
        assert_eq!(
            describe(".ssh/authorized_keys", current, &applied, 0),
            "dry run: .ssh/authorized_keys: no change\n"
        );
    }

    #[test]
    fn a_change_is_a_unified_diff_of_the_whole_file() {
        let current = b"# mine\n";
        let line = format!("restrict {KEY}");
        let applied = apply(current, std::slice::from_ref(&line)).unwrap();
        let text = describe(".ssh/authorized_keys", current, &applied, 0);
        assert_eq!(
            text,
            format!(
                "dry run: .ssh/authorized_keys: would change (1 managed line(s) added, 0 \
                 removed); nothing was written\n\
                 --- a/.ssh/authorized_keys\n+++ b/.ssh/authorized_keys\n@@ -1 +1,4 @@\n \
                 # mine\n+# BEGIN testum managed keys - do not edit\n+{line}\n\
                 +# END testum managed keys\n"
            )
        );
        // Revoking it again shows the removal.
        let back = apply(&applied.content, &[]).unwrap();
        let text = describe("/etc/ssh/keys/u", &applied.content, &back, 0);
        assert!(
            text.contains("--- a/etc/ssh/keys/u\n+++ b/etc/ssh/keys/u\n"),
            "{text}"
        );
        assert!(text.contains(&format!("-{line}\n")), "{text}");
    }
}
