//! `testum access`: the access report (who can log in where, `GET /api/access`) as a table of
//! every row (all pages), or the server's CSV as is with `--csv`. Platforms and keys are given by
//! name and looked up (the API filters by id).

use std::io::Write as _;

use clap::Args;
use serde::Deserialize;
use serde_json::Value;

use super::Connection;
use super::api::{Api, with_query};
use super::inventory::{key_id, platform_id};
use super::output::{OutputArg, print_items};
use super::resolve::Naming;

/// `testum access` arguments; every filter given must match.
#[derive(Debug, Args)]
pub struct AccessArgs {
    #[command(flatten)]
    connection: Connection,
    /// Only keys registered to this owner (exact match).
    #[arg(long)]
    owner: Option<String>,
    /// Only this platform (by name).
    #[arg(long)]
    platform: Option<String>,
    /// Only platforms with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only this registered key (by name).
    #[arg(long, conflicts_with = "unknown")]
    key: Option<String>,
    /// Only lines inside testum's managed block.
    #[arg(long, conflicts_with = "unmanaged")]
    managed: bool,
    /// Only lines outside testum's managed block (added by hand).
    #[arg(long)]
    unmanaged: bool,
    /// Only keys that are not in the registry.
    #[arg(long)]
    unknown: bool,
    /// Print the whole report as CSV (the server's, one column per field) instead of a table.
    #[arg(long, conflicts_with = "output")]
    csv: bool,
    #[command(flatten)]
    output: OutputArg,
}

/// One row of the report (the fields the table shows).
#[derive(Debug, Deserialize)]
struct Entry {
    platform_name: String,
    login_user: String,
    line: u64,
    fingerprint: String,
    key_name: String,
    owner: Option<String>,
    managed: bool,
}

pub async fn access(args: AccessArgs) -> anyhow::Result<()> {
    let mut api = Api::open(&args.connection)?;
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(name) = &args.platform {
        let id = platform_id(&mut api, "--platform", name, Naming::ExactOrPrefix).await?;
        query.push(("platform_id", id));
    }
    if let Some(name) = &args.key {
        let id = key_id(&mut api, "--key", name, Naming::ExactOrPrefix).await?;
        query.push(("key_id", id));
    }
    for (field, value) in [("owner", &args.owner), ("tag", &args.tag)] {
        if let Some(value) = value {
            query.push((field, value.clone()));
        }
    }
    if args.managed || args.unmanaged {
        query.push(("managed", args.managed.to_string()));
    }
    if args.unknown {
        query.push(("unknown", "true".into()));
    }
    if args.csv {
        query.push(("format", "csv".into()));
    }
    let path = with_query("/api/access", &query)?;
    if args.csv {
        let csv = api.get_text(&path).await?;
        // A closed pipe (`testum access --csv | head`) is not an error worth reporting.
        let _ = std::io::stdout().lock().write_all(csv.as_bytes());
        return Ok(());
    }
    let entries: Vec<Value> = api.list_all(&path).await?;
    let header = [
        "PLATFORM",
        "USER",
        "LINE",
        "KEY",
        "OWNER",
        "MANAGED",
        "FINGERPRINT",
    ];
    print_items(args.output.output, entries, &header, |e: Entry| {
        vec![
            e.platform_name,
            e.login_user,
            e.line.to_string(),
            e.key_name,
            e.owner.unwrap_or_else(|| "-".into()),
            if e.managed { "yes" } else { "no" }.to_string(),
            e.fingerprint,
        ]
    })?;
    Ok(())
}
