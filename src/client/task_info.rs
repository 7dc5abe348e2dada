//! `testum tasks`: list tasks (a page at a time), show one (a summary that stays short for 1,000
//! targets: counts by status, then only the targets that did not plainly succeed), print its
//! output (read a page at a time, never whole), and cancel one. A task is named by its id (the
//! id `deploy`, `run` and the others print, or `tasks list` shows).

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::Value;

use super::Connection;
use super::api::{Api, with_query};
use super::follow::{
    Output, Printer, SHOWN_TARGETS, STATUS_ORDER, Target, Task, odd_targets, reason, summary_line,
    warning_line,
};
use super::output::{Format, OutputArg, Pages, counts_line, print_json, print_out};
use super::resolve::{Named, Naming, pick};

/// Output events per page `tasks output` reads.
const OUTPUT_PAGE: u32 = 1000;
/// How many failure reasons `tasks show` counts.
const REASONS: usize = 5;

/// `testum tasks` arguments.
#[derive(Debug, Args)]
pub struct TasksArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: TasksCommand,
}

#[derive(Debug, Subcommand)]
enum TasksCommand {
    /// List tasks, newest first, a page at a time: id, kind, status, created, by.
    List(ListTasks),
    /// Show a task: what it did, when, by whom; its targets counted by status; then each target
    /// that did not simply succeed (failed, cancelled, unfinished, or with warnings), the first
    /// 20 unless `--all`.
    Show {
        /// The task's id.
        task: String,
        /// List every target that did not simply succeed, not only the first 20.
        #[arg(long)]
        all: bool,
        /// `json`: the task as the server answers it, with every target.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Print a task's output, read from the server a page at a time: lines prefixed `name | `,
    /// stdout to stdout and stderr to stderr; with `--platform` and `--stream` the exact bytes
    /// of that one stream, unprefixed.
    Output {
        /// The task's id.
        task: String,
        /// Only this platform's output (its name or a unique prefix of it).
        #[arg(long)]
        platform: Option<String>,
        /// With `--platform`: only this stream (`stdout` or `stderr`), byte for byte.
        #[arg(long, requires = "platform", value_parser = ["stdout", "stderr"])]
        stream: Option<String>,
    },
    /// Cancel a queued or running task: its running targets are stopped, its queued ones never
    /// start.
    Cancel {
        /// The task's id.
        task: String,
    },
}

/// `testum tasks list` filters.
#[derive(Debug, Args)]
struct ListTasks {
    /// Only tasks in this status: queued, running, succeeded, failed or cancelled.
    #[arg(long)]
    status: Option<String>,
    /// Only tasks of this kind: deploy_keys, revoke_keys, replace_key, run_command, scan or
    /// sync.
    #[arg(long)]
    kind: Option<String>,
    #[command(flatten)]
    pages: Pages,
    #[command(flatten)]
    output: OutputArg,
}

/// What a task is, as `GET /api/tasks` and `GET /api/tasks/{id}` show it (without targets).
#[derive(Debug, Deserialize)]
struct Head {
    id: String,
    kind: String,
    status: String,
    created_by: String,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    dry_run: bool,
    command: Option<String>,
    selector: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    key_ids: Vec<String>,
    output_expired_at: Option<DateTime<Utc>>,
}

/// One page of `GET /api/tasks/{id}/output`.
#[derive(Debug, Deserialize)]
struct OutputPage {
    items: Vec<Chunk>,
    next_after_seq: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Chunk {
    platform_id: Option<String>,
    stream: Option<String>,
    data: String,
}

impl Named for Target {
    fn id(&self) -> &str {
        &self.platform_id
    }
    fn name(&self) -> &str {
        &self.platform_name
    }
}

/// `testum tasks ...`.
pub async fn tasks(args: TasksArgs) -> anyhow::Result<()> {
    let mut api = Api::open(&args.connection)?;
    match args.command {
        TasksCommand::List(list) => {
            let mut query: Vec<(&str, String)> = Vec::new();
            for (field, value) in [("status", list.status), ("kind", list.kind)] {
                if let Some(value) = value {
                    query.push((field, value));
                }
            }
            let path = with_query("/api/tasks", &query)?;
            let header = ["ID", "KIND", "STATUS", "CREATED", "BY"];
            list.pages
                .print(&mut api, &path, list.output.output, &header, |t: Head| {
                    vec![
                        t.id,
                        kind(&t.kind, t.dry_run),
                        t.status,
                        when(t.created_at),
                        t.created_by,
                    ]
                })
                .await?;
        }
        TasksCommand::Show { task, all, output } => {
            let value: Value = api.get(&task_path(&task)?).await?;
            if output.output == Format::Json {
                return print_json(&value);
            }
            let head: Head = serde_json::from_value(value.clone())?;
            let task: Task = serde_json::from_value(value)?;
            print_out(&show(&head, &task));
            let odd = odd_targets(&task);
            let shown = if all { odd.len() } else { SHOWN_TARGETS };
            for target in odd.iter().take(shown) {
                println!("{}", summary_line(target));
                for warning in &target.warnings {
                    println!("{}", warning_line(target, warning));
                }
            }
            if odd.len() > shown {
                println!(
                    "... and {} more not simply succeeded (--all lists them)",
                    odd.len() - shown
                );
            }
        }
        TasksCommand::Output {
            task,
            platform,
            stream,
        } => {
            let path = task_path(&task)?;
            let task: Task = api.get(&path).await?;
            let platform = match &platform {
                Some(name) => Some(pick(
                    "--platform",
                    "platform of the task",
                    &task.targets,
                    name,
                    Naming::ExactOrPrefix,
                )?),
                None => None,
            };
            match (platform, stream) {
                (Some(target), Some(stream)) => {
                    let query = serde_urlencoded::to_string([
                        ("platform_id", target.platform_id.as_str()),
                        ("stream", &stream),
                    ])?;
                    let mut out = std::io::stdout().lock();
                    api.download(&format!("{path}/output?{query}"), &mut out)
                        .await?;
                }
                (target, _) => print_output(&mut api, &path, &task, target).await?,
            }
            // A running task's output ends where the server is now, not where the task will.
            if matches!(task.status.as_str(), "queued" | "running") {
                eprintln!(
                    "testum: the task is still {}: this is its output so far (run the command \
                     again for more, or watch it live on the task's page)",
                    task.status
                );
            }
        }
        TasksCommand::Cancel { task } => {
            let path = task_path(&task)?;
            let _: Value = api.post(&format!("{path}/cancel"), &()).await?;
            println!(
                "cancelling task {task}: its running targets are stopped, its queued ones will not start"
            );
        }
    }
    Ok(())
}

/// `/api/tasks/{id}` for the id `task` as typed (URL-encoded: the server says what is wrong
/// with it).
fn task_path(task: &str) -> anyhow::Result<String> {
    let id = serde_urlencoded::to_string([("", task.trim())])?;
    Ok(format!("/api/tasks/{}", &id[1..]))
}

/// Print `task`'s output (only `only`'s, when given) a page of events at a time, each line
/// prefixed with its platform's name.
async fn print_output(
    api: &mut Api,
    path: &str,
    task: &Task,
    only: Option<&Target>,
) -> anyhow::Result<()> {
    let mut printer = Printer::new(task, Output::Print);
    let mut after = 0;
    let mut printed = false;
    loop {
        let page: OutputPage = api
            .get(&format!(
                "{path}/output?after_seq={after}&limit={OUTPUT_PAGE}"
            ))
            .await?;
        for chunk in &page.items {
            let platform = chunk.platform_id.as_deref().unwrap_or_default();
            if only.is_some_and(|t| t.platform_id != platform) {
                continue;
            }
            printed = true;
            printer.output(
                platform,
                chunk.stream.as_deref() == Some("stderr"),
                &chunk.data,
            );
        }
        match page.next_after_seq {
            Some(next) => after = next,
            None => break,
        }
    }
    printer.flush();
    if !printed {
        match only {
            Some(target) => eprintln!("testum: {} printed nothing", target.platform_name),
            None => eprintln!("testum: the task has no output"),
        }
    }
    Ok(())
}

/// The head of `tasks show`: what, by whom, when, then the targets counted by status.
fn show(head: &Head, task: &Task) -> String {
    let mut text = format!(
        "task {}: {}, {}\ncreated {} by {}",
        head.id,
        kind(&head.kind, head.dry_run),
        head.status,
        when(head.created_at),
        head.created_by
    );
    if let Some(started) = head.started_at {
        text.push_str(&format!(", started {}", when(started)));
    }
    if let Some(finished) = head.finished_at {
        text.push_str(&format!(", finished {}", when(finished)));
        if let Some(started) = head.started_at {
            let took = (finished - started).num_seconds().max(0);
            text.push_str(&format!(" (took {took}s)"));
        }
    }
    text.push('\n');
    if let Some(command) = &head.command {
        text.push_str(&format!("command: {command}\n"));
    }
    match (&head.owner, head.key_ids.len()) {
        (Some(owner), _) => text.push_str(&format!("keys: every key of {owner}\n")),
        (None, 0) => {}
        (None, 1) => text.push_str("keys: 1\n"),
        (None, n) => text.push_str(&format!("keys: {n}\n")),
    }
    if let Some(selector) = &head.selector {
        text.push_str(&format!("selector: {selector}\n"));
    }
    if let Some(expired) = head.output_expired_at {
        text.push_str(&format!(
            "output: deleted by retention at {}\n",
            when(expired)
        ));
    }
    text.push_str(&counts_line(
        ("target", "targets"),
        &STATUS_ORDER,
        task.targets.iter().map(|t| t.status.as_str()),
    ));
    text.push('\n');
    if let Some(line) = reasons_line(task) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// `failed: 1 host key changed, 10 exit status 1, 990 connection failed: Connection refused`: why
/// the failed targets failed, the rarest reason first (the odd one out among 1,000 hosts failing
/// alike is the one to read), at most [`REASONS`] of them; `None` for fewer than two failed
/// targets (their own line says why).
fn reasons_line(task: &Task) -> Option<String> {
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for target in task.targets.iter().filter(|t| t.status == "failed") {
        let reason = reason(target);
        match reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => reasons.push((reason, 1)),
        }
    }
    if reasons.iter().map(|(_, count)| count).sum::<usize>() < 2 {
        return None;
    }
    // Stable: equal counts keep the order of the targets.
    reasons.sort_by_key(|(_, count)| *count);
    let mut parts: Vec<String> = reasons
        .iter()
        .take(REASONS)
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    if reasons.len() > REASONS {
        parts.push(format!("{} other reasons", reasons.len() - REASONS));
    }
    Some(format!("failed: {}", parts.join(", ")))
}

/// `deploy_keys`, or `deploy_keys (dry run)`.
fn kind(kind: &str, dry_run: bool) -> String {
    if dry_run {
        format!("{kind} (dry run)")
    } else {
        kind.to_string()
    }
}

/// `2026-12-02T02:20:37Z`: to the second, in UTC.
fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, status: &str, warnings: &[&str]) -> Target {
        Target {
            platform_id: format!("id-{name}"),
            platform_name: name.into(),
            status: status.into(),
            exit_code: None,
            exit_signal: None,
            error: (status == "failed").then(|| "connection refused".to_string()),
            changed: None,
            warnings: warnings.iter().map(|w| w.to_string()).collect(),
        }
    }

    #[test]
    fn a_thousand_targets_show_as_counts_and_the_odd_ones() {
        let mut targets: Vec<Target> = (0..994)
            .map(|n| target(&format!("web{n:03}"), "succeeded", &[]))
            .collect();
        targets.push(target("web-b", "failed", &[]));
        targets.push(target("web-a", "failed", &[]));
        targets.push(target("db", "cancelled", &[]));
        targets.push(target("old", "succeeded", &["host key shared"]));
        targets.push(target("q1", "queued", &[]));
        targets.push(target("r1", "running", &[]));
        let task = Task {
            status: "running".into(),
            targets,
        };
        let head: Head = serde_json::from_value(serde_json::json!({
            "id": "t1", "kind": "run_command", "status": "running", "created_by": "admin",
            "created_at": "2026-12-02T02:20:37.123456Z", "started_at": "2026-12-02T02:20:38Z",
            "finished_at": null, "command": "uptime", "output_expired_at": null
        }))
        .unwrap();
        assert_eq!(
            show(&head, &task),
            "task t1: run_command, running\n\
             created 2026-12-02T02:20:37Z by admin, started 2026-12-02T02:20:38Z\n\
             command: uptime\n\
             1000 targets: 995 succeeded, 2 failed, 1 cancelled, 1 running, 1 queued\n\
             failed: 2 connection refused\n"
        );
        let odd: Vec<&str> = odd_targets(&task)
            .iter()
            .map(|t| t.platform_name.as_str())
            .collect();
        assert_eq!(odd, ["web-a", "web-b", "db", "r1", "q1", "old"]);
    }

    #[test]
    fn the_rarest_failure_is_listed_first() {
        let mut targets: Vec<Target> = (0..280)
            .map(|n| Target {
                error: Some(format!(
                    "connection failed: 127.0.0.1:{n}: Connection refused"
                )),
                ..target(&format!("gone-{n:03}"), "failed", &[])
            })
            .collect();
        targets.push(Target {
            error: None,
            exit_code: Some(3),
            ..target("real-5", "failed", &[])
        });
        let task = Task {
            status: "failed".into(),
            targets,
        };
        let odd = odd_targets(&task);
        assert_eq!(odd[0].platform_name, "real-5");
        assert_eq!(odd[1].platform_name, "gone-000");
    }

    #[test]
    fn failures_are_counted_by_reason_without_the_address() {
        let failed = |error: Option<&str>, code: Option<i64>| Target {
            error: error.map(String::from),
            exit_code: code,
            ..target("x", "failed", &[])
        };
        let mut targets = vec![
            failed(
                Some("connection failed: 10.0.0.9:22: No route to host"),
                None,
            ),
            failed(None, Some(1)),
            failed(
                Some("host key mismatch: pinned SHA256:a, presented SHA256:b"),
                None,
            ),
        ];
        for n in 0..3 {
            let error = format!("connection failed: 10.0.0.{n}:22: Connection refused");
            targets.push(failed(Some(&error), None));
        }
        targets.push(target("ok", "succeeded", &[]));
        let task = Task {
            status: "failed".into(),
            targets,
        };
        assert_eq!(
            reasons_line(&task).unwrap(),
            "failed: 1 connection failed: No route to host, 1 exit status 1, 1 host key \
             mismatch, 3 connection failed: Connection refused"
        );
        let one = Task {
            status: "failed".into(),
            targets: vec![failed(None, Some(2))],
        };
        assert_eq!(reasons_line(&one), None);
    }
}
