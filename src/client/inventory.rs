//! `testum keys` and `testum platforms`: list and register (and `keys replace`, which follows a
//! task, in [`super::tasks`]), and the name lookups the task commands use (the API takes ids;
//! people type names and tags).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{ArgGroup, Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::Api;
use super::{Connection, UsageError};
use crate::secret::Secret;

/// `testum keys` arguments.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List registered keys: name, type, bits, fingerprint, comment.
    List,
    /// Register a public key (OpenSSH one-line or RFC 4716) from a file or stdin (`-`).
    #[command(group(ArgGroup::new("source").required(true).args(["file", "stdin"])))]
    Add {
        /// Name of the key in testum.
        #[arg(long)]
        name: String,
        /// File holding the public key (`-` reads stdin).
        #[arg(long)]
        file: Option<PathBuf>,
        /// `-`: read the public key from stdin.
        #[arg(value_parser = ["-"])]
        stdin: Option<String>,
        /// Who the key belongs to.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Rotate a key: put NEW wherever OLD is assigned (with OLD's options) and take OLD off, in
    /// one write per platform; follow the task and say where OLD is still present.
    Replace {
        /// The key to take off (its name).
        old: String,
        /// The key that takes its place (its name).
        new: String,
    },
    /// Register every public key of authorized_keys or `.pub` files (comment as name; options
    /// in front of a key ignored): a dry run first, then the import when no line is refused.
    Import(super::import::ImportKeysArgs),
}

/// `testum platforms` arguments.
#[derive(Debug, Args)]
pub struct PlatformsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: PlatformsCommand,
}

#[derive(Debug, Subcommand)]
enum PlatformsCommand {
    /// List platforms: name, address, user, tags, pinned host key.
    List(ListPlatforms),
    /// Register a platform. It logs in with `--private-key-file`, else with a password from
    /// TESTUM_PLATFORM_PASSWORD or a prompt.
    Add(Box<AddPlatform>),
    /// Create or update platforms from a CSV, JSON, Ansible inventory or ssh config file: a dry
    /// run first, then the import when no row is refused; prints counts and the refused and
    /// updated rows.
    Import(Box<super::import::ImportPlatformsArgs>),
}

#[derive(Debug, Args)]
struct ListPlatforms {
    /// Only the platforms this selector matches, e.g. `--selector 'env=prod and name:web-*'`
    /// (see the README's "Selectors").
    #[arg(long, value_name = "EXPR")]
    selector: Option<String>,
}

#[derive(Debug, Args)]
struct AddPlatform {
    /// Name of the platform in testum.
    #[arg(long)]
    name: String,
    /// Host name or IP address.
    #[arg(long)]
    host: String,
    /// SSH port.
    #[arg(long, default_value_t = 22)]
    port: u16,
    /// Login user on the host.
    #[arg(long)]
    username: String,
    /// Private key to log in with (PEM or OpenSSH text).
    #[arg(long)]
    private_key_file: Option<PathBuf>,
    /// Passphrase of the private key. Prefer the environment variable.
    #[arg(long, env = "TESTUM_PLATFORM_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<Secret>,
    /// Login password (without --private-key-file). Prefer the environment variable or the
    /// prompt (flags show in `ps`).
    #[arg(long, env = "TESTUM_PLATFORM_PASSWORD", hide_env_values = true)]
    password: Option<Secret>,
    /// A tag (repeat for several).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Host-key policy: `tofu` (pin on first use) or `strict` (needs --host-key-fingerprint).
    #[arg(long)]
    host_key_policy: Option<String>,
    /// Host key fingerprint to pin up front (`SHA256:...`, as `ssh-keygen -lf` prints it).
    #[arg(long, requires = "host_key_type")]
    host_key_fingerprint: Option<String>,
    /// The algorithm of that host key (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...).
    #[arg(long, requires = "host_key_fingerprint")]
    host_key_type: Option<String>,
    /// Path of authorized_keys on the host (default: the server's, `~/.ssh/authorized_keys`).
    #[arg(long)]
    authorized_keys_path: Option<String>,
}

/// A key as the API lists it (the fields the CLI shows).
#[derive(Debug, Deserialize)]
struct Key {
    id: String,
    name: String,
    key_type: String,
    bits: u32,
    fingerprint: String,
    comment: Option<String>,
}

/// A platform as the API lists it (the fields the CLI shows).
#[derive(Debug, Deserialize)]
struct Platform {
    id: String,
    name: String,
    host: String,
    port: u16,
    username: String,
    tags: Vec<String>,
    host_key_fingerprint: Option<String>,
}

/// `testum keys ...`; whether it succeeded (`replace`: on every platform).
pub async fn keys(args: KeysArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    match args.command {
        KeysCommand::List => {
            let keys: Vec<Key> = api.list_all("/api/keys").await?;
            let rows = keys.iter().map(|k| {
                vec![
                    k.name.clone(),
                    k.key_type.clone(),
                    k.bits.to_string(),
                    k.fingerprint.clone(),
                    k.comment.clone().unwrap_or_default(),
                ]
            });
            print_table(&["NAME", "TYPE", "BITS", "FINGERPRINT", "COMMENT"], rows);
        }
        KeysCommand::Add {
            name, file, owner, ..
        } => {
            let public_key = read_input(file)?;
            let key: Key = api
                .post(
                    "/api/keys",
                    &json!({"name": name, "public_key": public_key, "owner": owner}),
                )
                .await?;
            println!(
                "added key {} {} {}",
                key.name, key.key_type, key.fingerprint
            );
        }
        KeysCommand::Replace { old, new } => {
            return super::tasks::replace(&mut api, &old, &new).await;
        }
        KeysCommand::Import(args) => return super::import::keys(&mut api, args).await,
    }
    Ok(true)
}

/// `testum platforms ...`; whether it succeeded (`import`: no row refused).
pub async fn platforms(args: PlatformsArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    match args.command {
        PlatformsCommand::List(list) => {
            let path = match &list.selector {
                Some(text) => {
                    let selector = super::tasks::parse_selector(text)?.to_string();
                    let query = serde_urlencoded::to_string([("selector", selector)])?;
                    format!("/api/platforms?{query}")
                }
                None => "/api/platforms".into(),
            };
            let platforms: Vec<Platform> = api.list_all(&path).await?;
            let rows = platforms.iter().map(|p| {
                vec![
                    p.name.clone(),
                    format!("{}:{}", p.host, p.port),
                    p.username.clone(),
                    p.tags.join(","),
                    p.host_key_fingerprint.clone().unwrap_or_else(|| "-".into()),
                ]
            });
            print_table(&["NAME", "ADDRESS", "USER", "TAGS", "HOST KEY"], rows);
        }
        PlatformsCommand::Add(add) => {
            let body = platform_body(*add)?;
            let platform: Platform = api.post("/api/platforms", &body).await?;
            println!(
                "added platform {} ({}@{}:{})",
                platform.name, platform.username, platform.host, platform.port
            );
        }
        PlatformsCommand::Import(args) => return super::import::platforms(&mut api, *args).await,
    }
    Ok(true)
}

/// The `POST /api/platforms` body; reads the private key file or the password.
fn platform_body(add: AddPlatform) -> anyhow::Result<Value> {
    let mut body = json!({
        "name": add.name, "host": add.host, "port": add.port, "username": add.username,
        "tags": add.tags,
    });
    if let Some(path) = add.private_key_file {
        let key = std::fs::read_to_string(&path)
            .with_context(|| format!("--private-key-file: cannot read {}", path.display()))?;
        body["auth_method"] = json!("private_key");
        body["private_key"] = json!(key);
        if let Some(passphrase) = add.passphrase {
            body["private_key_passphrase"] = json!(passphrase.expose());
        }
    } else {
        let password = match add.password {
            Some(password) => password,
            None => Secret::new(
                rpassword::prompt_password(format!("Password of {}@{}: ", add.username, add.host))
                    .context("cannot read the password (set TESTUM_PLATFORM_PASSWORD)")?,
            ),
        };
        body["auth_method"] = json!("password");
        body["password"] = json!(password.expose());
    }
    for (field, value) in [
        ("host_key_policy", add.host_key_policy),
        ("host_key_fingerprint", add.host_key_fingerprint),
        ("host_key_type", add.host_key_type),
        ("authorized_keys_path", add.authorized_keys_path),
    ] {
        if let Some(value) = value {
            body[field] = json!(value);
        }
    }
    Ok(body)
}

/// The text of `file`, or of stdin when `file` is `None` or `-`.
fn read_input(file: Option<PathBuf>) -> anyhow::Result<String> {
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("--file: cannot read {}", path.display())),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the key from stdin")?;
            Ok(text)
        }
    }
}

/// Ids of the platforms named `names` or tagged with one of `tags`, by name, each once.
/// A name or tag that matches nothing is a [`UsageError`].
pub async fn platform_ids(
    api: &mut Api,
    names: &[String],
    tags: &[String],
) -> anyhow::Result<Vec<String>> {
    let platforms: Vec<Platform> = api.list_all("/api/platforms").await?;
    for name in names {
        if !platforms.iter().any(|p| &p.name == name) {
            return Err(UsageError(format!("--platform: no platform named {name:?}")).into());
        }
    }
    for tag in tags {
        if !platforms.iter().any(|p| p.tags.contains(tag)) {
            return Err(UsageError(format!("--tag: no platform has tag {tag:?}")).into());
        }
    }
    let mut chosen: Vec<Platform> = platforms
        .into_iter()
        .filter(|p| names.contains(&p.name) || p.tags.iter().any(|t| tags.contains(t)))
        .collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(chosen.into_iter().map(|p| p.id).collect())
}

/// Ids of the keys named `names` (a key's name or its `SHA256:` fingerprint), in order; a name
/// that matches no key, or several, is a [`UsageError`] that starts with `field` (the flag or
/// command the names came from).
pub async fn key_ids(api: &mut Api, field: &str, names: &[String]) -> anyhow::Result<Vec<String>> {
    let keys: Vec<Key> = api.list_all("/api/keys").await?;
    names
        .iter()
        .map(|name| {
            let found: Vec<&Key> = keys
                .iter()
                .filter(|k| &k.name == name || &k.fingerprint == name)
                .collect();
            match found.as_slice() {
                [key] => Ok(key.id.clone()),
                [] => Err(UsageError(format!("{field}: no key named {name:?}")).into()),
                // Names need not be unique (an import names keys after their comments): never
                // guess whose key to write.
                several => Err(UsageError(format!(
                    "{field}: {} keys are named {name:?}; give the fingerprint of the one you mean: {}",
                    several.len(),
                    several
                        .iter()
                        .map(|k| k.fingerprint.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into()),
            }
        })
        .collect()
}

/// Print `rows` under `header` in columns padded to the widest cell.
pub fn print_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
