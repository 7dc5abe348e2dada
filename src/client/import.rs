//! `testum platforms import FILE` and `testum keys import FILE...`: a dry run first (the
//! server's verdict row by row), then, when no row is refused and `--dry-run` is not given, the
//! real import. Output: one summary line of counts, then only the rows worth reading (refused,
//! updated, with notes), never a line per created row, so a 1000-host inventory prints a few
//! lines. Exit status 1 when a row is refused (nothing is imported then).

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use serde_json::{Value, json};

use super::UsageError;
use super::api::Api;
use crate::import::{self, Format};
use crate::secret::Secret;

/// `testum platforms import` arguments.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("credential").args(["password_file", "private_key_file"])))]
pub struct ImportPlatformsArgs {
    /// The inventory file (`-` reads stdin): CSV, JSON, Ansible INI or YAML, or an ssh config.
    file: PathBuf,
    /// `csv`, `json`, `ansible_ini`, `ansible_yaml` or `ssh_config`. Default: from the file's
    /// extension (`.csv`, `.json`, `.ini`, `.yml`/`.yaml`, `.conf` or a file named `config`),
    /// else from its content.
    #[arg(long)]
    format: Option<String>,
    /// Login user for rows that name none.
    #[arg(long)]
    username: Option<String>,
    /// SSH port for rows that name none.
    #[arg(long)]
    port: Option<u16>,
    /// File holding the password new platforms log in with (one line).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Private key new platforms log in with (PEM or OpenSSH text).
    #[arg(long)]
    private_key_file: Option<PathBuf>,
    /// Passphrase of the private key. Prefer the environment variable.
    #[arg(long, env = "TESTUM_PLATFORM_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<Secret>,
    /// authorized_keys path of new platforms (default: `.ssh/authorized_keys`).
    #[arg(long)]
    authorized_keys_path: Option<String>,
    /// Only show what would be created, updated or refused.
    #[arg(long)]
    dry_run: bool,
}

/// `testum keys import` arguments.
#[derive(Debug, Args)]
pub struct ImportKeysArgs {
    /// authorized_keys or `.pub` files (`-` reads stdin); their keys are imported together.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Who the new keys belong to.
    #[arg(long)]
    owner: Option<String>,
    /// Only show what would be registered or refused.
    #[arg(long)]
    dry_run: bool,
}

/// Most detail lines printed; the rest is counted.
const SHOWN: usize = 200;

/// `testum platforms import`; whether no row was refused.
pub async fn platforms(api: &mut Api, args: ImportPlatformsArgs) -> anyhow::Result<bool> {
    let content = read(&args.file)?;
    let format = match &args.format {
        Some(word) => word
            .parse::<Format>()
            .map_err(|e| UsageError(format!("--format: {e}")))?,
        None => import::detect(args.file.to_str(), &content).ok_or_else(|| {
            UsageError(format!(
                "--format: cannot tell the format of {}; give --format csv|json|ansible_ini|\
                 ansible_yaml|ssh_config",
                args.file.display()
            ))
        })?,
    };
    let mut body = json!({"format": format.as_str(), "content": content});
    if let Some(username) = &args.username {
        body["username"] = json!(username);
    }
    if let Some(port) = args.port {
        body["port"] = json!(port);
    }
    if let Some(path) = &args.authorized_keys_path {
        body["authorized_keys_path"] = json!(path);
    }
    if let Some(path) = &args.password_file {
        let password = std::fs::read_to_string(path)
            .with_context(|| format!("--password-file: cannot read {}", path.display()))?;
        body["auth_method"] = json!("password");
        body["password"] = json!(password.trim_end_matches(['\r', '\n']));
    }
    if let Some(path) = &args.private_key_file {
        let key = std::fs::read_to_string(path)
            .with_context(|| format!("--private-key-file: cannot read {}", path.display()))?;
        body["auth_method"] = json!("private_key");
        body["private_key"] = json!(key);
        if let Some(passphrase) = &args.passphrase {
            body["private_key_passphrase"] = json!(passphrase.expose());
        }
    }
    body["dry_run"] = json!(true);
    let preview: Value = api.post("/api/platforms/import", &body).await?;
    let refused = preview["refused"].as_u64().unwrap_or(0);
    let real = !args.dry_run && refused == 0;
    let answer = if real {
        body["dry_run"] = json!(false);
        api.post("/api/platforms/import", &body)
            .await
            .map_err(
                |e| match e.to_string().contains("auth_method: is required") {
                    true => e.context("new platforms need --password-file or --private-key-file"),
                    false => e,
                },
            )?
    } else {
        preview
    };
    let n = |field: &str| answer[field].as_u64().unwrap_or(0);
    let (created, updated) = if real {
        ("created", "updated")
    } else {
        ("to create", "to update")
    };
    println!(
        "{}{} {created}, {} {updated}, {} unchanged, {} refused ({})",
        if real { "" } else { "dry run: " },
        n("created"),
        n("updated"),
        n("unchanged"),
        n("refused"),
        format.as_str()
    );
    let mut shown = 0;
    let mut hidden = 0;
    for row in answer["results"].as_array().into_iter().flatten() {
        let detail = match row["action"].as_str() {
            Some("refused") => row["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            Some("update") => row["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            _ => continue,
        };
        if shown == SHOWN {
            hidden += 1;
            continue;
        }
        shown += 1;
        println!(
            "line {}  {}  {}  {detail}",
            row["line"],
            row["name"].as_str().unwrap_or(""),
            row["action"].as_str().unwrap_or("")
        );
    }
    if hidden > 0 {
        println!("... and {hidden} more rows refused or updated");
    }
    for note in answer["notes"].as_array().into_iter().flatten() {
        let message = note["message"].as_str().unwrap_or("");
        match note["line"].as_u64() {
            Some(0) | None => println!("note: {message}"),
            Some(line) => println!("note: line {line}: {message}"),
        }
    }
    if refused > 0 && !args.dry_run {
        eprintln!("testum: {refused} row(s) refused; nothing was imported");
    }
    Ok(refused == 0)
}

/// `testum keys import`; whether no line was refused.
pub async fn keys(api: &mut Api, args: ImportKeysArgs) -> anyhow::Result<bool> {
    // The files' texts joined; each file's first line in the joined text, to name lines.
    let mut content = String::new();
    let mut starts: Vec<(usize, String)> = Vec::new();
    for file in &args.files {
        let text = read(file)?;
        starts.push((content.lines().count() + 1, file.display().to_string()));
        content.push_str(&text);
        if !content.ends_with('\n') {
            content.push('\n');
        }
    }
    let mut body = json!({"content": content, "owner": args.owner, "dry_run": true});
    let preview: Value = api.post("/api/keys/import", &body).await?;
    let refused = preview["refused"].as_u64().unwrap_or(0);
    let real = !args.dry_run && refused == 0;
    let answer = if real {
        body["dry_run"] = json!(false);
        api.post("/api/keys/import", &body).await?
    } else {
        preview
    };
    let n = |field: &str| answer[field].as_u64().unwrap_or(0);
    println!(
        "{}{} {}, {} already registered, {} refused, {} blank or comment lines",
        if real { "" } else { "dry run: " },
        n("created"),
        if real { "registered" } else { "to register" },
        n("exists"),
        n("refused"),
        n("skipped")
    );
    let place = |line: u64| {
        let line = usize::try_from(line).unwrap_or(0);
        match starts.iter().rev().find(|(start, _)| *start <= line) {
            Some((start, file)) if args.files.len() > 1 => format!("{file}:{}", line - start + 1),
            _ => format!("line {line}"),
        }
    };
    for (shown, row) in answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "refused" || r["note"].is_string())
        .enumerate()
    {
        if shown == SHOWN {
            println!("... and more");
            break;
        }
        let what = match (&row["error"], &row["note"]) {
            (Value::String(error), _) => error.clone(),
            (_, Value::String(note)) => format!(
                "{} {}: {note}",
                row["action"].as_str().unwrap_or(""),
                row["name"].as_str().unwrap_or("")
            ),
            _ => String::new(),
        };
        println!(
            "{}  {}  {what}",
            place(row["line"].as_u64().unwrap_or(0)),
            row["action"].as_str().unwrap_or("")
        );
    }
    if refused > 0 && !args.dry_run {
        eprintln!("testum: {refused} line(s) refused; nothing was imported");
    }
    Ok(refused == 0)
}

/// The text of `path`, or of stdin for `-`.
fn read(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
