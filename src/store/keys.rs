//! Keys: the registry of SSH public keys.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::audit::{Deletion, delete_audited, insert as audit};
use super::{
    Actor, Cursor, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts,
    parse_opt_ts, parse_ts, parse_uuid, sql, ts, unique_violation,
};

/// A registered public key, as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Key {
    pub id: Uuid,
    pub name: String,
    /// Normalised one-line OpenSSH form: `type base64[ comment]`.
    pub public_key: String,
    /// e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:...` as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    pub bits: u32,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated key to register.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub public_key: String,
    pub key_type: String,
    pub fingerprint: String,
    pub bits: u32,
    pub comment: Option<String>,
    pub owner: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Filters of the key list (`GET /api/keys?q=&owner=`); `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Case-insensitive substring of the name, the comment or the fingerprint.
    pub q: Option<String>,
    /// Exact owner.
    pub owner: Option<String>,
}

/// A `LIKE` pattern (for `ESCAPE` backslash) matching `text` anywhere, lower-cased: `%`, `_` and
/// backslash in `text` match themselves. Pair it with `LOWER(column)`; SQLite's `LOWER` folds ASCII
/// letters only, so a non-ASCII name matches its own case there.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Changes to a key; `None` leaves a field alone, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub owner: Option<Option<String>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

pub(super) const COLUMNS: &str = "id, name, public_key, key_type, fingerprint, bits, comment, owner, \
                       expires_at, created_at, updated_at";

pub(super) fn key_from_row(row: &AnyRow) -> StoreResult<Key> {
    Ok(Key {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        public_key: row.try_get("public_key")?,
        key_type: row.try_get("key_type")?,
        fingerprint: row.try_get("fingerprint")?,
        bits: row.try_get::<i64, _>("bits")? as u32,
        comment: row.try_get("comment")?,
        owner: row.try_get("owner")?,
        expires_at: parse_opt_ts(row.try_get("expires_at")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

/// The INSERT of key `new` with `id`, created and updated at `now`, followed by `tail` (e.g.
/// `RETURNING ...`, or nothing): the one statement that registers a key, for
/// [`Store::create_key`] and the bulk import.
pub(super) fn insert_key<'q>(
    id: Uuid,
    new: &'q NewKey,
    now: &'q str,
    tail: &str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql(format!(
        "INSERT INTO keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) {tail}"
    )))
    .bind(id.to_string())
    .bind(&new.name)
    .bind(&new.public_key)
    .bind(&new.key_type)
    .bind(&new.fingerprint)
    .bind(i64::from(new.bits))
    .bind(&new.comment)
    .bind(&new.owner)
    .bind(new.expires_at.map(ts))
    .bind(now)
}

impl Store {
    /// The names of the keys of `ids` by id (deleted keys are absent); one query per 500 ids.
    pub async fn key_names(
        &self,
        ids: &[Uuid],
    ) -> StoreResult<std::collections::HashMap<Uuid, String>> {
        self.names_by_id("keys", "name", ids).await
    }

    /// Register a key. [`StoreError::Conflict`] when its fingerprint is already registered.
    pub async fn create_key(&self, actor: &Actor, new: NewKey) -> StoreResult<Key> {
        let id = Uuid::new_v4();
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let row = insert_key(id, &new, &now, &format!("RETURNING {COLUMNS}"))
            .fetch_one(&mut *tx)
            .await
            .map_err(unique_violation(
                "a key with this fingerprint is already registered",
            ))?;
        let key = key_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "key.create",
                target: Some(format!("key:{id}")),
                outcome: "success",
                details: json!({"name": key.name, "fingerprint": key.fingerprint}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// The key with `id`, if any.
    pub async fn get_key(&self, id: Uuid) -> StoreResult<Option<Key>> {
        let row = sqlx::query(sql(format!("SELECT {COLUMNS} FROM keys WHERE id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// The key registered with `fingerprint`, if any.
    pub async fn key_by_fingerprint(&self, fingerprint: &str) -> StoreResult<Option<Key>> {
        let row = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM keys WHERE fingerprint = $1"
        )))
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Keys matching `filter`, newest first.
    pub async fn list_keys(
        &self,
        filter: &KeyFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Key>> {
        let (after_ts, after_id) = super::audit::cursor_parts(page.cursor.as_ref());
        let rows = sqlx::query(sql(format!(
            "SELECT {COLUMNS} FROM keys
             WHERE ($1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2))
               AND ($4 IS NULL OR LOWER(name) LIKE $4 ESCAPE '\\'
                    OR LOWER(COALESCE(comment, '')) LIKE $4 ESCAPE '\\'
                    OR LOWER(fingerprint) LIKE $4 ESCAPE '\\')
               AND ($5 IS NULL OR owner = $5)
             ORDER BY created_at DESC, id DESC LIMIT $3"
        )))
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .bind(filter.q.as_deref().map(contains_pattern))
        .bind(filter.owner.clone())
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(key_from_row).collect::<StoreResult<_>>()?;
        Ok(super::page_of(items, page.limit, |k: &Key| Cursor {
            created_at: ts(k.created_at),
            id: k.id.to_string(),
        }))
    }

    /// The owners of registered keys, sorted, at most `limit` (the keys page's owner choices).
    pub async fn key_owners(&self, limit: u32) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT owner FROM keys WHERE owner IS NOT NULL ORDER BY owner LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Which of `ids` are not registered (to report unknown `key_ids`).
    pub async fn missing_keys(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let found = self.names_by_id("keys", "name", ids).await?;
        Ok(ids
            .iter()
            .filter(|id| !found.contains_key(id))
            .copied()
            .collect())
    }

    /// Change a key's name, owner or expiry.
    pub async fn patch_key(&self, actor: &Actor, id: Uuid, patch: KeyPatch) -> StoreResult<Key> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "UPDATE keys SET
                 name = CASE WHEN $2 THEN $3 ELSE name END,
                 owner = CASE WHEN $4 THEN $5 ELSE owner END,
                 expires_at = CASE WHEN $6 THEN $7 ELSE expires_at END,
                 updated_at = $8
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(patch.name.is_some())
        .bind(&patch.name)
        .bind(patch.owner.is_some())
        .bind(patch.owner.clone().flatten())
        .bind(patch.expires_at.is_some())
        .bind(patch.expires_at.flatten().map(ts))
        .bind(now_ts())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let key = key_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "key.update",
                target: Some(format!("key:{id}")),
                outcome: "success",
                details: json!({
                    "name": patch.name,
                    "owner": patch.owner,
                    "expires_at": patch.expires_at,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    /// Delete a key. [`StoreError::Conflict`] while it is still assigned to a platform: deleting
    /// it then would leave it on hosts with no record of where.
    pub async fn delete_key(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let assigned: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM assignments WHERE key_id = $1")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if assigned > 0 {
            return Err(StoreError::Conflict(format!(
                "the key is still assigned to {assigned} platform(s); revoke it first"
            )));
        }
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM keys WHERE id = $1 RETURNING fingerprint",
                id,
                column: "fingerprint",
            },
            "key.delete",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
