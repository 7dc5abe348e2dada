//! Following a task from the terminal: `WS /ws/tasks/{id}` frames become lines prefixed with the
//! platform's name (`web1 | ...`; stdout to stdout, stderr to stderr), then one summary line per
//! platform on stderr, followed by a `web1: warning: ...` line per warning of that platform.
//!
//! A dry run (`dry_run: true`) is shown once it ends instead: the output (a diff) of each target
//! that would change or failed, in target order, then its summary line; the targets that would
//! not change are only counted (`12 targets: no change`), so a dry run over a fleet shows just
//! what matters.
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

/// How often a dropped stream is reopened before the client gives up.
const RECONNECTS: u32 = 5;

/// A task as `GET /api/tasks/{id}` shows it (the fields the CLI reads).
#[derive(Debug, Deserialize)]
pub struct Task {
    pub status: String,
    pub targets: Vec<Target>,
    /// Whether the task only shows what it would change; absent from older servers.
    #[serde(default)]
    pub dry_run: bool,
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

/// Print task `task_id`'s output as it comes, then its summary; returns the ended task.
pub async fn follow(api: &mut Api, task_id: &str) -> anyhow::Result<Task> {
    let task: Task = api.get(&format!("/api/tasks/{task_id}")).await?;
    let mut printer = Printer::new(&task);
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
    let task: Task = api.get(&format!("/api/tasks/{task_id}")).await?;
    let mut unchanged = 0;
    for target in &task.targets {
        if task.dry_run && target.status == "succeeded" && target.changed == Some(false) {
            unchanged += 1;
        } else {
            printer.release(&target.platform_id);
            let would_change = task.dry_run && target.changed == Some(true);
            let suffix = if would_change { ", would change" } else { "" };
            eprintln!("{}{suffix}", summary_line(target));
        }
        for warning in &target.warnings {
            eprintln!("{}", warning_line(target, warning));
        }
    }
    if unchanged > 0 {
        let noun = if unchanged == 1 { "target" } else { "targets" };
        eprintln!("{unchanged} {noun}: no change");
    }
    Ok(task)
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

/// Turns output frames into prefixed lines; buffers a partial line per platform and stream.
struct Printer {
    names: HashMap<String, String>,
    partial: HashMap<(String, bool), String>,
    last_seq: i64,
    /// For a dry run: the output per platform and stream, kept until the task ends so that only
    /// the targets that would change are shown ([`Printer::release`]); `None` prints as it comes.
    held: Option<HashMap<(String, bool), String>>,
}

impl Printer {
    fn new(task: &Task) -> Printer {
        Printer {
            names: task
                .targets
                .iter()
                .map(|t| (t.platform_id.clone(), t.platform_name.clone()))
                .collect(),
            partial: HashMap::new(),
            last_seq: 0,
            held: task.dry_run.then(HashMap::new),
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
            Some("output") => {
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

    fn output(&mut self, platform: &str, stderr: bool, data: &str) {
        let buffer = self
            .partial
            .entry((platform.to_string(), stderr))
            .or_default();
        buffer.push_str(data);
        let Some(end) = buffer.rfind('\n') else {
            return;
        };
        let complete: String = buffer.drain(..=end).collect();
        self.emit(platform.to_string(), stderr, &complete);
    }

    /// Print (or hold) what is left of unfinished lines.
    fn flush(&mut self) {
        let mut rest: Vec<_> = self
            .partial
            .drain()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        rest.sort();
        for ((platform, stderr), mut text) in rest {
            text.push('\n');
            self.emit(platform, stderr, &text);
        }
    }

    /// Print the complete lines `text` of one platform's stream, or hold them for a dry run.
    fn emit(&mut self, platform: String, stderr: bool, text: &str) {
        if let Some(held) = &mut self.held {
            held.entry((platform, stderr)).or_default().push_str(text);
            return;
        }
        let name = self.name(&platform);
        print_lines(&name, stderr, text.lines());
    }

    /// Print the held output of `platform` (stdout, then stderr).
    fn release(&mut self, platform: &str) {
        let Some(held) = &mut self.held else {
            return;
        };
        let out = held.remove(&(platform.to_string(), false));
        let err = held.remove(&(platform.to_string(), true));
        let name = self.name(platform);
        for (stderr, text) in [(false, out), (true, err)] {
            if let Some(text) = text {
                print_lines(&name, stderr, text.lines());
            }
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
fn summary_line(target: &Target) -> String {
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
fn warning_line(target: &Target, warning: &str) -> String {
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

    /// A running task with one target, `p` (web1).
    fn running(dry_run: bool) -> Task {
        Task {
            status: "running".into(),
            targets: vec![target("running", None, None)],
            dry_run,
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
    fn a_warning_line_names_the_platform() {
        assert_eq!(
            warning_line(&target("succeeded", Some(0), None), "host key shared"),
            "web1: warning: host key shared"
        );
    }

    #[test]
    fn replayed_frames_are_skipped_and_done_ends() {
        let mut printer = Printer::new(&running(false));
        let out = json!({"type":"output","seq":1,"platform_id":"p","stream":"stdout","data":"a"});
        assert!(!printer.frame(&out));
        assert!(!printer.frame(&out));
        assert_eq!(printer.partial[&("p".to_string(), false)], "a");
        assert!(printer.frame(&json!({"type":"done","seq":2,"status":"succeeded"})));
    }

    #[test]
    fn a_dry_runs_output_is_held_until_released() {
        let mut printer = Printer::new(&running(true));
        let diff = "--- a/f\n+++ b/f\n+line";
        printer.frame(
            &json!({"type":"output","seq":1,"platform_id":"p","stream":"stdout","data":diff}),
        );
        printer.flush();
        let held = printer.held.as_ref().unwrap();
        assert_eq!(held[&("p".to_string(), false)], "--- a/f\n+++ b/f\n+line\n");
        printer.release("p");
        assert!(printer.held.as_ref().unwrap().is_empty());
    }
}
