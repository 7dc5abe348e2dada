//! The page templates (minijinja, HTML auto-escaped), embedded with `include_str!` and parsed
//! once.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::Environment;

use crate::api::error::ApiError;

const TEMPLATES: [(&str, &str); 20] = [
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
    ("import.html", include_str!("templates/import.html")),
    (
        "import_result.html",
        include_str!("templates/import_result.html"),
    ),
    (
        "notifications.html",
        include_str!("templates/notifications.html"),
    ),
];

/// `2026-11-29T10:11:12.123456Z` → `2026-11-29 10:11:12Z`: to the second, still UTC.
fn short_time(value: String) -> String {
    match value.split_once('.') {
        Some((seconds, _)) => format!("{}Z", seconds.replacen('T', " ", 1)),
        None => value.replacen('T', " ", 1),
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("time", short_time);
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

    /// A task page's context: `targets` as JSON targets of a finished run_command task.
    fn task_page(targets: Vec<serde_json::Value>) -> String {
        let task = serde_json::json!({
            "id": "t", "kind": "run_command", "status": "succeeded", "created_by": "admin",
            "created_at": "2026-01-01T00:00:00Z", "targets": targets,
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
            "key_ids": ["k1", "k2"], "targets": [target("web1", &[])],
        });
        let body = r#"{"kind":"revoke_keys","owner":"alice"}"#;
        let page = render_task(task.clone(), body.into(), true);
        assert!(page.contains("<h1>Task revoke_keys (dry run) "), "{page}");
        assert!(
            page.contains("<strong>dry run — nothing was written</strong>"),
            "{page}"
        );
        assert!(page.contains(r#"data-task="t" data-diff>"#), "{page}");
        assert!(page.contains("Every key of <strong>alice</strong> (2 key(s)) on 1 platform(s)."));
        // The body travels HTML-escaped in the attribute; the real run needs the box ticked.
        assert!(page.contains(
            r#"data-body="{&quot;kind&quot;:&quot;revoke_keys&quot;,&quot;owner&quot;:&quot;alice&quot;}""#
        ), "{page}");
        assert!(page.contains(r#"<input type="checkbox" id="real-run-confirm" required>"#));
        let viewer = render_task(task, body.into(), false);
        assert!(viewer.contains("dry run — nothing was written"));
        assert!(!viewer.contains("real-run"), "{viewer}");
    }

    fn target(id: &str, warnings: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "platform_id": id, "platform_name": id, "status": "succeeded", "exit_code": 0,
            "warnings": warnings,
        })
    }

    #[test]
    fn a_targets_warnings_are_one_collapsed_line_and_counted_above_the_panes() {
        let page = task_page(vec![
            target("web1", &["first <warning>", "second"]),
            target("web2", &[]),
            target("web3", &["only"]),
        ]);
        assert!(
            page.contains(r#"<span data-field="warned-count">2</span> of 3 target(s)"#),
            "{page}"
        );
        // Closed by default; the summary shows the first (escaped) and how many there are.
        assert!(!page.contains("<details class=\"warnings\" data-field=\"warnings\" open"));
        assert!(page.contains(
            r#"<span data-field="warning-count">2 warnings · </span><span data-field="warning-first">first &lt;warning&gt;</span>"#
        ), "{page}");
        assert!(page.contains("<li>second</li>"), "{page}");
        assert!(
            page.contains(r#"<span data-field="warning-count"></span><span data-field="warning-first">only</span>"#),
            "{page}"
        );
        // A target without warnings has the (hidden) slot the live frames fill.
        let web2 = &page[page.find(r#"data-platform="web2""#).unwrap()..];
        let web2 = &web2[..web2.find("</section>").unwrap()];
        assert!(
            web2.contains(r#"<details class="warnings" data-field="warnings" hidden>"#),
            "{web2}"
        );
    }

    #[test]
    fn a_task_without_warnings_hides_the_count() {
        let page = task_page(vec![target("web1", &[])]);
        assert!(
            page.contains(r#"<p class="warn" id="warned" hidden>"#),
            "{page}"
        );
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(
            short_time("2026-11-29T10:11:12.123456Z".into()),
            "2026-11-29 10:11:12Z"
        );
    }
}
