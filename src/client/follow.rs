//! Following a task from the terminal: `WS /ws/tasks/{id}` frames become lines prefixed with the
//! platform's name (`web1 | ...`; stdout to stdout, stderr to stderr); [`print_summaries`] then
//! prints one summary line per platform on stderr, followed by a `web1: warning: ...` line per
//! warning of that platform. A dry run's output is shown by [`print_dry_run`] once it ended: only
//! the diffs of the targets that would change (or failed), and a count of the others.
//!
//! A dropped stream is reopened (the server replays from seq 1; frames already seen are skipped by
//! seq, so nothing prints twice). Ctrl-C asks the server to cancel the task and keeps following
//! until it ends; a second Ctrl-C stops following at once.

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::api::{Api, error_chain};
use super::output::counts_line;

/// The order target statuses are counted in.
pub const STATUS_ORDER: [&str; 5] = ["succeeded", "failed", "cancelled", "running", "queued"];

/// How often a dropped stream is reopened before the client gives up.
const RECONNECTS: u32 = 5;

/// A task as `GET /api/tasks/{id}` shows it (the fields the CLI reads).
#[derive(Debug, Deserialize)]
pub struct Task {
    pub status: String,
    pub targets: Vec<Target>,
}

/// One platform of a task.
#[derive(Debug, Deserialize)]
pub struct Target {
    pub platform_id: String,
    pub platform_name: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub exit_signal: Option<String>,
    pub error: Option<String>,
    /// For deploy and revoke tasks: whether authorized_keys was (for a dry run: would be)
    /// rewritten.
    #[serde(default)]
    pub changed: Option<bool>,
    /// Warnings about the run (not the command's output); absent from older servers.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Task {
    /// Whether the task and every one of its targets succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded" && self.targets.iter().all(|t| t.status == "succeeded")
    }
}

/// What [`follow`] does with the task's output frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Print each line prefixed with its platform's name.
    Print,
    /// Print nothing (the caller summarises; the output stays on the server).
    Hide,
}

/// Follow task `task_id` until it ends, printing its output as it comes when `output` says so;
/// returns the ended task (see [`print_summaries`]).
pub async fn follow(api: &mut Api, task_id: &str, output: Output) -> anyhow::Result<Task> {
    let task: Task = api.get(&format!("/api/tasks/{task_id}")).await?;
    let mut printer = Printer::new(&task, output);
    let mut cancel_sent = false;
    let mut attempts = 0;
    loop {
        let url = api.ws_url(&format!("/ws/tasks/{task_id}"));
        let stream = stream(url, api.token().to_string(), &mut printer);
        tokio::pin!(stream);
        let ended = loop {
            tokio::select! {
                ended = &mut stream => break ended,
                _ = tokio::signal::ctrl_c() => {
                    if cancel_sent {
                        bail!("stopped following task {task_id}; it may still be running");
                    }
                    cancel_sent = true;
                    eprintln!("testum: cancelling task {task_id} (Ctrl-C again to stop following)");
                    let _: Value = api.post(&format!("/api/tasks/{task_id}/cancel"), &()).await?;
                }
            }
        };
        match ended {
            Ok(()) => break,
            Err(e) if attempts < RECONNECTS => {
                attempts += 1;
                eprintln!("testum: task stream interrupted ({e:#}); reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
                // Any call refreshes an expired session before the stream is opened again.
                let _: Value = api.get(&format!("/api/tasks/{task_id}")).await?;
            }
            Err(e) => return Err(e),
        }
    }
    printer.flush();
    api.get(&format!("/api/tasks/{task_id}")).await
}

/// How many targets a summary lists by name (`testum run`, `tasks show` without `--all`).
pub const SHOWN_TARGETS: usize = 20;

/// The summary of task `task_id` on stderr: up to [`SHOWN_TARGETS`] targets, one line each
/// followed by its warnings (every target; of a larger task only those that did not simply
/// succeed, the rarest way of failing first, see [`odd_targets`]); then, for more than one
/// target, their counts (`300 targets: 3 succeeded, 297 failed`), so the end of a long run says
/// how it went without scrolling back.
pub fn print_summaries(task: &Task, task_id: &str) {
    let listed: Vec<&Target> = if task.targets.len() <= SHOWN_TARGETS {
        task.targets.iter().collect()
    } else {
        odd_targets(task)
    };
    for target in listed.iter().take(SHOWN_TARGETS) {
        eprintln!("{}", summary_line(target));
        print_warnings(target);
    }
    if listed.len() > SHOWN_TARGETS {
        eprintln!(
            "... and {} more not simply succeeded (`testum tasks show {task_id} --all` lists them)",
            listed.len() - SHOWN_TARGETS
        );
    }
    if task.targets.len() > 1 {
        let statuses = task.targets.iter().map(|t| t.status.as_str());
        eprintln!(
            "{}",
            counts_line(("target", "targets"), &STATUS_ORDER, statuses)
        );
    }
}

/// Why `target` failed, without what names the platform: its error's
/// [`crate::tasks::failure_reason`], else the signal or exit status.
pub fn reason(target: &Target) -> String {
    match (&target.error, &target.exit_signal, target.exit_code) {
        (Some(error), _, _) => crate::tasks::failure_reason(error),
        (None, Some(signal), _) => format!("killed by signal {signal}"),
        (None, None, Some(code)) => format!("exit status {code}"),
        (None, None, None) => target.status.clone(),
    }
}

/// The targets worth a line: every one that did not succeed, or succeeded with warnings; by
/// status (as [`STATUS_ORDER`], failed first, succeeded with warnings last), then the rarest
/// [`reason`] first (one host exiting 3 among 280 refusing the connection is the line to read),
/// then by name.
pub fn odd_targets(task: &Task) -> Vec<&Target> {
    let mut odd: Vec<&Target> = task
        .targets
        .iter()
        .filter(|t| t.status != "succeeded" || !t.warnings.is_empty())
        .collect();
    let mut alike: HashMap<(&str, String), usize> = HashMap::new();
    for target in &odd {
        *alike
            .entry((target.status.as_str(), reason(target)))
            .or_default() += 1;
    }
    odd.sort_by_cached_key(|t| {
        let rank = match STATUS_ORDER.iter().position(|s| *s == t.status) {
            // Succeeded with warnings: after every other.
            Some(0) => STATUS_ORDER.len() + 1,
            Some(rank) => rank,
            None => STATUS_ORDER.len(),
        };
        let how_common = alike[&(t.status.as_str(), reason(t))];
        (rank, how_common, t.platform_name.clone())
    });
    odd
}

/// `web1: warning: ...` on stderr for each warning of `target`.
pub fn print_warnings(target: &Target) {
    for warning in &target.warnings {
        eprintln!("{}", warning_line(target, warning));
    }
}

/// For the dry run `task` (followed with [`Output::Hide`]): each target that would change or
/// did not succeed gets its output (the diff, from `GET /api/tasks/{id}/output`) prefixed with
/// its name, then its summary line (`web2: succeeded, would change`); the targets that would not
/// change are only counted (`12 targets: no change`), so a dry run over a fleet shows just what
/// matters. Warnings follow their target's line, for every target.
pub async fn print_dry_run(api: &mut Api, task_id: &str, task: &Task) -> anyhow::Result<()> {
    let mut unchanged = 0;
    for target in &task.targets {
        if target.status == "succeeded" && target.changed == Some(false) {
            unchanged += 1;
            print_warnings(target);
            continue;
        }
        for (stream, stderr) in [("stdout", false), ("stderr", true)] {
            let path = format!(
                "/api/tasks/{task_id}/output?platform_id={}&stream={stream}",
                target.platform_id
            );
            let text = api.get_text(&path).await?;
            print_lines(&target.platform_name, stderr, text.lines());
        }
        eprintln!("{}", dry_run_line(target));
        print_warnings(target);
    }
    if unchanged > 0 {
        let noun = if unchanged == 1 { "target" } else { "targets" };
        eprintln!("{unchanged} {noun}: no change");
    }
    Ok(())
}

/// [`summary_line`], with `, would change` for a target that succeeded and would change.
fn dry_run_line(target: &Target) -> String {
    let line = summary_line(target);
    if target.status == "succeeded" && target.changed == Some(true) {
        format!("{line}, would change")
    } else {
        line
    }
}

/// Read frames until `done`; an error when the stream ends before it.
async fn stream(url: String, token: String, printer: &mut Printer) -> anyhow::Result<()> {
    let mut request = url.into_client_request().context("bad WebSocket URL")?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .context("the token is not a valid header value")?;
    request.headers_mut().insert("authorization", bearer);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| anyhow!("cannot open the task stream: {}", error_chain(&e)))?;
    while let Some(message) = socket.next().await {
        let message = message.map_err(|e| anyhow!("{}", error_chain(&e)))?;
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).context("unexpected frame")?;
        if printer.frame(&frame) {
            return Ok(());
        }
    }
    bail!("the server closed the stream before the task ended")
}

/// Turns output frames (or pages of `GET /api/tasks/{id}/output`) into lines prefixed with the
/// platform's name; buffers a partial line per platform and stream.
pub struct Printer {
    echo: Output,
    names: HashMap<String, String>,
    partial: HashMap<(String, bool), String>,
    last_seq: i64,
}

impl Printer {
    /// A printer for `task`'s platforms (their names), printing when `output` says so.
    pub fn new(task: &Task, output: Output) -> Printer {
        Printer {
            echo: output,
            names: task
                .targets
                .iter()
                .map(|t| (t.platform_id.clone(), t.platform_name.clone()))
                .collect(),
            partial: HashMap::new(),
            last_seq: 0,
        }
    }

    /// Handle one frame; `true` on `done`. Frames at or below the last seq seen are replays.
    fn frame(&mut self, frame: &Value) -> bool {
        let seq = frame["seq"].as_i64().unwrap_or(0);
        if seq <= self.last_seq {
            return false;
        }
        self.last_seq = seq;
        match frame["type"].as_str() {
            Some("output") if self.echo == Output::Print => {
                let platform = frame["platform_id"].as_str().unwrap_or_default();
                let stderr = frame["stream"] == "stderr";
                let data = frame["data"].as_str().unwrap_or_default();
                self.output(platform, stderr, data);
                false
            }
            Some("done") => true,
            _ => false,
        }
    }

    /// Print the complete lines of `data`, a chunk of `platform`'s stdout (or `stderr`), after
    /// what was left of its last line; keep the rest for the next chunk or [`Printer::flush`].
    pub fn output(&mut self, platform: &str, stderr: bool, data: &str) {
        let buffer = self
            .partial
            .entry((platform.to_string(), stderr))
            .or_default();
        buffer.push_str(data);
        let Some(end) = buffer.rfind('\n') else {
            return;
        };
        let complete: String = buffer.drain(..=end).collect();
        let name = self.name(platform);
        print_lines(&name, stderr, complete.lines());
    }

    /// Print what is left of unfinished lines.
    pub fn flush(&mut self) {
        let mut rest: Vec<_> = self
            .partial
            .drain()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        rest.sort();
        for ((platform, stderr), text) in rest {
            let name = self.name(&platform);
            print_lines(&name, stderr, std::iter::once(text.as_str()));
        }
    }

    fn name(&self, platform: &str) -> String {
        self.names
            .get(platform)
            .cloned()
            .unwrap_or_else(|| platform.to_string())
    }
}

fn print_lines<'a>(name: &str, stderr: bool, lines: impl Iterator<Item = &'a str>) {
    let mut text = String::new();
    for line in lines {
        text.push_str(name);
        text.push_str(" | ");
        text.push_str(line);
        text.push('\n');
    }
    // A closed pipe (`testum run ... | head`) is not an error worth reporting.
    let _ = if stderr {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush())
    };
}

/// `web1: succeeded, exit status 0`, `web2: failed, connection failed: ...`.
pub fn summary_line(target: &Target) -> String {
    let detail = match (&target.error, target.exit_code, &target.exit_signal) {
        (Some(error), _, _) => Some(error.clone()),
        (None, _, Some(signal)) => Some(format!("killed by signal {signal}")),
        (None, Some(code), None) => Some(format!("exit status {code}")),
        (None, None, None) => None,
    };
    match detail {
        Some(detail) => format!("{}: {}, {detail}", target.platform_name, target.status),
        None => format!("{}: {}", target.platform_name, target.status),
    }
}

/// `web2: warning: host key SHA256:... is also pinned by web1: ...`.
pub fn warning_line(target: &Target, warning: &str) -> String {
    format!("{}: warning: {warning}", target.platform_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn target(status: &str, code: Option<i64>, error: Option<&str>) -> Target {
        Target {
            platform_id: "p".into(),
            platform_name: "web1".into(),
            status: status.into(),
            exit_code: code,
            exit_signal: None,
            error: error.map(String::from),
            changed: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn summary_names_the_exit_status_or_the_error() {
        assert_eq!(
            summary_line(&target("succeeded", Some(0), None)),
            "web1: succeeded, exit status 0"
        );
        assert_eq!(
            summary_line(&target("failed", None, Some("authentication failed"))),
            "web1: failed, authentication failed"
        );
    }

    #[test]
    fn a_dry_run_says_which_target_would_change() {
        let mut would = target("succeeded", None, None);
        would.changed = Some(true);
        assert_eq!(dry_run_line(&would), "web1: succeeded, would change");
        let failed = target("failed", None, Some("connection failed: refused"));
        assert_eq!(
            dry_run_line(&failed),
            "web1: failed, connection failed: refused"
        );
    }

    #[test]
    fn a_warning_line_names_the_platform() {
        assert_eq!(
            warning_line(&target("succeeded", Some(0), None), "host key shared"),
            "web1: warning: host key shared"
        );
    }

    #[test]
    fn replayed_frames_are_skipped_and_done_ends() {
        let task = Task {
            status: "running".into(),
            targets: vec![target("running", None, None)],
        };
        let mut printer = Printer::new(&task, Output::Print);
        let out = json!({"type":"output","seq":1,"platform_id":"p","stream":"stdout","data":"a"});
        assert!(!printer.frame(&out));
        assert!(!printer.frame(&out));
        assert_eq!(printer.partial[&("p".to_string(), false)], "a");
        assert!(printer.frame(&json!({"type":"done","seq":2,"status":"succeeded"})));
    }
}
