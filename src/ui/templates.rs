//! The page templates (minijinja, HTML auto-escaped), embedded with `include_str!` and parsed
//! once.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::Environment;

use crate::api::error::ApiError;

const TEMPLATES: [(&str, &str); 23] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("keys.html", include_str!("templates/keys.html")),
    ("schedules.html", include_str!("templates/schedules.html")),
    ("key.html", include_str!("templates/key.html")),
    (
        "key_options_fields.html",
        include_str!("templates/key_options_fields.html"),
    ),
    ("platforms.html", include_str!("templates/platforms.html")),
    ("key_picker.html", include_str!("templates/key_picker.html")),
    ("platform.html", include_str!("templates/platform.html")),
    (
        "platform_fields.html",
        include_str!("templates/platform_fields.html"),
    ),
    ("run_fields.html", include_str!("templates/run_fields.html")),
    ("tasks.html", include_str!("templates/tasks.html")),
    ("task.html", include_str!("templates/task.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("access.html", include_str!("templates/access.html")),
    ("state.html", include_str!("templates/state.html")),
    ("users.html", include_str!("templates/users.html")),
    ("groups.html", include_str!("templates/groups.html")),
    ("import.html", include_str!("templates/import.html")),
    (
        "import_result.html",
        include_str!("templates/import_result.html"),
    ),
    (
        "notifications.html",
        include_str!("templates/notifications.html"),
    ),
    ("account.html", include_str!("templates/account.html")),
];

/// `2026-11-29T10:11:12.123456Z` → `2026-11-29 10:11:12Z`: to the second, still UTC.
fn short_time(value: String) -> String {
    match value.split_once('.') {
        Some((seconds, _)) => format!("{}Z", seconds.replacen('T', " ", 1)),
        None => value.replacen('T', " ", 1),
    }
}

/// `started|duration(finished)`: how long a task took (`4.2 s`, `3 min 05 s`, `2 h 07 min`),
/// `since <time>` while it runs, empty before it starts. Times are the API's RFC 3339 strings.
fn duration(started: Option<String>, finished: Option<String>) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    let Some(start) = started.as_deref().and_then(parse) else {
        return String::new();
    };
    let Some(end) = finished.as_deref().and_then(parse) else {
        return format!("since {}", short_time(started.unwrap_or_default()));
    };
    let ms = (end - start).num_milliseconds().max(0);
    let s = ms / 1000;
    match s {
        0..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// `text|clip(n)`: the first line of `text`, cut to `n` characters, with `…` when anything was
/// left out (a 64 KiB command in a list row).
fn clip(text: String, n: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(n).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Longest list [`brief_json`] shows in full.
const BRIEF_LIST: usize = 5;

/// `value|brief_json`: JSON text of `value` with every list longer than [`BRIEF_LIST`] cut to
/// its first three items and `"… and N more"`, so an audit row of a task on 300 platforms is a
/// line, not 11 KB of ids (the API and the CSV export keep every id).
fn brief_json(value: minijinja::Value) -> String {
    fn brief(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Array(items) if items.len() > BRIEF_LIST => {
                let more = items.len() - 3;
                let mut kept: Vec<serde_json::Value> =
                    items.into_iter().take(3).map(brief).collect();
                kept.push(serde_json::Value::String(format!("… and {more} more")));
                serde_json::Value::Array(kept)
            }
            serde_json::Value::Array(items) => items.into_iter().map(brief).collect(),
            serde_json::Value::Object(fields) => {
                fields.into_iter().map(|(k, v)| (k, brief(v))).collect()
            }
            other => other,
        }
    }
    serde_json::to_value(&value)
        .map(|v| brief(v).to_string())
        .unwrap_or_default()
}

/// `key_type|host_key_file`: the part of sshd's default host key file name for a host key type,
/// `ssh_host_<this>_key.pub` (OpenSSH's `ssh-keygen -A` names: ed25519, ecdsa, rsa); the type
/// itself for one without a default file.
fn host_key_file(key_type: String) -> String {
    match key_type.as_str() {
        "ssh-ed25519" => "ed25519".into(),
        "ssh-rsa" => "rsa".into(),
        t if t.starts_with("ecdsa-sha2-") => "ecdsa".into(),
        _ => key_type,
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("time", short_time);
        env.add_filter("duration", duration);
        env.add_filter("clip", clip);
        env.add_filter("host_key_file", host_key_file);
        env.add_filter("brief_json", brief_json);
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // A unit test renders every template, so this is caught before a release.
                tracing::error!(template = name, error = %e, "UI template does not parse");
            }
        }
        env
    })
}

/// Render template `name` with `context`; a template error is a 500 (logged).
pub fn render(name: &str, context: minijinja::Value) -> Result<Html<String>, ApiError> {
    environment()
        .get_template(name)
        .and_then(|t| t.render(context))
        .map(Html)
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    /// A task page's context: a finished run_command task with these target counts.
    fn task_page(counts: serde_json::Value) -> String {
        let task = serde_json::json!({
            "id": "t", "kind": "run_command", "status": "succeeded", "created_by": "admin",
            "created_at": "2026-01-01T00:00:00Z", "target_counts": counts,
        });
        render_task(task, serde_json::Value::Null, true)
    }

    /// The task page of `task` (JSON) with `real_run` (the page's body for the real run, or
    /// null), for an admin or (`can_write` false) a viewer.
    fn render_task(
        task: serde_json::Value,
        real_run: serde_json::Value,
        can_write: bool,
    ) -> String {
        let context = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "task": task, "real_run": real_run, "csrf": "c", "nav": "tasks",
            "statuses": ["queued", "running", "succeeded", "failed", "cancelled"],
            "me": {"username": "u", "role": "admin", "can_write": can_write, "is_admin": can_write},
        })));
        environment()
            .get_template("task.html")
            .and_then(|t| t.render(context))
            .unwrap()
    }

    #[test]
    fn a_dry_run_says_nothing_was_written_and_offers_the_confirmed_real_run_to_operators() {
        let task = serde_json::json!({
            "id": "t", "kind": "revoke_keys", "status": "succeeded", "created_by": "admin",
            "created_at": "2026-01-01T00:00:00Z", "dry_run": true, "owner": "alice",
            "key_ids": ["k1", "k2"], "target_counts": counts(1, 0),
        });
        let body = r#"{"kind":"revoke_keys","owner":"alice"}"#;
        let page = render_task(task.clone(), body.into(), true);
        assert!(page.contains("<h1>Task revoke_keys (dry run) "), "{page}");
        assert!(
            page.contains("<strong>dry run — nothing was written</strong>"),
            "{page}"
        );
        assert!(
            page.contains(r#"data-task="t" data-total="4" data-diff>"#),
            "{page}"
        );
        assert!(page.contains("Every key of <strong>alice</strong> (2 key(s)) on 4 platform(s)."));
        // The body travels HTML-escaped in the attribute; the real run needs the box ticked.
        assert!(page.contains(
            r#"data-body="{&quot;kind&quot;:&quot;revoke_keys&quot;,&quot;owner&quot;:&quot;alice&quot;}""#
        ), "{page}");
        assert!(page.contains(r#"<input type="checkbox" id="real-run-confirm" required>"#));
        let viewer = render_task(task, body.into(), false);
        assert!(viewer.contains("dry run — nothing was written"));
        assert!(!viewer.contains("real-run"), "{viewer}");
    }

    /// Target counts: `succeeded` of them, `warned` with warnings, one failed, two running.
    fn counts(succeeded: i64, warned: i64) -> serde_json::Value {
        serde_json::json!({
            "total": succeeded + 3, "queued": 0, "running": 2, "succeeded": succeeded,
            "failed": 1, "cancelled": 0, "warned": warned,
        })
    }

    #[test]
    fn the_header_counts_targets_per_status_and_shows_how_many_ended() {
        let page = task_page(counts(287, 2));
        assert!(
            page.contains(r#"<span data-count="succeeded">287</span>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span data-count="failed">1</span>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span data-count="running">2</span>"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<progress id="progress" max="290" value="288""#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span data-field="ended">288</span> of 290 ended"#),
            "{page}"
        );
        assert!(
            page.contains(r#"<span data-field="warned-count">2</span> of 290 target(s)"#),
            "{page}"
        );
        // Each count is a button that filters the table (keyboard reachable).
        assert!(page.contains(r#"<button type="button" class="count" data-status="failed""#));
        // No per-target markup: the table and groups come from the API.
        assert!(!page.contains("data-platform="), "{page}");
    }

    #[test]
    fn a_task_without_warnings_hides_the_count() {
        let page = task_page(counts(1, 0));
        assert!(
            page.contains(r#"<p class="warn" id="warned" hidden>"#),
            "{page}"
        );
    }

    #[test]
    fn durations_read_at_a_glance() {
        let at = |s: &str| Some(format!("2026-11-29T10:{s}.000000Z"));
        assert_eq!(super::duration(at("00:00"), at("00:04")), "4.0 s");
        assert_eq!(super::duration(at("00:00"), at("03:05")), "3 min 05 s");
        assert_eq!(
            super::duration(at("00:00"), Some("2026-11-29T12:07:00Z".into())),
            "2 h 07 min"
        );
        assert_eq!(
            super::duration(at("00:00"), None),
            "since 2026-11-29 10:00:00Z"
        );
        assert_eq!(super::duration(None, None), "");
    }

    #[test]
    fn clip_keeps_the_first_line_and_says_when_it_cut() {
        assert_eq!(super::clip("uptime".into(), 10), "uptime");
        assert_eq!(super::clip("abcdef".into(), 3), "abc…");
        assert_eq!(super::clip("a\nb".into(), 10), "a…");
    }

    #[test]
    fn long_lists_in_audit_details_are_cut_with_a_count() {
        let ids: Vec<String> = (0..300).map(|n| format!("p{n}")).collect();
        let details = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "kind": "run_command", "platform_ids": ids, "key_ids": ["a", "b"],
        })));
        assert_eq!(
            super::brief_json(details),
            r#"{"key_ids":["a","b"],"kind":"run_command","platform_ids":["p0","p1","p2","… and 297 more"]}"#
        );
    }

    #[test]
    fn host_key_files_have_sshds_default_names() {
        assert_eq!(super::host_key_file("ssh-ed25519".into()), "ed25519");
        assert_eq!(super::host_key_file("ecdsa-sha2-nistp384".into()), "ecdsa");
        assert_eq!(super::host_key_file("ssh-rsa".into()), "rsa");
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(
            short_time("2026-11-29T10:11:12.123456Z".into()),
            "2026-11-29 10:11:12Z"
        );
    }
}
