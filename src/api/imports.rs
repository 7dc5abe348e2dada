//! `POST /api/platforms/import` and `POST /api/keys/import`: many platforms or keys in one
//! request, previewed row by row with `dry_run`, written in one transaction or not at all.
//!
//! Platforms: the rows of [`crate::import`] (CSV, JSON, Ansible INI/YAML, ssh_config). A row
//! whose name is a platform already registered updates it (host, port, username, and tags when
//! the file carries tags) and keeps its credential; a new name creates a platform with the
//! batch's credential, host-key policy and authorized_keys path. A field a row does not give
//! comes from the batch default (`username`, `port`), else stays as it is (updates), else is 22
//! (port of a new platform); a new platform without any username is refused.
//!
//! Keys: [`crate::import::key_lines`]; a key whose fingerprint is registered already `exists`.
//!
//! A real run with any refused row answers 422 problem+json naming each `rows[LINE].field`
//! (`lines[LINE]` for keys) and writes nothing; a dry run answers 200 with the same verdicts.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::{ApiError, Errors, FieldError, Problem};
use super::extract::ApiJson;
use super::platforms::{credential, host_key_policy};
use crate::import::{self, Format, Note, Row, RowError, key_lines};
use crate::secret::Secret;
use crate::ssh::{Credential, HostKeyPolicy};
use crate::store::{ImportTarget, ImportUpdate, NewKey, NewPlatform, PlatformImport, StoreError};
use crate::validate;

/// `POST /api/platforms/import` body. Secrets are write-only: no answer contains them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportPlatforms {
    /// `csv`, `json`, `ansible_ini`, `ansible_yaml` or `ssh_config`; absent: guessed from the
    /// content.
    #[serde(default)]
    format: Option<String>,
    /// The file's text (the request body is at most 1 MiB).
    content: String,
    /// Login user for rows that name none.
    #[serde(default)]
    username: Option<String>,
    /// SSH port for rows that name none (new platforms default to 22).
    #[serde(default)]
    port: Option<i64>,
    /// `password` or `private_key`: the credential of every platform the import creates
    /// (required in a real run that creates any; updated platforms keep theirs).
    #[serde(default)]
    auth_method: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key: Option<Secret>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    private_key_passphrase: Option<Secret>,
    /// `tofu` (default) for new platforms; `strict` is refused (pin keys with
    /// `POST /api/known_hosts` after the import, then switch).
    #[serde(default)]
    host_key_policy: Option<String>,
    /// authorized_keys path of new platforms (default `.ssh/authorized_keys`).
    #[serde(default)]
    authorized_keys_path: Option<String>,
    /// `true`: only say what would happen.
    #[serde(default)]
    dry_run: bool,
}

crate::words! {
    /// What an import does (or would do) with a platform row.
    pub enum PlatformAction {
        Create => "create",
        Update => "update",
        Unchanged => "unchanged",
        Refused => "refused",
    }
}

/// One row's verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlatformRowResult {
    /// Line of the file where the row starts (JSON: position in the list).
    pub line: usize,
    pub name: String,
    pub action: PlatformAction,
    /// With `update`: the fields that change (`host`, `port`, `username`, `tags`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<&'static str>,
    /// With `refused`: why, as `rows[LINE].field` (`rows[LINE]` for the whole row).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// `POST /api/platforms/import` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportPlatformsResult {
    pub dry_run: bool,
    pub format: Format,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub refused: usize,
    /// One per row, in file order.
    pub results: Vec<PlatformRowResult>,
    /// What was read but not used (skipped `Match` blocks, ignored fields, ...).
    pub notes: Vec<Note>,
}

/// The batch values rows fall back on.
struct Defaults {
    username: Option<String>,
    port: Option<u16>,
    authorized_keys_path: String,
}

/// A row's verdict with what to write.
struct Planned {
    result: PlatformRowResult,
    create: Option<Row>,
    update: Option<ImportUpdate>,
}

/// `(host, port, username, authorized_keys path)`: the file a platform manages.
type FileKey = (String, u16, String, String);

/// `POST /api/platforms/import`: create or update platforms from a file (see the module
/// documentation).
#[utoipa::path(
    post,
    path = "/api/platforms/import",
    tag = "platforms",
    request_body = ImportPlatforms,
    responses(
        (status = 200, description = "Imported (or, with dry_run, what would be), row by row", body = ImportPlatformsResult),
        (status = 409, description = "A platform was created, renamed or deleted meanwhile; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or a row is refused (`rows[LINE].field`); nothing was written", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn platforms(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<ImportPlatforms>,
) -> Result<Json<ImportPlatformsResult>, ApiError> {
    let mut errors = Errors::default();
    let format = match body.format.as_deref().filter(|f| !f.is_empty()) {
        Some(word) => errors.check("format", word.parse::<Format>()),
        None => {
            let guessed = import::detect(None, &body.content);
            if guessed.is_none() && !body.content.trim().is_empty() {
                errors.add(
                    "format",
                    "is required: the content's format is not recognisable (csv, json, \
                     ansible_ini, ansible_yaml, ssh_config)",
                );
            }
            guessed
        }
    };
    if body.content.trim().is_empty() {
        errors.add("content", "is empty");
    }
    let username = match body
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        Some(u) => errors.check("username", validate::username(u)),
        None => None,
    };
    let port = match body.port {
        Some(p) => errors.check("port", validate::port(p)),
        None => None,
    };
    let policy = host_key_policy(
        &mut errors,
        body.host_key_policy.as_deref().unwrap_or("tofu"),
    );
    if policy == Some(HostKeyPolicy::Strict) {
        errors.add(
            "host_key_policy",
            "strict needs each host's key pinned up front; import under tofu, pin the keys with \
             POST /api/known_hosts (ssh-keyscan output), then switch the platforms to strict",
        );
    }
    let path = errors.check(
        "authorized_keys_path",
        validate::authorized_keys_path(
            body.authorized_keys_path
                .as_deref()
                .unwrap_or(validate::DEFAULT_AUTHORIZED_KEYS_PATH),
        ),
    );
    let batch_credential = match body.auth_method.as_deref() {
        Some(method) => {
            credential(
                &mut errors,
                method,
                body.password,
                body.private_key,
                body.private_key_passphrase,
            )
            .await
        }
        None => {
            if body.password.is_some() || body.private_key.is_some() {
                errors.add("auth_method", "is required with a password or private key");
            }
            None
        }
    };
    errors.finish()?;
    let (Some(format), Some(policy), Some(path)) = (format, policy, path) else {
        return Err(ApiError::internal("validated values missing"));
    };
    let content = body.content;
    let parsed = tokio::task::spawn_blocking(move || import::parse(format, &content))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::field("content", e.to_string()))?;
    if parsed.rows.is_empty() {
        return Err(ApiError::field(
            "content",
            format!("holds no platform ({} format)", format.as_str()),
        ));
    }
    let defaults = Defaults {
        username,
        port,
        authorized_keys_path: path,
    };
    let names: Vec<String> = parsed
        .rows
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.name.clone()))
        .collect();
    let existing = state.store.platforms_named(&names).await?;
    let mut hosts: Vec<String> = parsed
        .rows
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.host.clone()))
        .collect();
    hosts.sort();
    hosts.dedup();
    let on_hosts = state.store.platforms_on_hosts(&hosts).await?;
    let planned = plan(parsed.rows, &defaults, &existing, &on_hosts);
    let mut notes = parsed.notes;
    let creates = planned.iter().filter(|p| p.create.is_some()).count();
    if creates > 0 && batch_credential.is_none() {
        if !body.dry_run {
            return Err(ApiError::field(
                "auth_method",
                format!(
                    "is required: {creates} row(s) create platforms, which need a credential \
                     (auth_method with password or private_key)"
                ),
            ));
        }
        notes.push(Note {
            line: 0,
            message: format!(
                "the real import needs auth_method and its secret for the {creates} new \
                 platform(s)"
            ),
        });
    }
    let results: Vec<PlatformRowResult> = planned.iter().map(|p| p.result.clone()).collect();
    let count = |action: PlatformAction| results.iter().filter(|r| r.action == action).count();
    let answer = ImportPlatformsResult {
        dry_run: body.dry_run,
        format,
        created: count(PlatformAction::Create),
        updated: count(PlatformAction::Update),
        unchanged: count(PlatformAction::Unchanged),
        refused: count(PlatformAction::Refused),
        results,
        notes,
    };
    if body.dry_run {
        return Ok(Json(answer));
    }
    if answer.refused > 0 {
        return Err(refusal(
            answer.refused,
            answer.results.len(),
            "rows",
            answer.results.into_iter().flat_map(|r| r.errors).collect(),
        ));
    }
    let mut import = PlatformImport::default();
    for item in planned {
        if let Some(update) = item.update {
            import.update.push(update);
        }
        if let (Some(row), Some(credential)) = (item.create, &batch_credential) {
            import.create.push((
                new_platform(row, &defaults, policy, credential, &state),
                item.result.line,
            ));
        }
    }
    match state.store.import_platforms(&user.actor(), import).await {
        Ok(()) => Ok(Json(answer)),
        Err(StoreError::NotFound) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "a platform of this import was renamed or deleted meanwhile; nothing was written: \
             import again",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The new platform of `row` with the batch's settings and credential sealed for its id.
fn new_platform(
    row: Row,
    defaults: &Defaults,
    policy: HostKeyPolicy,
    credential: &Credential,
    state: &AppState,
) -> NewPlatform {
    let id = Uuid::new_v4();
    NewPlatform {
        id,
        name: row.name,
        host: row.host,
        port: row.port.or(defaults.port).unwrap_or(22),
        // `plan` refuses a new row without any username.
        username: row
            .username
            .or_else(|| defaults.username.clone())
            .unwrap_or_default(),
        auth_method: credential.method(),
        credential: crate::credential::seal(&state.master_key, id, credential),
        host_key_policy: policy,
        host_key_type: None,
        host_key_fingerprint: None,
        authorized_keys_path: defaults.authorized_keys_path.clone(),
        tags: row.tags.unwrap_or_default(),
        exclusive: false,
    }
}

/// The 422 of a real run with `refused` of `total` entries refused: every error, and a short
/// `detail` (a fleet's worth of errors is read from `errors`, not from one sentence).
fn refusal(refused: usize, total: usize, what: &str, errors: Vec<FieldError>) -> ApiError {
    let mut error = ApiError::invalid(errors);
    let first = error
        .errors
        .first()
        .map(|e| format!("; first: {}: {}", e.field, e.message))
        .unwrap_or_default();
    error.detail = format!("{refused} of {total} {what} refused; nothing was imported{first}");
    error
}

/// Each row's verdict against the platforms that exist: `existing` (same names) and `on_hosts`
/// (every platform on one of the rows' hosts, to keep two platforms off one file).
fn plan(
    rows: Vec<Result<Row, RowError>>,
    defaults: &Defaults,
    existing: &[ImportTarget],
    on_hosts: &[ImportTarget],
) -> Vec<Planned> {
    let by_name: HashMap<&str, &ImportTarget> =
        existing.iter().map(|p| (p.name.as_str(), p)).collect();
    let imported: HashSet<&str> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.name.as_str()))
        .collect();
    // Files of platforms this import leaves where they are.
    let mut files: HashMap<FileKey, String> = on_hosts
        .iter()
        .filter(|p| !imported.contains(p.name.as_str()))
        .map(|p| {
            (
                (
                    p.host.clone(),
                    p.port,
                    p.username.clone(),
                    p.authorized_keys_path.clone(),
                ),
                p.name.clone(),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let errors = field_errors(&e);
                out.push(refused(e.line, e.name.unwrap_or_default(), errors));
                continue;
            }
        };
        let current = by_name.get(row.name.as_str()).copied();
        let username = row
            .username
            .clone()
            .or_else(|| defaults.username.clone())
            .or_else(|| current.map(|c| c.username.clone()));
        let Some(username) = username else {
            out.push(refused(
                row.line,
                row.name,
                vec![FieldError {
                    field: format!("rows[{}].username", row.line),
                    message: "is required: the row names no user and the import gives no \
                              default username"
                        .into(),
                }],
            ));
            continue;
        };
        let port = row
            .port
            .or(defaults.port)
            .or(current.map(|c| c.port))
            .unwrap_or(22);
        let path = current.map_or(defaults.authorized_keys_path.clone(), |c| {
            c.authorized_keys_path.clone()
        });
        let file = (row.host.clone(), port, username.clone(), path.clone());
        if let Some(other) = files.get(&file) {
            out.push(refused(
                row.line,
                row.name,
                vec![FieldError {
                    field: format!("rows[{}].host", row.line),
                    message: format!(
                        "platform '{other}' already manages {path} of {username}@{}:{port}; two \
                         platforms on one file would overwrite each other's keys",
                        row.host
                    ),
                }],
            ));
            continue;
        }
        files.insert(file, row.name.clone());
        let line = row.line;
        let name = row.name.clone();
        match current {
            None => out.push(Planned {
                result: verdict(line, name, PlatformAction::Create, Vec::new()),
                create: Some(row),
                update: None,
            }),
            Some(current) => {
                let tags = row.tags.clone().unwrap_or_else(|| current.tags.clone());
                let mut changes = Vec::new();
                if row.host != current.host {
                    changes.push("host");
                }
                if port != current.port {
                    changes.push("port");
                }
                if username != current.username {
                    changes.push("username");
                }
                if tags != current.tags {
                    changes.push("tags");
                }
                if changes.is_empty() {
                    out.push(Planned {
                        result: verdict(line, name, PlatformAction::Unchanged, Vec::new()),
                        create: None,
                        update: None,
                    });
                } else {
                    out.push(Planned {
                        result: verdict(line, name.clone(), PlatformAction::Update, changes),
                        create: None,
                        update: Some(ImportUpdate {
                            id: current.id,
                            name,
                            host: row.host,
                            port,
                            username,
                            tags,
                            line,
                        }),
                    });
                }
            }
        }
    }
    out
}

fn verdict(
    line: usize,
    name: String,
    action: PlatformAction,
    changes: Vec<&'static str>,
) -> PlatformRowResult {
    PlatformRowResult {
        line,
        name,
        action,
        changes,
        errors: Vec::new(),
    }
}

fn refused(line: usize, name: String, errors: Vec<FieldError>) -> Planned {
    Planned {
        result: PlatformRowResult {
            errors,
            ..verdict(line, name, PlatformAction::Refused, Vec::new())
        },
        create: None,
        update: None,
    }
}

/// A parser's row error as API field errors `rows[LINE].field`.
fn field_errors(e: &RowError) -> Vec<FieldError> {
    e.errors
        .iter()
        .map(|f| FieldError {
            field: if f.field.is_empty() {
                format!("rows[{}]", e.line)
            } else {
                format!("rows[{}].{}", e.line, f.field)
            },
            message: f.message.clone(),
        })
        .collect()
}

/// `POST /api/keys/import` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKeys {
    /// An authorized_keys file, or `.pub` files concatenated.
    content: String,
    /// Owner of every key the import registers.
    #[serde(default)]
    owner: Option<String>,
    /// `true`: only say what would happen.
    #[serde(default)]
    dry_run: bool,
}

crate::words! {
    /// What an import does (or would do) with a key line.
    pub enum KeyAction {
        Create => "create",
        Exists => "exists",
        Refused => "refused",
    }
}

/// One key line's verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyLineResult {
    pub line: usize,
    pub action: KeyAction,
    /// The name the key gets (`create`) or has (`exists`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The registered key (`exists`, or `create` after a real run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    /// With `refused`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was ignored or noticed (options in front of the key, a repeated key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /api/keys/import` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportKeysResult {
    pub dry_run: bool,
    pub created: usize,
    pub exists: usize,
    pub refused: usize,
    /// Blank and comment lines.
    pub skipped: usize,
    /// One per key entry, in file order.
    pub results: Vec<KeyLineResult>,
}

/// `POST /api/keys/import`: register the public keys of an authorized_keys file or of
/// concatenated `.pub` files (see the module documentation).
#[utoipa::path(
    post,
    path = "/api/keys/import",
    tag = "keys",
    request_body = ImportKeys,
    responses(
        (status = 200, description = "Imported (or, with dry_run, what would be), line by line", body = ImportKeysResult),
        (status = 409, description = "A key was registered meanwhile; nothing was written", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, or a line is refused (`lines[LINE]`); nothing was written", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn keys(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    ApiJson(body): ApiJson<ImportKeys>,
) -> Result<Json<ImportKeysResult>, ApiError> {
    let mut errors = Errors::default();
    let owner = errors.check("owner", validate::optional_text(body.owner.as_deref()));
    let content = body.content;
    let read = tokio::task::spawn_blocking(move || key_lines::read(&content))
        .await
        .map_err(ApiError::internal)?;
    if read.entries.is_empty() {
        errors.add("content", "holds no public key");
    }
    errors.finish()?;
    let owner = owner.flatten();
    let fingerprints: Vec<String> = read
        .entries
        .iter()
        .filter_map(|e| e.key.as_ref().ok().map(|(k, _)| k.fingerprint.clone()))
        .collect();
    let registered: HashMap<String, (Uuid, String)> = state
        .store
        .keys_with_fingerprints(&fingerprints)
        .await?
        .into_iter()
        .map(|(fingerprint, id, name)| (fingerprint, (id, name)))
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut results = Vec::with_capacity(read.entries.len());
    let mut new_keys: Vec<(NewKey, usize)> = Vec::new();
    for entry in read.entries {
        let mut result = KeyLineResult {
            line: entry.line,
            action: KeyAction::Refused,
            name: None,
            fingerprint: None,
            key_id: None,
            error: None,
            note: entry.note,
        };
        match entry.key {
            Err(e) => result.error = Some(e.to_string()),
            Ok((key, name)) => {
                result.fingerprint = Some(key.fingerprint.clone());
                if let Some((id, existing)) = registered.get(&key.fingerprint) {
                    result.action = KeyAction::Exists;
                    result.key_id = Some(*id);
                    result.name = Some(existing.clone());
                } else if let Some(first) = seen.get(&key.fingerprint) {
                    result.action = KeyAction::Exists;
                    result.name = Some(name);
                    let repeated = format!("the same key as line {first}");
                    result.note = Some(match result.note {
                        Some(note) => format!("{note}; {repeated}"),
                        None => repeated,
                    });
                } else {
                    seen.insert(key.fingerprint.clone(), entry.line);
                    result.action = KeyAction::Create;
                    result.name = Some(name.clone());
                    new_keys.push((
                        NewKey {
                            name,
                            public_key: key.line,
                            key_type: key.key_type,
                            fingerprint: key.fingerprint,
                            bits: key.bits,
                            comment: key.comment,
                            owner: owner.clone(),
                            expires_at: None,
                        },
                        entry.line,
                    ));
                }
            }
        }
        results.push(result);
    }
    let count = |action: KeyAction| results.iter().filter(|r| r.action == action).count();
    let mut answer = ImportKeysResult {
        dry_run: body.dry_run,
        created: count(KeyAction::Create),
        exists: count(KeyAction::Exists),
        refused: count(KeyAction::Refused),
        skipped: read.skipped,
        results,
    };
    if body.dry_run {
        return Ok(Json(answer));
    }
    if answer.refused > 0 {
        let errors = answer
            .results
            .iter()
            .filter_map(|r| {
                Some(FieldError {
                    field: format!("lines[{}]", r.line),
                    message: r.error.clone()?,
                })
            })
            .collect();
        return Err(refusal(
            answer.refused,
            answer.results.len(),
            "lines",
            errors,
        ));
    }
    let ids = state.store.import_keys(&user.actor(), &new_keys).await?;
    let mut ids = ids.into_iter();
    for result in &mut answer.results {
        if result.action == KeyAction::Create {
            result.key_id = ids.next();
        }
    }
    Ok(Json(answer))
}
