//! Platforms (the hosts testum manages), their encrypted credentials, pinned host keys and
//! assignments (the desired set of keys per platform).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::TaskKind;
use super::audit::{Deletion, delete_audited, insert as audit};
use super::scans::PlatformState;
use super::{
    Actor, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts,
    parse_opt_ts, parse_ts, parse_uuid, parse_word, sql, ts, unique_violation,
};
use crate::authorized_keys::KeyOptions;
use crate::ssh::{AuthMethod, HostKey, HostKeyPolicy};

/// A platform as the API returns it: never the credential, only `has_credential`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Platform {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    /// `password` or `private_key`.
    pub auth_method: AuthMethod,
    pub has_credential: bool,
    /// `tofu` or `strict`.
    pub host_key_policy: HostKeyPolicy,
    /// Algorithm of the pinned host key, once known.
    pub host_key_type: Option<String>,
    /// Pinned host key, `SHA256:...`, once known.
    pub host_key_fingerprint: Option<String>,
    /// The different host key the platform presented when a connection was last refused for a
    /// changed host key; `null` when none was refused since the pin was last set. An admin
    /// checks it on the host and pins it with `POST /api/platforms/{id}/host_key/trust`.
    pub host_key_presented: Option<PresentedHostKey>,
    pub authorized_keys_path: String,
    pub tags: Vec<String>,
    /// Exclusive mode: a sync also removes key lines outside testum's block (never the key
    /// testum logs in with).
    pub exclusive: bool,
    /// From the latest scan: `in_sync`, `drift`, `unreachable`, `host_key_mismatch`, `error` or
    /// `never_scanned`.
    pub state: PlatformState,
    /// When the latest scan ran; `null` when never scanned.
    pub scanned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A host key a platform presented that did not match its pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PresentedHostKey {
    /// Key type, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:...`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// When it was presented (the latest refused connection).
    pub seen_at: DateTime<Utc>,
}

/// A validated platform to create. `credential` is already encrypted (see [`crate::crypto`]) with
/// `id` as associated data, so the caller chooses the id.
#[derive(Debug, Clone)]
pub struct NewPlatform {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth_method: AuthMethod,
    pub credential: Vec<u8>,
    pub host_key_policy: HostKeyPolicy,
    pub host_key_type: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub authorized_keys_path: String,
    pub tags: Vec<String>,
    pub exclusive: bool,
}

/// Changes to a platform; `None` leaves a field alone. `credential` comes with `auth_method`,
/// already encrypted for this platform's id.
#[derive(Debug, Clone, Default)]
pub struct PlatformPatch {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub credential: Option<(AuthMethod, Vec<u8>)>,
    pub host_key_policy: Option<HostKeyPolicy>,
    pub authorized_keys_path: Option<String>,
    pub tags: Option<Vec<String>>,
    pub exclusive: Option<bool>,
}

crate::words! {
    /// Where an assignment stands with its platform (`assignments.sync_status`); decoded
    /// strictly, so a sync never guesses whether a key is wanted or being revoked.
    pub enum SyncStatus {
        /// Not synced yet.
        Pending => "pending",
        /// On the host after the last sync.
        Present => "present",
        /// The last sync failed (see `sync_error`).
        Failed => "failed",
        /// Being revoked: kept until a sync has really removed the key from the host, so a
        /// failed revoke never looks like a done one.
        Revoking => "revoking",
        /// Removed from the host because the key expired.
        Expired => "expired",
    }
}

/// What a sync of one platform must make true, read from its assignments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Keys that must be on the host: `(key id, one-line public key)`, in assignment order.
    pub keys: Vec<(Uuid, String)>,
    /// Keys being revoked: they must leave the host, then their assignments go.
    pub revoking: Vec<Uuid>,
    /// Assigned keys past their expiry: they must leave the host; their assignments stay.
    pub expired: Vec<Uuid>,
    /// The lines (as testum wrote them) of the keys in `revoking` and `expired`: until a sync
    /// has removed them, a scan finds them in the block as testum's, not as hand edits.
    pub leaving: Vec<String>,
}

/// One assignment as a sync reads it.
struct AssignedRow {
    key_id: Uuid,
    status: SyncStatus,
    public_key: String,
    /// The key's expiry as stored (comparable as text with [`ts`]).
    expires_at: Option<String>,
    /// The assignment's own expiry (its `expiry-time` option, see
    /// [`KeyOptions::expires_at`]), as stored.
    assignment_expires_at: Option<String>,
    /// The rendered options field, `None` for none.
    options: Option<String>,
}

/// The desired state at `now` of a platform with these assignments: each key's line is
/// `<options> <public key>` (just the key without options). A key past its own expiry or its
/// assignment's (`expiry-time`) is left out and listed in `expired`.
fn desired_of(rows: &[AssignedRow], now: DateTime<Utc>) -> DesiredState {
    let now = ts(now);
    let mut state = DesiredState::default();
    for row in rows {
        let line = match &row.options {
            Some(field) => format!("{field} {}", row.public_key),
            None => row.public_key.clone(),
        };
        if row.status == SyncStatus::Revoking {
            state.revoking.push(row.key_id);
            state.leaving.push(line);
        } else if [&row.expires_at, &row.assignment_expires_at]
            .into_iter()
            .flatten()
            .any(|at| *at <= now)
        {
            state.expired.push(row.key_id);
            state.leaving.push(line);
        } else {
            state.keys.push((row.key_id, line));
        }
    }
    state
}

/// An assignment's stored options field as the object the API shows.
fn parse_stored_options(field: Option<String>) -> StoreResult<KeyOptions> {
    match field {
        None => Ok(KeyOptions::default()),
        Some(field) => KeyOptions::parse(&field)
            .map_err(|e| StoreError::Corrupt(format!("assignment options: {e}"))),
    }
}

/// What [`Store::pin_host_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinOutcome {
    /// Pinned now; `shared_with` names other platforms that pinned the same key.
    Pinned { shared_with: Vec<String> },
    /// A pin was there already (compare it with the presented key).
    AlreadyPinned(PinnedHostKey),
}

/// A host key pinned on a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedHostKey {
    pub key_type: Option<String>,
    pub fingerprint: String,
}

/// One key assigned to a platform, with the result of the last sync that concerned it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    pub key_id: Uuid,
    pub name: String,
    pub fingerprint: String,
    pub key_type: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub assigned_at: DateTime<Utc>,
    /// `pending` (not synced yet), `present` (on the host after the last sync), `failed` (the
    /// last sync failed: see `sync_error`), `revoking` (a revoke is queued or failed; the key may
    /// still be on the host) or `expired` (removed from the host because the key expired).
    pub sync_status: SyncStatus,
    pub synced_at: Option<DateTime<Utc>>,
    pub sync_error: Option<String>,
    /// The authorized_keys options written in front of the key on this platform (`{}`: none).
    pub options: KeyOptions,
}

/// The platform's columns and the state and time of its latest scan (subqueries, which both
/// SQLite and PostgreSQL accept in `RETURNING` too).
pub(super) const COLUMNS: &str = "id, name, host, port, username, auth_method, host_key_policy, \
                       host_key_type, host_key_fingerprint, presented_host_key_type, \
                       presented_host_key_fingerprint, presented_host_key_at, \
                       authorized_keys_path, tags, exclusive, created_at, updated_at, \
                       (SELECT s.state FROM platform_scans s WHERE s.platform_id = platforms.id) \
                           AS scan_state, \
                       (SELECT s.scanned_at FROM platform_scans s \
                           WHERE s.platform_id = platforms.id) AS scanned_at";

/// A platform's state as SQL over `platforms`: its scan's, or `never_scanned` without one.
const STATE: &str = "COALESCE((SELECT s.state FROM platform_scans s \
                         WHERE s.platform_id = platforms.id), 'never_scanned')";

fn presented_from_row(row: &AnyRow) -> StoreResult<Option<PresentedHostKey>> {
    let key_type: Option<String> = row.try_get("presented_host_key_type")?;
    let fingerprint: Option<String> = row.try_get("presented_host_key_fingerprint")?;
    let seen_at = parse_opt_ts(row.try_get("presented_host_key_at")?)?;
    Ok(match (key_type, fingerprint, seen_at) {
        (Some(key_type), Some(fingerprint), Some(seen_at)) => Some(PresentedHostKey {
            key_type,
            fingerprint,
            seen_at,
        }),
        _ => None,
    })
}

pub(super) fn platform_from_row(row: &AnyRow) -> StoreResult<Platform> {
    let tags: String = row.try_get("tags")?;
    Ok(Platform {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        host: row.try_get("host")?,
        port: u16::try_from(row.try_get::<i64, _>("port")?)
            .map_err(|e| StoreError::Corrupt(format!("port: {e}")))?,
        username: row.try_get("username")?,
        auth_method: parse_word("auth_method", row.try_get("auth_method")?)?,
        has_credential: true,
        host_key_policy: parse_word("host_key_policy", row.try_get("host_key_policy")?)?,
        host_key_type: row.try_get("host_key_type")?,
        host_key_fingerprint: row.try_get("host_key_fingerprint")?,
        host_key_presented: presented_from_row(row)?,
        authorized_keys_path: row.try_get("authorized_keys_path")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
        exclusive: row.try_get::<i64, _>("exclusive")? != 0,
        state: match row.try_get::<Option<String>, _>("scan_state")? {
            Some(state) => parse_word("platform_scans.state", state)?,
            None => PlatformState::NeverScanned,
        },
        scanned_at: parse_opt_ts(row.try_get("scanned_at")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

const NAME_TAKEN: &str = "a platform with this name already exists";

/// The unique index that keeps two platforms off one managed file (migration 0014).
const ONE_PER_FILE: &str = "platforms_one_per_managed_file";

/// Whether `error` is a violation of the one-platform-per-file index: PostgreSQL names the index,
/// SQLite names its columns (`UNIQUE constraint failed: platforms.host, ...`).
pub(super) fn is_same_file_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint() == Some(ONE_PER_FILE)
                || db.message().contains(ONE_PER_FILE)
                || db.message().contains("platforms.authorized_keys_path")
        }
        _ => false,
    }
}

/// The file a platform manages: two platforms with equal ones would overwrite each other's block.
#[derive(Debug, Clone, Copy)]
pub(super) struct ManagedFile<'a> {
    pub host: &'a str,
    pub port: u16,
    pub username: &'a str,
    pub path: &'a str,
}

impl NewPlatform {
    fn managed_file(&self) -> ManagedFile<'_> {
        ManagedFile {
            host: &self.host,
            port: self.port,
            username: &self.username,
            path: &self.authorized_keys_path,
        }
    }
}

/// The INSERT of platform `new`, created and updated at `now`, followed by `tail` (e.g.
/// `RETURNING ...`, or nothing): the one statement that writes a new platform row, for
/// [`Store::create_platform`] and the bulk import.
pub(super) fn insert_platform<'q>(
    new: &'q NewPlatform,
    now: &'q str,
    tail: &str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql(format!(
        "INSERT INTO platforms (id, name, host, port, username, auth_method, credential,
             host_key_policy, host_key_type, host_key_fingerprint, authorized_keys_path, tags,
             exclusive, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14, $13, $13) {tail}"
    )))
    .bind(new.id.to_string())
    .bind(&new.name)
    .bind(&new.host)
    .bind(i64::from(new.port))
    .bind(&new.username)
    .bind(new.auth_method.as_str())
    .bind(&new.credential)
    .bind(new.host_key_policy.as_str())
    .bind(&new.host_key_type)
    .bind(&new.host_key_fingerprint)
    .bind(&new.authorized_keys_path)
    .bind(json!(new.tags).to_string())
    .bind(now)
    .bind(i64::from(new.exclusive))
}

impl Store {
    /// Create a platform. [`StoreError::Conflict`] when the name is taken or another platform
    /// manages the same file (the unique index decides, so of two concurrent creates one wins).
    pub async fn create_platform(&self, actor: &Actor, new: NewPlatform) -> StoreResult<Platform> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let row = match insert_platform(&new, &now, &format!("RETURNING {COLUMNS}"))
            .fetch_one(&mut *tx)
            .await
        {
            Ok(row) => row,
            Err(e) if is_same_file_violation(&e) => {
                tx.rollback().await?;
                return Err(self.same_file_conflict(None, new.managed_file()).await);
            }
            Err(e) => return Err(unique_violation(NAME_TAKEN)(e)),
        };
        let platform = platform_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "platform.create",
                target: Some(format!("platform:{}", new.id)),
                outcome: "success",
                details: json!({
                    "name": new.name, "host": new.host, "port": new.port,
                    "username": new.username, "auth_method": new.auth_method,
                    "exclusive": new.exclusive,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(platform)
    }

    /// The platform with `id`, if any.
    pub async fn get_platform(&self, id: Uuid) -> StoreResult<Option<Platform>> {
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM platforms WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(platform_from_row).transpose()
    }

    /// The id of the platform named `name`, if any.
    pub async fn platform_id_by_name(&self, name: &str) -> StoreResult<Option<Uuid>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM platforms WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        id.as_deref().map(parse_uuid).transpose()
    }

    /// Names of the platforms among `ids` that exist, by id.
    pub async fn platform_names(
        &self,
        ids: &[Uuid],
    ) -> StoreResult<std::collections::HashMap<Uuid, String>> {
        self.names_by_id("platforms", "name", ids).await
    }

    /// The encrypted credential of platform `id` (see [`crate::crypto`]).
    pub async fn platform_credential(&self, id: Uuid) -> StoreResult<Vec<u8>> {
        sqlx::query_scalar("SELECT credential FROM platforms WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Platforms, newest first; with `state`, only those in that state (`never_scanned`: those
    /// without a scan).
    pub async fn list_platforms(
        &self,
        state: Option<PlatformState>,
        page: &PageRequest,
    ) -> StoreResult<Page<Platform>> {
        self.list_newest_where(
            "platforms",
            COLUMNS,
            state.map(|state| (STATE, state.as_str())),
            page,
            platform_from_row,
            |p: &Platform| Cursor {
                created_at: ts(p.created_at),
                id: p.id.to_string(),
            },
        )
        .await
    }

    /// Change a platform. [`StoreError::Conflict`] when the new name is taken or another platform
    /// manages the file the platform would manage.
    pub async fn patch_platform(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: PlatformPatch,
    ) -> StoreResult<Platform> {
        let (auth_method, credential) = patch.credential.clone().unzip();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "UPDATE platforms SET
                 name = COALESCE($2, name), host = COALESCE($3, host), port = COALESCE($4, port),
                 username = COALESCE($5, username), auth_method = COALESCE($6, auth_method),
                 credential = COALESCE($7, credential),
                 host_key_policy = COALESCE($8, host_key_policy),
                 authorized_keys_path = COALESCE($9, authorized_keys_path),
                 tags = COALESCE($10, tags), updated_at = $11,
                 exclusive = COALESCE($12, exclusive)
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(&patch.name)
        .bind(&patch.host)
        .bind(patch.port.map(i64::from))
        .bind(&patch.username)
        .bind(auth_method.map(AuthMethod::as_str))
        .bind(&credential)
        .bind(patch.host_key_policy.map(HostKeyPolicy::as_str))
        .bind(&patch.authorized_keys_path)
        .bind(patch.tags.as_ref().map(|t| json!(t).to_string()))
        .bind(now_ts())
        .bind(patch.exclusive.map(i64::from))
        .fetch_optional(&mut *tx)
        .await;
        let row = match row {
            Ok(row) => row.ok_or(StoreError::NotFound)?,
            Err(e) if is_same_file_violation(&e) => {
                tx.rollback().await?;
                let current = self.get_platform(id).await?.ok_or(StoreError::NotFound)?;
                let file = ManagedFile {
                    host: patch.host.as_deref().unwrap_or(&current.host),
                    port: patch.port.unwrap_or(current.port),
                    username: patch.username.as_deref().unwrap_or(&current.username),
                    path: patch
                        .authorized_keys_path
                        .as_deref()
                        .unwrap_or(&current.authorized_keys_path),
                };
                return Err(self.same_file_conflict(Some(id), file).await);
            }
            Err(e) => return Err(unique_violation(NAME_TAKEN)(e)),
        };
        let platform = platform_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "platform.update",
                target: Some(format!("platform:{id}")),
                outcome: "success",
                details: json!({
                    "name": patch.name, "host": patch.host, "port": patch.port,
                    "username": patch.username, "auth_method": auth_method,
                    "credential_changed": credential.is_some(),
                    "host_key_policy": patch.host_key_policy,
                    "authorized_keys_path": patch.authorized_keys_path, "tags": patch.tags,
                    "exclusive": patch.exclusive,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(platform)
    }

    /// Delete a platform and its assignments.
    ///
    /// [`StoreError::Conflict`] while keys are assigned to it, unless `forget_keys`: testum would
    /// otherwise lose the record of keys it left on the host.
    pub async fn delete_platform(
        &self,
        actor: &Actor,
        id: Uuid,
        forget_keys: bool,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let assigned: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM assignments WHERE platform_id = $1")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if assigned > 0 && !forget_keys {
            return Err(StoreError::Conflict(format!(
                "the platform still has {assigned} assigned key(s) on the host; revoke them \
                 first, or delete with ?forget_keys=true to leave them there"
            )));
        }
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM platforms WHERE id = $1 RETURNING name",
                id,
                column: "name",
            },
            "platform.delete",
            json!({"keys_left_on_host": assigned}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Re-trust platform `id`'s host key after a legitimate change: pin `pin` (type, fingerprint),
    /// or clear the pin so the next connection pins what it sees (trust on first use). Audited
    /// with the old and the new pin.
    pub async fn trust_host_key(
        &self,
        actor: &Actor,
        id: Uuid,
        pin: Option<(Option<String>, String)>,
    ) -> StoreResult<Platform> {
        let mut tx = self.write_tx().await?;
        let old =
            sqlx::query("SELECT host_key_type, host_key_fingerprint FROM platforms WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
        let old_type: Option<String> = old.try_get("host_key_type")?;
        let old_fingerprint: Option<String> = old.try_get("host_key_fingerprint")?;
        let (new_type, new_fingerprint) = pin.unzip();
        let row = sqlx::query(sql(format!(
            "UPDATE platforms SET host_key_type = $2, host_key_fingerprint = $3, updated_at = $4,
                 presented_host_key_type = NULL, presented_host_key_fingerprint = NULL,
                 presented_host_key_at = NULL
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(new_type.clone().flatten())
        .bind(new_fingerprint.clone())
        .bind(now_ts())
        .fetch_one(&mut *tx)
        .await?;
        let platform = platform_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "host_key.trust",
                target: Some(format!("platform:{id}")),
                outcome: "success",
                details: json!({
                    "old": {"key_type": old_type, "fingerprint": old_fingerprint},
                    "new": {"key_type": new_type.flatten(), "fingerprint": new_fingerprint},
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(platform)
    }

    /// Remember the host key platform `id` presented when a connection was refused because it
    /// differs from the pin (see [`Platform::host_key_presented`]); the pin is not touched.
    pub async fn record_presented_host_key(&self, id: Uuid, key: &HostKey) -> StoreResult<()> {
        sqlx::query(
            "UPDATE platforms SET presented_host_key_type = $2,
                 presented_host_key_fingerprint = $3, presented_host_key_at = $4
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&key.key_type)
        .bind(&key.fingerprint)
        .bind(now_ts())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Pin a host key on first use, with its audit event in the same transaction. Race-safe:
    /// it pins only when no pin exists, and otherwise returns the pin already there (possibly set
    /// by a concurrent first connection) for the caller to compare.
    pub async fn pin_host_key(
        &self,
        id: Uuid,
        key_type: &str,
        fingerprint: &str,
    ) -> StoreResult<PinOutcome> {
        let mut tx = self.write_tx().await?;
        let pinned = sqlx::query(
            "UPDATE platforms SET host_key_type = $2, host_key_fingerprint = $3
             WHERE id = $1 AND host_key_fingerprint IS NULL",
        )
        .bind(id.to_string())
        .bind(key_type)
        .bind(fingerprint)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pinned == 0 {
            let row = sqlx::query(
                "SELECT host_key_type, host_key_fingerprint FROM platforms WHERE id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let fingerprint: Option<String> = row.try_get("host_key_fingerprint")?;
            let fingerprint = fingerprint.ok_or_else(|| {
                StoreError::Corrupt("host key neither pinned nor pinnable".into())
            })?;
            return Ok(PinOutcome::AlreadyPinned(PinnedHostKey {
                key_type: row.try_get("host_key_type")?,
                fingerprint,
            }));
        }
        // The same host key on two platforms means a cloned image or a redirected port.
        let shared_with: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM platforms WHERE host_key_fingerprint = $1 AND id <> $2 ORDER BY name",
        )
        .bind(fingerprint)
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor: &Actor::system(),
                action: "host_key.pin",
                target: Some(format!("platform:{id}")),
                outcome: "success",
                details: json!({"key_type": key_type, "fingerprint": fingerprint,
                                "also_pinned_by": shared_with}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(PinOutcome::Pinned { shared_with })
    }

    /// The 409 for a write the one-platform-per-file index refused, naming the platform (other
    /// than `except`) that manages `file`; read after the failed transaction ended.
    pub(super) async fn same_file_conflict(
        &self,
        except: Option<Uuid>,
        file: ManagedFile<'_>,
    ) -> StoreError {
        let other: Result<Option<String>, sqlx::Error> = sqlx::query_scalar(
            "SELECT name FROM platforms WHERE host = $1 AND port = $2 AND username = $3
             AND authorized_keys_path = $4 AND id <> $5 LIMIT 1",
        )
        .bind(file.host)
        .bind(i64::from(file.port))
        .bind(file.username)
        .bind(file.path)
        .bind(except.map(|id| id.to_string()).unwrap_or_default())
        .fetch_optional(&self.pool)
        .await;
        let who = match other {
            Ok(Some(name)) => format!("platform '{name}'"),
            Ok(None) => "another platform".to_string(),
            Err(e) => return StoreError::Db(e),
        };
        let ManagedFile {
            host,
            port,
            username,
            path,
        } = file;
        StoreError::Conflict(format!(
            "{who} already manages {path} of {username}@{host}:{port}; two platforms on one file \
             would overwrite each other's keys"
        ))
    }

    /// Keys assigned to platform `id` with their last sync result, oldest assignment first.
    pub async fn platform_assignments(&self, id: Uuid) -> StoreResult<Vec<Assignment>> {
        let rows = sqlx::query(
            "SELECT a.key_id, k.name, k.fingerprint, k.key_type, k.expires_at, a.created_at,
                    a.sync_status, a.synced_at, a.sync_error, a.options
             FROM assignments a JOIN keys k ON k.id = a.key_id
             WHERE a.platform_id = $1 ORDER BY a.created_at, a.key_id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Assignment {
                    key_id: parse_uuid(row.try_get("key_id")?)?,
                    name: row.try_get("name")?,
                    fingerprint: row.try_get("fingerprint")?,
                    key_type: row.try_get("key_type")?,
                    expires_at: parse_opt_ts(row.try_get("expires_at")?)?,
                    assigned_at: parse_ts(row.try_get("created_at")?)?,
                    sync_status: parse_word("sync_status", row.try_get("sync_status")?)?,
                    synced_at: parse_opt_ts(row.try_get("synced_at")?)?,
                    sync_error: row.try_get("sync_error")?,
                    options: parse_stored_options(row.try_get("options")?)?,
                })
            })
            .collect()
    }

    /// The desired state of platform `id` at `now`, read in one statement.
    pub async fn desired_state(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<DesiredState> {
        Ok(desired_of(&self.assigned(id).await?, now))
    }

    /// The desired state platform `id` would have at `now` if a `kind` task (deploy or revoke)
    /// of `key_ids` with `options` were queued (as [`Store::create_task`] changes assignments),
    /// without changing anything: what a dry run compares the host's file with.
    pub async fn preview_state(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        kind: TaskKind,
        key_ids: &[Uuid],
        options: &BTreeMap<Uuid, KeyOptions>,
    ) -> StoreResult<DesiredState> {
        let mut rows = self.assigned(id).await?;
        let mut added = Vec::new();
        for key_id in key_ids {
            let new_options = options
                .get(key_id)
                .map(KeyOptions::render)
                .transpose()
                .map_err(|e| StoreError::Conflict(format!("options: {e}")))?;
            let new_expiry = options.get(key_id).map(|opts| opts.expires_at().map(ts));
            match (kind, rows.iter_mut().find(|row| row.key_id == *key_id)) {
                (TaskKind::DeployKeys, Some(row)) => {
                    if row.status == SyncStatus::Revoking {
                        row.status = SyncStatus::Pending;
                    }
                    if let Some(field) = new_options {
                        row.options = field;
                        row.assignment_expires_at = new_expiry.flatten();
                    }
                }
                (TaskKind::DeployKeys, None) => {
                    let key = sqlx::query("SELECT public_key, expires_at FROM keys WHERE id = $1")
                        .bind(key_id.to_string())
                        .fetch_optional(&self.pool)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    added.push(AssignedRow {
                        key_id: *key_id,
                        status: SyncStatus::Pending,
                        public_key: key.try_get("public_key")?,
                        expires_at: key.try_get("expires_at")?,
                        assignment_expires_at: new_expiry.flatten(),
                        options: new_options.flatten(),
                    });
                }
                (TaskKind::RevokeKeys, Some(row)) => row.status = SyncStatus::Revoking,
                (TaskKind::RevokeKeys, None)
                | (
                    TaskKind::RunCommand | TaskKind::Scan | TaskKind::ReplaceKey | TaskKind::Sync,
                    _,
                ) => {}
            }
        }
        // New assignments share one creation time, so they follow the others in key id order.
        added.sort_by_key(|row| row.key_id);
        rows.extend(added);
        Ok(desired_of(&rows, now))
    }

    /// Platform `id`'s assignments with what a sync needs, in assignment order.
    async fn assigned(&self, id: Uuid) -> StoreResult<Vec<AssignedRow>> {
        let rows = sqlx::query(
            "SELECT a.key_id, a.sync_status, a.options, k.public_key, k.expires_at,
                    a.expires_at AS assignment_expires_at
             FROM assignments a JOIN keys k ON k.id = a.key_id
             WHERE a.platform_id = $1 ORDER BY a.created_at, a.key_id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AssignedRow {
                    key_id: parse_uuid(row.try_get("key_id")?)?,
                    status: parse_word("sync_status", row.try_get("sync_status")?)?,
                    public_key: row.try_get("public_key")?,
                    expires_at: row.try_get("expires_at")?,
                    assignment_expires_at: row.try_get("assignment_expires_at")?,
                    options: row.try_get("options")?,
                })
            })
            .collect()
    }

    /// Record the result of a sync of `state`: on success its keys are `present`, its revoked
    /// assignments are gone and its expired ones are `expired`. On failure every one of them
    /// carries `error`, and its status is its last known presence: with `present` (one flag per
    /// `state.keys` entry, from the file the failed sync read) `present` or `failed`; without
    /// it (nothing was read) a key that was `present` stays so and the others are `failed`.
    /// Revoked ones stay `revoking` until a sync removes them for real.
    pub async fn record_sync(
        &self,
        platform_id: Uuid,
        state: &DesiredState,
        error: Option<&str>,
        present: Option<&[bool]>,
    ) -> StoreResult<()> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let ok = error.is_none();
        for (index, (key_id, _)) in state.keys.iter().enumerate() {
            // NULL status: keep `present` if it was, else `failed` (presence unknown).
            let status = match (ok, present.and_then(|p| p.get(index))) {
                (true, _) | (false, Some(true)) => Some(SyncStatus::Present),
                (false, Some(false)) => Some(SyncStatus::Failed),
                (false, None) => None,
            };
            sqlx::query(
                "UPDATE assignments SET sync_status = COALESCE($3,
                         CASE WHEN sync_status = 'present' THEN 'present' ELSE 'failed' END),
                     synced_at = $4, sync_error = $5
                 WHERE platform_id = $1 AND key_id = $2 AND sync_status <> 'revoking'",
            )
            .bind(platform_id.to_string())
            .bind(key_id.to_string())
            .bind(status.map(SyncStatus::as_str))
            .bind(now.clone())
            .bind(error.map(str::to_string))
            .execute(&mut *tx)
            .await?;
        }
        for key_id in &state.expired {
            sqlx::query(
                "UPDATE assignments SET sync_status = $3, synced_at = $4, sync_error = $5
                 WHERE platform_id = $1 AND key_id = $2 AND sync_status <> 'revoking'",
            )
            .bind(platform_id.to_string())
            .bind(key_id.to_string())
            .bind(
                if ok {
                    SyncStatus::Expired
                } else {
                    SyncStatus::Failed
                }
                .as_str(),
            )
            .bind(now.clone())
            .bind(error.map(str::to_string))
            .execute(&mut *tx)
            .await?;
        }
        for key_id in &state.revoking {
            let query = if ok {
                sqlx::query(
                    "DELETE FROM assignments WHERE platform_id = $1 AND key_id = $2
                     AND sync_status = 'revoking'",
                )
                .bind(platform_id.to_string())
                .bind(key_id.to_string())
            } else {
                sqlx::query(
                    "UPDATE assignments SET sync_error = $3
                     WHERE platform_id = $1 AND key_id = $2 AND sync_status = 'revoking'",
                )
                .bind(platform_id.to_string())
                .bind(key_id.to_string())
                .bind(error.map(str::to_string))
            };
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
