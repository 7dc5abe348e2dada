//! `testum host-key trust`: re-trust a platform's host key after a legitimate change (a
//! reinstalled host), through `POST /api/platforms/{id}/host_key/trust`: pin the fingerprint
//! given, or clear the pin so the next connection pins what it sees (refused by the server under
//! the `strict` policy). The audit log keeps the old and the new fingerprint.

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::Connection;
use super::api::Api;
use super::inventory::platform_id;
use super::resolve::Naming;

/// `testum host-key` arguments.
#[derive(Debug, Args)]
pub struct HostKeyArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: HostKeyCommand,
}

#[derive(Debug, Subcommand)]
enum HostKeyCommand {
    /// Trust a platform's new host key: pin `--fingerprint` (with `--type`), or without them
    /// clear the pin so the next connection pins what it sees (not under `strict`). Check the
    /// new key out of band first (`ssh-keyscan HOST | ssh-keygen -lf -` on a trusted path).
    Trust {
        /// The platform: its name (whole: this changes what it trusts).
        platform: String,
        /// The fingerprint to pin, `SHA256:...` as `ssh-keygen -lf` prints it.
        #[arg(long, requires = "key_type")]
        fingerprint: Option<String>,
        /// The algorithm of that key: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
        #[arg(long = "type", requires = "fingerprint")]
        key_type: Option<String>,
    },
}

/// The pin of a platform, as the API answers.
#[derive(Debug, Deserialize)]
struct Pinned {
    name: String,
    host_key_fingerprint: Option<String>,
    host_key_type: Option<String>,
}

/// `testum host-key ...`.
pub async fn host_key(args: HostKeyArgs) -> anyhow::Result<()> {
    let mut api = Api::open(&args.connection)?;
    let HostKeyCommand::Trust {
        platform,
        fingerprint,
        key_type,
    } = args.command;
    let id = platform_id(&mut api, "host-key trust", &platform, Naming::Exact).await?;
    let before: Pinned = api.get(&format!("/api/platforms/{id}")).await?;
    let body = match (&fingerprint, &key_type) {
        (Some(fingerprint), Some(key_type)) => {
            json!({"host_key_fingerprint": fingerprint, "host_key_type": key_type})
        }
        _ => json!({}),
    };
    let after: Pinned = api
        .post(&format!("/api/platforms/{id}/host_key/trust"), &body)
        .await?;
    let was = pin(&before);
    match after.host_key_fingerprint {
        Some(_) => println!(
            "{}: host key pinned to {} (was {was})",
            after.name,
            pin(&after)
        ),
        None => println!(
            "{}: host key pin cleared (was {was}); the next connection pins the key it sees",
            after.name
        ),
    }
    Ok(())
}

/// `ssh-ed25519 SHA256:...`, or `none`.
fn pin(platform: &Pinned) -> String {
    match (&platform.host_key_type, &platform.host_key_fingerprint) {
        (Some(key_type), Some(fingerprint)) => format!("{key_type} {fingerprint}"),
        (None, Some(fingerprint)) => fingerprint.clone(),
        (_, None) => "none".into(),
    }
}
