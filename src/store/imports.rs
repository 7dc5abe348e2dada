//! Bulk imports: platforms created or updated, and keys registered, many in one transaction
//! (see `POST /api/platforms/import` and `POST /api/keys/import`).
//!
//! Audit: one event per platform or key, with the action a single create or update records
//! (`platform.create`, `platform.update`, `key.create`) and `"via": "import"`, so a platform's
//! history (`GET /api/audit?target=platform:<id>`) and filters by action show imported ones like
//! any other; the events go in the same transaction, after the rows (on PostgreSQL an audit
//! append holds the chain lock until commit), with one read of the chain head for all of them.

use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::audit::insert_all as audit_all;
use super::platforms::is_same_file_violation;
use super::{
    Actor, IN_LIST, NewAudit, NewKey, NewPlatform, Store, StoreError, StoreResult, now_ts,
    parse_uuid, placeholders, sql, unique_violation,
};

/// The 409 of an import whose row on `line` would put a platform on a file another platform
/// came to manage after the plan was made (the unique index refused it).
fn taken_meanwhile(line: usize) -> StoreError {
    StoreError::Conflict(format!(
        "row {line}: another platform manages the same file (host, port, user, authorized_keys \
         path) since the import was planned; nothing was imported, import again to see it"
    ))
}

/// An existing platform as an import compares with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub authorized_keys_path: String,
    pub tags: Vec<String>,
}

/// The new address, login and tags of an existing platform (its credential stays).
#[derive(Debug, Clone)]
pub struct ImportUpdate {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub tags: Vec<String>,
    /// The import row's line, for the audit event.
    pub line: usize,
}

/// What an import writes: platforms to create (credentials already sealed for their ids) with
/// their rows' lines, and platforms to update.
#[derive(Debug, Clone, Default)]
pub struct PlatformImport {
    pub create: Vec<(NewPlatform, usize)>,
    pub update: Vec<ImportUpdate>,
}

const TARGET_COLUMNS: &str = "id, name, host, port, username, authorized_keys_path, tags";

fn target_from_row(row: &sqlx::any::AnyRow) -> StoreResult<ImportTarget> {
    let port: i64 = row.try_get("port")?;
    let tags: String = row.try_get("tags")?;
    Ok(ImportTarget {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        host: row.try_get("host")?,
        port: u16::try_from(port).map_err(|e| StoreError::Corrupt(format!("port: {e}")))?,
        username: row.try_get("username")?,
        authorized_keys_path: row.try_get("authorized_keys_path")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
    })
}

impl Store {
    /// The platforms whose `column` (`name` or `host`) is one of `values`, one query per 500.
    async fn import_targets_where(
        &self,
        column: &'static str,
        values: &[String],
    ) -> StoreResult<Vec<ImportTarget>> {
        let mut out = Vec::new();
        for chunk in values.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT {TARGET_COLUMNS} FROM platforms WHERE {column} IN ({})",
                placeholders(chunk.len())
            )));
            for value in chunk {
                query = query.bind(value.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(target_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// The platforms named one of `names`.
    pub async fn platforms_named(&self, names: &[String]) -> StoreResult<Vec<ImportTarget>> {
        self.import_targets_where("name", names).await
    }

    /// The platforms whose host is one of `hosts` (to find two platforms on one file).
    pub async fn platforms_on_hosts(&self, hosts: &[String]) -> StoreResult<Vec<ImportTarget>> {
        self.import_targets_where("host", hosts).await
    }

    /// Create and update platforms in one transaction, each audited (see the module
    /// documentation). [`StoreError::Conflict`] when a name was taken, or a row's file came to
    /// be managed by another platform, meanwhile; [`StoreError::NotFound`] when a platform to
    /// update was deleted meanwhile; either way nothing is written.
    pub async fn import_platforms(&self, actor: &Actor, import: PlatformImport) -> StoreResult<()> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        // Updates first: a platform that moves off a file frees it for a new one.
        for update in &import.update {
            let changed = sqlx::query(
                "UPDATE platforms SET host = $2, port = $3, username = $4, tags = $5,
                     updated_at = $6
                 WHERE id = $1 AND name = $7",
            )
            .bind(update.id.to_string())
            .bind(&update.host)
            .bind(i64::from(update.port))
            .bind(&update.username)
            .bind(json!(update.tags).to_string())
            .bind(&now)
            .bind(&update.name)
            .execute(&mut *tx)
            .await;
            match changed {
                Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound),
                Ok(_) => {}
                Err(e) if is_same_file_violation(&e) => {
                    tx.rollback().await?;
                    return Err(taken_meanwhile(update.line));
                }
                Err(e) => return Err(e.into()),
            }
        }
        for (new, line) in &import.create {
            let inserted = super::platforms::insert_platform(new, &now, "")
                .execute(&mut *tx)
                .await;
            match inserted {
                Ok(_) => {}
                Err(e) if is_same_file_violation(&e) => {
                    tx.rollback().await?;
                    return Err(taken_meanwhile(*line));
                }
                Err(e) => {
                    return Err(unique_violation(
                        "a platform with one of these names was created meanwhile; import again",
                    )(e));
                }
            }
        }
        let mut events = Vec::with_capacity(import.create.len() + import.update.len());
        for (new, line) in &import.create {
            events.push(NewAudit {
                actor,
                action: "platform.create",
                target: Some(format!("platform:{}", new.id)),
                outcome: "success",
                details: json!({
                    "name": new.name, "host": new.host, "port": new.port,
                    "username": new.username, "auth_method": new.auth_method,
                    "exclusive": new.exclusive, "tags": new.tags, "via": "import", "line": line,
                }),
            });
        }
        for update in &import.update {
            events.push(NewAudit {
                actor,
                action: "platform.update",
                target: Some(format!("platform:{}", update.id)),
                outcome: "success",
                details: json!({
                    "name": update.name, "host": update.host, "port": update.port,
                    "username": update.username, "tags": update.tags,
                    "credential_changed": false, "via": "import", "line": update.line,
                }),
            });
        }
        audit_all(&mut tx, self.chain_key(), events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The registered keys among `fingerprints`: (fingerprint, id, name) each, one query per
    /// 500.
    pub async fn keys_with_fingerprints(
        &self,
        fingerprints: &[String],
    ) -> StoreResult<Vec<(String, Uuid, String)>> {
        let mut out = Vec::new();
        for chunk in fingerprints.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT fingerprint, id, name FROM keys WHERE fingerprint IN ({})",
                placeholders(chunk.len())
            )));
            for fingerprint in chunk {
                query = query.bind(fingerprint.clone());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push((
                    row.try_get("fingerprint")?,
                    parse_uuid(row.try_get("id")?)?,
                    row.try_get("name")?,
                ));
            }
        }
        Ok(out)
    }

    /// Register `keys` (with their import lines) in one transaction, each audited as
    /// `key.create` with `"via": "import"`; their ids in order. [`StoreError::Conflict`] when
    /// one was registered meanwhile (nothing is written).
    pub async fn import_keys(
        &self,
        actor: &Actor,
        keys: &[(NewKey, usize)],
    ) -> StoreResult<Vec<Uuid>> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let mut ids = Vec::with_capacity(keys.len());
        for (new, _) in keys {
            let id = Uuid::new_v4();
            super::keys::insert_key(id, new, &now, "")
                .execute(&mut *tx)
                .await
                .map_err(unique_violation(
                    "one of these keys was registered meanwhile; import again",
                ))?;
            ids.push(id);
        }
        let events = keys
            .iter()
            .zip(&ids)
            .map(|((new, line), id)| NewAudit {
                actor,
                action: "key.create",
                target: Some(format!("key:{id}")),
                outcome: "success",
                details: json!({
                    "name": new.name, "fingerprint": new.fingerprint, "via": "import",
                    "line": line,
                }),
            })
            .collect();
        audit_all(&mut tx, self.chain_key(), events).await?;
        tx.commit().await?;
        Ok(ids)
    }
}
