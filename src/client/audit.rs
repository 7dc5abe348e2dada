//! `testum audit list`: the audit log from the server's API (`GET /api/audit`), newest first, a
//! page at a time, with the filters the API offers (actor, action, target, time window). It sits
//! beside the local admin command `testum audit verify` (which reads the database, not the API):
//! `crate::cli` joins the two under `testum audit`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::api::{Api, with_query};
use super::inventory::{key_id, platform_id};
use super::output::{OutputArg, Pages};
use super::resolve::Naming;
use super::{Connection, UsageError};

/// Longest details column of the table, in characters (`--output json` has them whole).
const DETAILS_WIDTH: usize = 100;

/// `testum audit list` arguments; every filter given must match.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only events by this user (exact), or `system`; `--actor-contains` for part of a name.
    #[arg(long)]
    actor: Option<String>,
    /// Only events whose actor contains this text (case ignored).
    #[arg(long)]
    actor_contains: Option<String>,
    /// Only this action (exact), e.g. `key.create`, `platform.delete`, `auth.login`;
    /// `--action-contains key.` for every key action.
    #[arg(long)]
    action: Option<String>,
    /// Only events whose action contains this text (case ignored), e.g. `key.` or `login`.
    #[arg(long)]
    action_contains: Option<String>,
    /// Only events about this target, as the log names it: `platform:<id>`, `key:<id>`,
    /// `task:<id>`, `user:<id>`, ... (for what was deleted since, whose name is gone).
    #[arg(long, conflicts_with_all = ["platform", "key", "task"])]
    target: Option<String>,
    /// Only events about this platform (its name or a unique prefix of it).
    #[arg(long, conflicts_with_all = ["key", "task"])]
    platform: Option<String>,
    /// Only events about this key (its name, a unique prefix of it, or its fingerprint).
    #[arg(long, conflicts_with = "task")]
    key: Option<String>,
    /// Only events about this task (its id).
    #[arg(long)]
    task: Option<String>,
    /// From this time on (inclusive): RFC 3339 (`2026-11-29T10:00:00Z`) or an age before now
    /// (`90m`, `12h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Before this time (exclusive): RFC 3339 or an age before now.
    #[arg(long)]
    until: Option<String>,
    #[command(flatten)]
    pages: Pages,
    #[command(flatten)]
    output: OutputArg,
}

/// An audit event (the fields the table shows).
#[derive(Debug, Deserialize)]
struct Event {
    created_at: DateTime<Utc>,
    actor: String,
    action: String,
    target: Option<String>,
    outcome: String,
    details: Value,
}

/// `testum audit list`.
pub async fn list(args: AuditListArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut query: Vec<(&str, String)> = Vec::new();
    for (field, flag, value) in [
        ("since", "--since", &args.since),
        ("until", "--until", &args.until),
    ] {
        if let Some(text) = value {
            query.push((field, instant(flag, text, now)?));
        }
    }
    let mut api = Api::open(&args.connection)?;
    let target = match (&args.target, &args.platform, &args.key, &args.task) {
        (Some(target), ..) => Some(target.clone()),
        (_, Some(name), ..) => Some(format!(
            "platform:{}",
            platform_id(&mut api, "--platform", name, Naming::ExactOrPrefix).await?
        )),
        (_, _, Some(name), _) => Some(format!(
            "key:{}",
            key_id(&mut api, "--key", name, Naming::ExactOrPrefix).await?
        )),
        (_, _, _, Some(task)) => Some(format!("task:{}", task.trim())),
        _ => None,
    };
    for (field, value) in [
        ("actor", &args.actor),
        ("actor_contains", &args.actor_contains),
        ("action", &args.action),
        ("action_contains", &args.action_contains),
        ("target", &target),
    ] {
        if let Some(value) = value {
            query.push((field, value.clone()));
        }
    }
    let path = with_query("/api/audit", &query)?;
    let header = ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "DETAILS"];
    args.pages
        .print(&mut api, &path, args.output.output, &header, |e: Event| {
            vec![
                e.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                e.actor,
                e.action,
                e.outcome,
                e.target.unwrap_or_else(|| "-".into()),
                details(&e.details),
            ]
        })
        .await
}

/// The RFC 3339 instant `text` means: an RFC 3339 time as is, or an age (`90m`, `12h`, `7d`,
/// `30s`) before `now`. Anything else is a [`UsageError`] naming `flag`.
fn instant(flag: &str, text: &str, now: DateTime<Utc>) -> Result<String, UsageError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    let bad = || {
        UsageError(format!(
            "{flag} {text:?}: give an RFC 3339 time (2026-11-29T10:00:00Z) or an age (90m, 12h, 7d)"
        ))
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::try_seconds(number),
        "m" => Duration::try_minutes(number),
        "h" => Duration::try_hours(number),
        "d" => Duration::try_days(number),
        _ => None,
    }
    .filter(|age| *age >= Duration::zero())
    .ok_or_else(bad)?;
    let at = now.checked_sub_signed(age).ok_or_else(bad)?;
    Ok(at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// An event's details as one line of JSON, cut at [`DETAILS_WIDTH`] characters; `-` when empty.
fn details(details: &Value) -> String {
    if details.is_null() || details.as_object().is_some_and(|d| d.is_empty()) {
        return "-".into();
    }
    let text = details.to_string();
    if text.chars().count() <= DETAILS_WIDTH {
        return text;
    }
    let mut cut: String = text.chars().take(DETAILS_WIDTH - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_rfc3339_or_ages_before_now() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            instant("--since", "2026-11-29T11:00:00+01:00", now).unwrap(),
            "2026-11-29T10:00:00Z"
        );
        assert_eq!(
            instant("--since", "90m", now).unwrap(),
            "2026-12-02T01:30:00Z"
        );
        assert_eq!(
            instant("--until", "7d", now).unwrap(),
            "2026-11-25T03:00:00Z"
        );
        for bad in ["", "yesterday", "5w", "-3h", "h"] {
            assert_eq!(
                instant("--since", bad, now).unwrap_err().0,
                format!(
                    "--since {bad:?}: give an RFC 3339 time (2026-11-29T10:00:00Z) or an age \
                     (90m, 12h, 7d)"
                )
            );
        }
    }

    #[test]
    fn long_details_are_cut() {
        assert_eq!(details(&json!({})), "-");
        assert_eq!(details(&json!({"name": "alice"})), r#"{"name":"alice"}"#);
        let long = details(&json!({"text": "x".repeat(200)}));
        assert_eq!(long.chars().count(), DETAILS_WIDTH);
        assert!(long.ends_with('…'));
    }
}
