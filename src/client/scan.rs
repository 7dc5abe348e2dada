//! `testum scan`: queue a `scan` task over platforms chosen by name, tag or selector, follow it,
//! then print where the platforms stand: one line of counts by state, then one line per platform
//! that is not `in_sync` (or whose scan did not succeed), so the summary of a 1,000-platform scan
//! stays short
//! when the fleet is healthy. The per-platform reports the scan task writes as output are not
//! printed; stderr names the task page that shows them.

use std::collections::{BTreeMap, HashMap};

use clap::{ArgGroup, Args};
use serde::Deserialize;
use serde_json::json;

use super::Connection;
use super::api::Api;
use super::follow::{Output, Target, follow};
use super::output::counts_line;
use super::tasks::{Accepted, Platforms};

/// The platform states in the order the summary counts them (DESIGN.md vocabulary).
const STATES: [&str; 6] = [
    "in_sync",
    "drift",
    "unreachable",
    "host_key_mismatch",
    "error",
    "never_scanned",
];

/// `testum scan` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("platforms").required(true).multiple(true).args(["platform", "tag", "selector"])))]
pub struct ScanArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(flatten)]
    platforms: Platforms,
}

/// A platform's state as `GET /api/platforms` lists it.
#[derive(Debug, Deserialize)]
struct PlatformState {
    id: String,
    state: String,
}

/// The parts of `GET /api/platforms/{id}/scan` the summary names.
#[derive(Debug, Deserialize)]
struct Scan {
    error: Option<String>,
    /// The stored findings: at most 10 000 of `findings_total`.
    findings: Vec<Finding>,
    #[serde(default)]
    findings_total: usize,
}

#[derive(Debug, Deserialize)]
struct Finding {
    kind: String,
}

/// Scan, follow, summarise; `true` when every target's scan succeeded.
pub async fn scan(args: ScanArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    let mut body = json!({"kind": "scan"});
    args.platforms.add_to(&mut api, &mut body).await?;
    let accepted: Accepted = api.post("/api/tasks", &body).await?;
    // A line of output per platform would bury the few that need a look: the counts and those
    // few are printed instead; each platform's full report stays on the task page.
    let task = follow(&mut api, &accepted.task_id, Output::Hide).await?;
    let states: HashMap<String, String> = api
        .list_all::<PlatformState>("/api/platforms")
        .await?
        .into_iter()
        .map(|p| (p.id, p.state))
        .collect();
    let state_of = |target: &Target| {
        states
            .get(&target.platform_id)
            .map_or("never_scanned", String::as_str)
            .to_string()
    };
    let states: Vec<String> = task.targets.iter().map(state_of).collect();
    println!("{}", states_line(&states));
    let mut attention: Vec<(&Target, &String)> = task
        .targets
        .iter()
        .zip(&states)
        .filter(|(target, state)| *state != "in_sync" || target.status != "succeeded")
        .collect();
    attention.sort_by(|a, b| a.0.platform_name.cmp(&b.0.platform_name));
    for (target, state) in attention {
        // The latest scan says why (its error, its findings); a platform never scanned has none.
        let scan: Option<Scan> = api
            .get(&format!("/api/platforms/{}/scan", target.platform_id))
            .await
            .ok();
        println!("{}", attention_line(target, state, scan.as_ref()));
    }
    eprintln!(
        "testum: every platform's report: {}",
        api.url(&format!("/ui/tasks/{}", accepted.task_id))
    );
    Ok(task.succeeded())
}

/// `3 platforms: 1 in_sync, 1 drift, 1 unreachable` (states with no platform left out).
fn states_line(states: &[String]) -> String {
    counts_line(
        ("platform", "platforms"),
        &STATES,
        states.iter().map(String::as_str),
    )
}

/// `web2: drift: 2 unmanaged_key, 1 weak_key`, `web3: unreachable: connection refused`, or for a
/// target whose scan did not succeed `web4: in_sync (scan cancelled): ...`.
fn attention_line(target: &Target, state: &str, scan: Option<&Scan>) -> String {
    let mut head = format!("{}: {state}", target.platform_name);
    if target.status != "succeeded" {
        head.push_str(&format!(" (scan {})", target.status));
    }
    let detail = match (&target.error, scan) {
        (Some(error), _) => Some(error.clone()),
        (None, Some(Scan { error: Some(e), .. })) => Some(e.clone()),
        (None, Some(scan)) if !scan.findings.is_empty() => {
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for finding in &scan.findings {
                *kinds.entry(&finding.kind).or_default() += 1;
            }
            let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let mut detail = kinds.join(", ");
            if scan.findings_total > scan.findings.len() {
                detail.push_str(&format!(
                    " (in the first {} of {} findings)",
                    scan.findings.len(),
                    scan.findings_total
                ));
            }
            Some(detail)
        }
        _ => None,
    };
    match detail {
        Some(detail) => format!("{head}: {detail}"),
        None => head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(status: &str, error: Option<&str>) -> Target {
        Target {
            platform_id: "p".into(),
            platform_name: "web1".into(),
            status: status.into(),
            exit_code: None,
            exit_signal: None,
            error: error.map(String::from),
            changed: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn counts_follow_the_state_order_and_skip_empty_states() {
        let states: Vec<String> = ["unreachable", "in_sync", "drift", "in_sync"]
            .map(String::from)
            .into();
        assert_eq!(
            states_line(&states),
            "4 platforms: 2 in_sync, 1 drift, 1 unreachable"
        );
        assert_eq!(states_line(&["in_sync".into()]), "1 platform: 1 in_sync");
    }

    #[test]
    fn a_drifted_platform_names_its_finding_kinds() {
        let scan = Scan {
            error: None,
            findings: ["weak_key", "unmanaged_key", "unmanaged_key"]
                .map(|kind| Finding { kind: kind.into() })
                .into(),
            findings_total: 3,
        };
        assert_eq!(
            attention_line(&target("succeeded", None), "drift", Some(&scan)),
            "web1: drift: 2 unmanaged_key, 1 weak_key"
        );
        let cut = Scan {
            findings_total: 170_502,
            ..scan
        };
        assert_eq!(
            attention_line(&target("succeeded", None), "drift", Some(&cut)),
            "web1: drift: 2 unmanaged_key, 1 weak_key (in the first 3 of 170502 findings)"
        );
    }

    #[test]
    fn a_failed_scan_names_its_error() {
        assert_eq!(
            attention_line(
                &target("failed", Some("connection refused")),
                "unreachable",
                None
            ),
            "web1: unreachable (scan failed): connection refused"
        );
    }
}
