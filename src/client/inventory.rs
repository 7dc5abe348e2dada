//! `testum keys` and `testum platforms`: list, register, change and delete (and `keys replace`,
//! which follows a task, in [`super::tasks`]), and the name lookups every command uses (the API
//! takes ids; people type names, prefixes, fingerprints and tags: see [`super::resolve`]).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{ArgGroup, Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Api, Refused, with_query};
use super::output::{OutputArg, print_items};
use super::resolve::{Named, Naming, pick};
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
    List(OutputArg),
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
        /// The key to take off (its whole name or its fingerprint).
        old: String,
        /// The key that takes its place (its whole name or its fingerprint).
        new: String,
    },
    /// Delete a key from the registry. Refused while it is assigned to a platform: revoke it
    /// first (`testum revoke --key KEY --selector all`, or `--owner`).
    Delete {
        /// Its whole name or its `SHA256:` fingerprint.
        key: String,
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
    /// Change some fields of a platform (only those given change; its credential only with
    /// `--private-key-file` or `--set-password`).
    Edit(Box<EditPlatform>),
    /// Delete a platform. Refused while keys are assigned to it (revoke them first), unless
    /// `--forget-keys` (for a host that is gone: the keys testum put there stay there).
    Delete {
        /// Its whole name.
        platform: String,
        /// Delete even while keys are assigned.
        #[arg(long)]
        forget_keys: bool,
    },
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
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
struct AddPlatform {
    /// Name of the platform in testum.
    #[arg(long)]
    name: String,
    /// Host name or IP address.
    #[arg(long)]
    host: String,
    /// SSH port (1 to 65535).
    #[arg(long, default_value_t = 22, value_parser = clap::value_parser!(u16).range(1..))]
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

/// `testum platforms edit` arguments: only the fields given change.
#[derive(Debug, Args)]
struct EditPlatform {
    /// The platform: its whole name.
    platform: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// Host name or IP address.
    #[arg(long)]
    host: Option<String>,
    /// SSH port (1 to 65535).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Login user on the host.
    #[arg(long)]
    username: Option<String>,
    /// The platform's tags become these (repeat for several; `--tag ''` alone clears them).
    #[arg(long = "tag", conflicts_with_all = ["add_tags", "remove_tags"])]
    tags: Vec<String>,
    /// Add a tag (repeat for several).
    #[arg(long = "add-tag")]
    add_tags: Vec<String>,
    /// Remove a tag (repeat for several).
    #[arg(long = "remove-tag")]
    remove_tags: Vec<String>,
    /// Host-key policy: `tofu` or `strict` (strict needs a pinned host key).
    #[arg(long)]
    host_key_policy: Option<String>,
    /// Path of authorized_keys on the host.
    #[arg(long)]
    authorized_keys_path: Option<String>,
    /// Exclusive mode: syncs also remove key lines outside testum's block (`true` or `false`).
    #[arg(long)]
    exclusive: Option<bool>,
    /// Log in with this private key from now on (PEM or OpenSSH text).
    #[arg(long, conflicts_with = "set_password")]
    private_key_file: Option<PathBuf>,
    /// Passphrase of that private key. Prefer the environment variable.
    #[arg(long, env = "TESTUM_PLATFORM_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<Secret>,
    /// Log in with a new password from now on: from TESTUM_PLATFORM_PASSWORD, else a prompt.
    #[arg(long)]
    set_password: bool,
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
#[derive(Debug, Clone, Deserialize)]
struct Platform {
    id: String,
    name: String,
    host: String,
    port: u16,
    username: String,
    tags: Vec<String>,
    host_key_fingerprint: Option<String>,
    /// The other key the host presented when a connection was refused (absent from older
    /// servers).
    #[serde(default)]
    host_key_presented: Option<PresentedHostKey>,
}

/// `host_key_presented` of a platform.
#[derive(Debug, Clone, Deserialize)]
struct PresentedHostKey {
    fingerprint: String,
}

/// The HOST KEY column: the pin, `-` for none, or `CHANGED ...` while the host presents another
/// key that nobody trusted yet.
fn host_key_cell(p: &Platform) -> String {
    match (&p.host_key_presented, &p.host_key_fingerprint) {
        (Some(presented), _) => format!(
            "CHANGED: presents {} (testum host-key trust {})",
            presented.fingerprint, p.name
        ),
        (None, Some(pin)) => pin.clone(),
        (None, None) => "-".into(),
    }
}

impl Named for Key {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn fingerprint(&self) -> Option<&str> {
        Some(&self.fingerprint)
    }
}

impl Named for Platform {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// `testum keys ...`; whether it succeeded (`replace`: on every platform).
pub async fn keys(args: KeysArgs) -> anyhow::Result<bool> {
    let mut api = Api::open(&args.connection)?;
    match args.command {
        KeysCommand::List(output) => {
            let keys: Vec<Value> = api.list_all("/api/keys").await?;
            print_items(
                output.output,
                keys,
                &["NAME", "TYPE", "BITS", "FINGERPRINT", "COMMENT"],
                |k: Key| {
                    vec![
                        k.name,
                        k.key_type,
                        k.bits.to_string(),
                        k.fingerprint,
                        k.comment.unwrap_or_default(),
                    ]
                },
            )?;
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
        KeysCommand::Delete { key } => {
            let keys: Vec<Key> = api.list_all("/api/keys").await?;
            let key = pick("keys delete", "key", &keys, &key, Naming::Exact)?;
            api.delete(&format!("/api/keys/{}", key.id)).await?;
            println!("deleted key {} {}", key.name, key.fingerprint);
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
            let mut query = Vec::new();
            if let Some(text) = &list.selector {
                query.push(("selector", super::tasks::parse_selector(text)?.to_string()));
            }
            let path = with_query("/api/platforms", &query)?;
            let platforms: Vec<Value> = api.list_all(&path).await?;
            print_items(
                list.output.output,
                platforms,
                &["NAME", "ADDRESS", "USER", "TAGS", "HOST KEY"],
                |p: Platform| {
                    let host_key = host_key_cell(&p);
                    vec![
                        p.name,
                        format!("{}:{}", p.host, p.port),
                        p.username,
                        p.tags.join(","),
                        host_key,
                    ]
                },
            )?;
        }
        PlatformsCommand::Add(add) => {
            let body = platform_body(*add)?;
            let platform: Platform = api.post("/api/platforms", &body).await?;
            println!(
                "added platform {} ({}@{}:{})",
                platform.name, platform.username, platform.host, platform.port
            );
        }
        PlatformsCommand::Edit(edit) => {
            let platform =
                find_platform(&mut api, "platforms edit", &edit.platform, Naming::Exact).await?;
            let body = patch_body(*edit, &platform)?;
            let updated: Platform = api
                .patch(&format!("/api/platforms/{}", platform.id), &body)
                .await?;
            println!(
                "updated platform {} ({}@{}:{}, tags: {})",
                updated.name,
                updated.username,
                updated.host,
                updated.port,
                if updated.tags.is_empty() {
                    "none".to_string()
                } else {
                    updated.tags.join(",")
                }
            );
        }
        PlatformsCommand::Delete {
            platform,
            forget_keys,
        } => {
            let platform =
                find_platform(&mut api, "platforms delete", &platform, Naming::Exact).await?;
            let query = if forget_keys { "?forget_keys=true" } else { "" };
            let deleted = api
                .delete(&format!("/api/platforms/{}{query}", platform.id))
                .await;
            if let Err(e) = &deleted
                && e.downcast_ref::<Refused>().is_some_and(|r| r.status == 409)
            {
                bail!(
                    "platforms delete: {0} still has keys assigned: revoke them first \
                     (testum revoke --platform {0} --key ...), or for a host that is gone give \
                     --forget-keys (the keys stay on it) (HTTP 409)",
                    platform.name
                );
            }
            deleted?;
            println!("deleted platform {}", platform.name);
        }
        PlatformsCommand::Import(args) => return super::import::platforms(&mut api, *args).await,
    }
    Ok(true)
}

/// The id of the platform `text` names ([`pick`]: its name, or with
/// [`Naming::ExactOrPrefix`] a unique prefix of it); `field` (the flag or command) words the
/// errors.
pub async fn platform_id(
    api: &mut Api,
    field: &str,
    text: &str,
    naming: Naming,
) -> anyhow::Result<String> {
    Ok(find_platform(api, field, text, naming).await?.id)
}

/// The platform `text` names ([`pick`]); `field` words the errors.
async fn find_platform(
    api: &mut Api,
    field: &str,
    text: &str,
    naming: Naming,
) -> anyhow::Result<Platform> {
    let platforms: Vec<Platform> = api.list_all("/api/platforms").await?;
    Ok(pick(field, "platform", &platforms, text, naming)?.clone())
}

/// The `POST /api/platforms` body; reads the private key file or the password.
fn platform_body(add: AddPlatform) -> anyhow::Result<Value> {
    let mut body = json!({
        "name": add.name, "host": add.host, "port": add.port, "username": add.username,
        "tags": add.tags,
    });
    let login = format!("{}@{}", add.username, add.host);
    set_credential(
        &mut body,
        add.private_key_file,
        add.passphrase,
        add.password,
        &login,
    )?;
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

/// The credential fields of a platform body: the private key of `private_key_file` (with
/// `passphrase`), else `password`, else a password prompted for `login` (`user@host`).
fn set_credential(
    body: &mut Value,
    private_key_file: Option<PathBuf>,
    passphrase: Option<Secret>,
    password: Option<Secret>,
    login: &str,
) -> anyhow::Result<()> {
    if let Some(path) = private_key_file {
        let key = std::fs::read_to_string(&path)
            .with_context(|| format!("--private-key-file: cannot read {}", path.display()))?;
        body["auth_method"] = json!("private_key");
        body["private_key"] = json!(key);
        if let Some(passphrase) = passphrase {
            body["private_key_passphrase"] = json!(passphrase.expose());
        }
        return Ok(());
    }
    let password = match password {
        Some(password) => password,
        None => Secret::new(
            rpassword::prompt_password(format!("Password of {login}: "))
                .context("cannot read the password (set TESTUM_PLATFORM_PASSWORD)")?,
        ),
    };
    body["auth_method"] = json!("password");
    body["password"] = json!(password.expose());
    Ok(())
}

/// The `PATCH /api/platforms/{id}` body of `edit` over `current`: only the fields given. A
/// usage error when none is.
fn patch_body(edit: EditPlatform, current: &Platform) -> anyhow::Result<Value> {
    let mut body = json!({});
    for (field, value) in [
        ("name", edit.name.map(Value::from)),
        ("host", edit.host.map(Value::from)),
        ("port", edit.port.map(Value::from)),
        ("username", edit.username.map(Value::from)),
        ("host_key_policy", edit.host_key_policy.map(Value::from)),
        (
            "authorized_keys_path",
            edit.authorized_keys_path.map(Value::from),
        ),
        ("exclusive", edit.exclusive.map(Value::from)),
    ] {
        if let Some(value) = value {
            body[field] = value;
        }
    }
    if !edit.tags.is_empty() {
        let tags: Vec<&String> = edit.tags.iter().filter(|t| !t.is_empty()).collect();
        body["tags"] = json!(tags);
    } else if !edit.add_tags.is_empty() || !edit.remove_tags.is_empty() {
        let mut tags: Vec<String> = current
            .tags
            .iter()
            .filter(|t| !edit.remove_tags.contains(t))
            .cloned()
            .collect();
        for tag in edit.add_tags {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        body["tags"] = json!(tags);
    }
    if edit.private_key_file.is_some() || edit.set_password {
        let password = std::env::var("TESTUM_PLATFORM_PASSWORD")
            .ok()
            .map(Secret::new);
        let login = format!("{}@{}", current.username, current.host);
        set_credential(
            &mut body,
            edit.private_key_file,
            edit.passphrase,
            password,
            &login,
        )?;
    }
    if body.as_object().is_none_or(|fields| fields.is_empty()) {
        return Err(UsageError("platforms edit: give at least one field to change".into()).into());
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

/// Ids of the platforms named `names` (each [`pick`]ed: a name or a unique prefix of one) or
/// tagged with one of `tags`, by name, each once. A name or tag that matches nothing is a
/// [`UsageError`].
pub async fn platform_ids(
    api: &mut Api,
    names: &[String],
    tags: &[String],
    naming: Naming,
) -> anyhow::Result<Vec<String>> {
    let platforms: Vec<Platform> = api.list_all("/api/platforms").await?;
    let mut ids = Vec::new();
    for name in names {
        ids.push(
            pick("--platform", "platform", &platforms, name, naming)?
                .id
                .clone(),
        );
    }
    for tag in tags {
        if !platforms.iter().any(|p| p.tags.contains(tag)) {
            return Err(UsageError(format!("--tag: no platform has tag {tag:?}")).into());
        }
    }
    let mut chosen: Vec<Platform> = platforms
        .into_iter()
        .filter(|p| ids.contains(&p.id) || p.tags.iter().any(|t| tags.contains(t)))
        .collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(chosen.into_iter().map(|p| p.id).collect())
}

/// The id of the key `text` names ([`pick`]); `field` (the flag or command) words the errors.
pub async fn key_id(
    api: &mut Api,
    field: &str,
    text: &str,
    naming: Naming,
) -> anyhow::Result<String> {
    let keys: Vec<Key> = api.list_all("/api/keys").await?;
    Ok(pick(field, "key", &keys, text, naming)?.id.clone())
}

/// Ids of the keys `names` name (each [`pick`]ed: a name, a unique prefix of one, or a
/// `SHA256:` fingerprint), in order; one that names no key, or several, is a [`UsageError`] that
/// starts with `field` (the flag or command the names came from).
pub async fn key_ids(
    api: &mut Api,
    field: &str,
    names: &[String],
    naming: Naming,
) -> anyhow::Result<Vec<String>> {
    let keys: Vec<Key> = api.list_all("/api/keys").await?;
    names
        .iter()
        .map(|name| Ok(pick(field, "key", &keys, name, naming)?.id.clone()))
        .collect()
}
