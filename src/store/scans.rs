//! The latest scan of each platform's authorized_keys (`platform_scans`), the platform state it
//! gives, and the access report built from it (`access_entries`): who can log in where.
//!
//! A scan is recorded by a `scan` task and by every deploy or revoke (they read the file anyway),
//! so the state never lags behind a change testum made. A scan that could not read the file
//! (host unreachable, host key refused, read failed) changes the state and the error but keeps
//! the last lines, findings and access entries: they are the last known truth, with their time.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::{
    IN_LIST, Page, Store, StoreError, StoreResult, id_set, in_id_set, now_ts, parse_ts, parse_uuid,
    parse_word, placeholders, sql,
};
use crate::authorized_keys::{Finding, LineClass, ScannedLine};

/// Most lines, and most findings, of one file kept in `platform_scans` (access entries cover the
/// whole file; `lines_total` and `findings_total` count everything). A 16 MiB file of key lines
/// has about 40 000 lines.
pub const MAX_STORED_LINES: usize = 10_000;

/// Access entries inserted per statement ([`ENTRY_COLUMNS`] values each: well under SQLite's
/// 32 766 and PostgreSQL's 65 535 bound parameters).
const ENTRIES_PER_INSERT: usize = 500;
/// Values per access entry row.
const ENTRY_COLUMNS: usize = 9;

crate::words! {
    /// Where a platform stands, from its latest scan (DESIGN.md vocabulary).
    pub enum PlatformState {
        /// The file holds exactly what testum expects and nothing else grants access.
        InSync => "in_sync",
        /// The file differs from what testum expects (see the scan's findings).
        Drift => "drift",
        /// The last scan could not connect or log in.
        Unreachable => "unreachable",
        /// The host presented a host key other than the pinned one; testum refused to connect.
        HostKeyMismatch => "host_key_mismatch",
        /// The last scan connected but could not read the file (see its error).
        Error => "error",
        /// No scan yet.
        NeverScanned => "never_scanned",
    }
}

/// A registered key, as a scan names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub id: Uuid,
    pub name: String,
    pub owner: Option<String>,
}

/// The latest scan of one platform, as `GET /api/platforms/{id}/scan` returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlatformScan {
    pub platform_id: Uuid,
    pub state: PlatformState,
    /// When the scan ran (the last attempt, successful or not).
    pub scanned_at: DateTime<Utc>,
    /// The task that scanned (a `scan`, `deploy_keys` or `revoke_keys` task).
    pub task_id: Option<Uuid>,
    /// Why the last attempt could not read the file, for `unreachable`, `host_key_mismatch` and
    /// `error`; `lines` and `findings` are then those of the last successful read.
    pub error: Option<String>,
    /// The authorized_keys path that was read.
    pub path: Option<String>,
    /// Lines in the file; `lines` holds at most the first 10 000.
    pub lines_total: u64,
    pub lines: Vec<ScannedLine>,
    /// Findings of the scan; `findings` holds at most the first 10 000.
    pub findings_total: u64,
    pub findings: Vec<Finding>,
}

/// A successful read to record.
#[derive(Debug, Clone)]
pub struct ScanRecord<'a> {
    pub platform_id: Uuid,
    pub task_id: Option<Uuid>,
    pub path: &'a str,
    pub state: PlatformState,
    /// Every line of the file, annotated with the registry (`key_id`, `key_name`, `owner`);
    /// `managed` is true only for lines testum wrote.
    pub lines: &'a [ScannedLine],
    pub findings: &'a [Finding],
}

/// One row of the access report: a key that can log in to a platform (`GET /api/access`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessEntry {
    pub platform_id: Uuid,
    pub platform_name: String,
    /// The platform's login user (whose authorized_keys file is managed, unless the path is
    /// another user's absolute path).
    pub login_user: String,
    pub authorized_keys_path: String,
    /// 1-based line of the entry in the file.
    pub line: u64,
    /// `SHA256:...` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub key_type: String,
    pub bits: Option<u32>,
    /// The registered key with this fingerprint; `null` for an unknown key.
    pub key_id: Option<Uuid>,
    /// The registered key's name, or `unknown`.
    pub key_name: String,
    /// The registered key's owner; `null` when unknown or not set.
    pub owner: Option<String>,
    /// Inside testum's block.
    pub managed: bool,
    /// The line's options field as written, `null` for none.
    pub options: Option<String>,
    pub comment: Option<String>,
    /// When the line was read.
    pub scanned_at: DateTime<Utc>,
}

/// Filters of the access report; every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub platform_id: Option<Uuid>,
    pub tag: Option<String>,
    pub key_id: Option<Uuid>,
    /// Exact owner of the registered key.
    pub owner: Option<String>,
    pub managed: Option<bool>,
    /// `Some(true)`: only keys not in the registry; `Some(false)`: only registered ones.
    pub unknown: Option<bool>,
    /// Only these platforms (the ones a user may see); `None`: all.
    pub platforms: Option<Vec<Uuid>>,
}

/// Position in the access report (ordered by platform name, then line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessCursor {
    pub platform_name: String,
    pub line: u64,
}

impl AccessCursor {
    /// Opaque URL-safe form handed to clients.
    pub fn encode(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{}", self.line, self.platform_name))
    }

    /// Parse a client's cursor; `None` when it is not one of ours.
    pub fn decode(text: &str) -> Option<AccessCursor> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (line, name) = raw.split_once('|')?;
        Some(AccessCursor {
            platform_name: name.to_string(),
            line: line.parse().ok()?,
        })
    }
}

fn json_column<T: for<'de> Deserialize<'de>>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn scan_from_row(row: &AnyRow) -> StoreResult<PlatformScan> {
    let task_id: Option<String> = row.try_get("task_id")?;
    Ok(PlatformScan {
        platform_id: parse_uuid(row.try_get("platform_id")?)?,
        state: parse_word("state", row.try_get("state")?)?,
        scanned_at: parse_ts(row.try_get("scanned_at")?)?,
        task_id: task_id.as_deref().map(parse_uuid).transpose()?,
        error: row.try_get("error")?,
        path: row.try_get("path")?,
        lines_total: u64::try_from(row.try_get::<i64, _>("lines_total")?).unwrap_or(0),
        lines: json_column("lines", &row.try_get::<String, _>("lines")?)?,
        findings_total: u64::try_from(row.try_get::<i64, _>("findings_total")?).unwrap_or(0),
        findings: json_column("findings", &row.try_get::<String, _>("findings")?)?,
    })
}

fn access_from_row(row: &AnyRow) -> StoreResult<AccessEntry> {
    let key_id: Option<String> = row.try_get("key_id")?;
    let key_name: Option<String> = row.try_get("key_name")?;
    let bits: Option<i64> = row.try_get("bits")?;
    Ok(AccessEntry {
        platform_id: parse_uuid(row.try_get("platform_id")?)?,
        platform_name: row.try_get("platform_name")?,
        login_user: row.try_get("username")?,
        authorized_keys_path: row.try_get("authorized_keys_path")?,
        line: u64::try_from(row.try_get::<i64, _>("line_number")?).unwrap_or(0),
        fingerprint: row.try_get("fingerprint")?,
        key_type: row.try_get("key_type")?,
        bits: bits.and_then(|b| u32::try_from(b).ok()),
        key_id: key_id.as_deref().map(parse_uuid).transpose()?,
        key_name: key_name.unwrap_or_else(|| "unknown".into()),
        owner: row.try_get("owner")?,
        managed: row.try_get::<i64, _>("managed")? != 0,
        options: row.try_get("options")?,
        comment: row.try_get("comment")?,
        scanned_at: parse_ts(row.try_get("scanned_at")?)?,
    })
}

/// The options field of a scanned line as sshd reads it back (`name` or `name="value"`, with
/// `"` escaped), `None` without options.
fn options_field(line: &ScannedLine) -> Option<String> {
    if line.options.is_empty() {
        return None;
    }
    let parts: Vec<String> = line
        .options
        .iter()
        .map(|o| match &o.value {
            Some(v) => format!("{}=\"{}\"", o.name, v.replace('"', "\\\"")),
            None => o.name.clone(),
        })
        .collect();
    Some(parts.join(","))
}

impl Store {
    /// Registered keys whose fingerprint is one of `fingerprints`, by fingerprint. One query per
    /// 500 fingerprints.
    pub async fn keys_by_fingerprint(
        &self,
        fingerprints: &[String],
    ) -> StoreResult<HashMap<String, KeyRef>> {
        let mut unique: Vec<&String> = fingerprints.iter().collect();
        unique.sort();
        unique.dedup();
        let mut out = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT id, name, owner, fingerprint FROM keys WHERE fingerprint IN ({})",
                placeholders(chunk.len())
            )));
            for fingerprint in chunk {
                query = query.bind(fingerprint.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.insert(
                    row.try_get("fingerprint")?,
                    KeyRef {
                        id: parse_uuid(row.try_get("id")?)?,
                        name: row.try_get("name")?,
                        owner: row.try_get("owner")?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Record a successful read: the platform's scan row and its access entries are replaced
    /// in one transaction.
    pub async fn record_scan(&self, record: ScanRecord<'_>) -> StoreResult<()> {
        let now = now_ts();
        let platform = record.platform_id.to_string();
        let kept = &record.lines[..record.lines.len().min(MAX_STORED_LINES)];
        let lines = serde_json::to_string(kept).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let kept_findings = &record.findings[..record.findings.len().min(MAX_STORED_LINES)];
        let findings =
            serde_json::to_string(kept_findings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO platform_scans (platform_id, state, scanned_at, task_id, error, path,
                                         lines_total, lines, findings_total, findings)
             VALUES ($1, $2, $3, $4, NULL, $5, $6, $7, $9, $8)
             ON CONFLICT (platform_id) DO UPDATE SET state = $2, scanned_at = $3, task_id = $4,
                 error = NULL, path = $5, lines_total = $6, lines = $7, findings = $8,
                 findings_total = $9",
        )
        .bind(&platform)
        .bind(record.state.as_str())
        .bind(&now)
        .bind(record.task_id.map(|id| id.to_string()))
        .bind(record.path)
        .bind(i64::try_from(record.lines.len()).unwrap_or(i64::MAX))
        .bind(lines)
        .bind(findings)
        .bind(i64::try_from(record.findings.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM access_entries WHERE platform_id = $1")
            .bind(&platform)
            .execute(&mut *tx)
            .await?;
        let entries: Vec<&ScannedLine> = record
            .lines
            .iter()
            .filter(|l| l.class == LineClass::Entry && l.fingerprint.is_some())
            .collect();
        for chunk in entries.chunks(ENTRIES_PER_INSERT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let params: Vec<String> = (1..=ENTRY_COLUMNS)
                        .map(|c| format!("${}", i * ENTRY_COLUMNS + c))
                        .collect();
                    format!("({})", params.join(", "))
                })
                .collect();
            let mut query = sqlx::query(sql(format!(
                "INSERT INTO access_entries (platform_id, line_number, fingerprint, key_type, bits,
                     managed, options, comment, scanned_at) VALUES {}",
                rows.join(", ")
            )));
            for line in chunk {
                query = query
                    .bind(&platform)
                    .bind(i64::try_from(line.number).unwrap_or(i64::MAX))
                    .bind(line.fingerprint.clone())
                    .bind(line.key_type.clone().unwrap_or_default())
                    .bind(line.bits.map(i64::from))
                    .bind(i64::from(line.managed))
                    .bind(options_field(line))
                    .bind(line.comment.clone())
                    .bind(&now);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record a scan that could not read the file: the state and error change, the last lines,
    /// findings and access entries stay (they are the last known truth, with their time).
    pub async fn record_scan_failure(
        &self,
        platform_id: Uuid,
        task_id: Option<Uuid>,
        state: PlatformState,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO platform_scans (platform_id, state, scanned_at, task_id, error,
                                         lines_total, lines, findings)
             VALUES ($1, $2, $3, $4, $5, 0, '[]', '[]')
             ON CONFLICT (platform_id) DO UPDATE SET state = $2, scanned_at = $3, task_id = $4,
                 error = $5",
        )
        .bind(platform_id.to_string())
        .bind(state.as_str())
        .bind(now_ts())
        .bind(task_id.map(|id| id.to_string()))
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest scan of platform `id`, if it was ever scanned.
    pub async fn platform_scan(&self, id: Uuid) -> StoreResult<Option<PlatformScan>> {
        let row = sqlx::query(
            "SELECT platform_id, state, scanned_at, task_id, error, path, lines_total, lines,
                    findings_total, findings
             FROM platform_scans WHERE platform_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(mut scan) = row.as_ref().map(scan_from_row).transpose()? else {
            return Ok(None);
        };
        // The registry as it is now: a key registered (or deleted) since the scan is named (or
        // no longer named) at once, as in the access report.
        let fingerprints: Vec<String> = scan
            .lines
            .iter()
            .filter_map(|l| l.fingerprint.clone())
            .collect();
        let registry = self.keys_by_fingerprint(&fingerprints).await?;
        for line in &mut scan.lines {
            let key = line.fingerprint.as_ref().and_then(|f| registry.get(f));
            line.key_id = key.map(|k| k.id);
            line.key_name = key.map(|k| k.name.clone());
            line.owner = key.and_then(|k| k.owner.clone());
        }
        Ok(Some(scan))
    }

    /// One page of the access report: at most `limit` entries after `cursor`, ordered by
    /// platform name and line.
    pub async fn access_report(
        &self,
        filter: &AccessFilter,
        limit: u32,
        cursor: Option<&AccessCursor>,
    ) -> StoreResult<Page<AccessEntry>> {
        // `_` is a LIKE wildcard and may appear in a tag; tags never hold `"` or `%`.
        let tag = filter
            .tag
            .as_ref()
            .map(|t| format!("%\"{}\"%", t.replace('_', "\\_")));
        let rows = sqlx::query(sql(format!(
            "SELECT e.platform_id, p.name AS platform_name, p.username, p.authorized_keys_path,
                    e.line_number, e.fingerprint, e.key_type, e.bits, k.id AS key_id,
                    k.name AS key_name, k.owner, e.managed, e.options, e.comment, e.scanned_at
             FROM access_entries e
             JOIN platforms p ON p.id = e.platform_id
             LEFT JOIN keys k ON k.fingerprint = e.fingerprint
             WHERE ($1 IS NULL OR e.platform_id = $1)
               AND ($2 IS NULL OR p.tags LIKE $2 ESCAPE '\\')
               AND ($3 IS NULL OR k.id = $3)
               AND ($4 IS NULL OR k.owner = $4)
               AND ($5 IS NULL OR e.managed = $5)
               AND ($6 IS NULL OR ($6 = 1 AND k.id IS NULL) OR ($6 = 0 AND k.id IS NOT NULL))
               AND ($7 IS NULL OR p.name > $7 OR (p.name = $7 AND e.line_number > $8))
               AND {}
             ORDER BY p.name, e.line_number
             LIMIT $9",
            in_id_set(self.backend, "e.platform_id", 10)
        )))
        .bind(filter.platform_id.map(|id| id.to_string()))
        .bind(tag)
        .bind(filter.key_id.map(|id| id.to_string()))
        .bind(filter.owner.clone())
        .bind(filter.managed.map(i64::from))
        .bind(filter.unknown.map(i64::from))
        .bind(cursor.map(|c| c.platform_name.clone()))
        .bind(cursor.map_or(0, |c| i64::try_from(c.line).unwrap_or(i64::MAX)))
        .bind(i64::from(limit) + 1)
        .bind(id_set(filter.platforms.as_deref()))
        .fetch_all(&self.pool)
        .await?;
        let mut items: Vec<AccessEntry> = rows
            .iter()
            .map(access_from_row)
            .collect::<StoreResult<_>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| {
                AccessCursor {
                    platform_name: last.platform_name.clone(),
                    line: last.line,
                }
                .encode()
            })
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
