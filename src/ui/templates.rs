//! The page templates (minijinja, HTML auto-escaped), embedded with `include_str!` and parsed
//! once.

use std::sync::OnceLock;

use axum::response::Html;
use minijinja::Environment;

use crate::api::error::ApiError;

const TEMPLATES: [(&str, &str); 12] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("keys.html", include_str!("templates/keys.html")),
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
    ("users.html", include_str!("templates/users.html")),
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

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(
            short_time("2026-11-29T10:11:12.123456Z".into()),
            "2026-11-29 10:11:12Z"
        );
    }
}
