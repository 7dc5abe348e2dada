//! The audit log: who did what to which target, when, and how it ended.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::audit_chain::{
    ChainBreak, ChainHead, ChainKey, ChainWalker, ChainedEvent, GENESIS, HashRule, Keying,
};
use super::keys::contains_pattern;
use super::{
    Actor, Cursor, Page, PageRequest, Store, StoreError, StoreResult, now_ts, page_of, parse_ts,
    parse_uuid, parse_word,
};

/// One audit event as listed by `GET /api/audit`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Username, or `system`.
    pub actor: String,
    /// Dotted action name, e.g. `key.create`, `task.finish`, `auth.login`.
    pub action: String,
    /// What the action was applied to, e.g. `key:<uuid>`, `platform:<uuid>`.
    pub target: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Action-specific details (never secrets).
    pub details: serde_json::Value,
}

/// An audit event to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target: Option<String>,
    pub outcome: &'a str,
    pub details: serde_json::Value,
}

/// Filters of `GET /api/audit`; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    /// Only events created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the actor.
    pub actor_contains: Option<String>,
    /// Case-insensitive substring of the action.
    pub action_contains: Option<String>,
    /// Case-insensitive substring of the target (`platform:<uuid>`) or of the current name of
    /// the platform, key, user or schedule it names.
    pub target_contains: Option<String>,
}

/// The kinds of audit target whose name [`Store::audit_target_names`] looks up: target prefix,
/// table, name column.
const NAMED_TARGETS: [(&str, &str, &str); 4] = [
    ("platform", "platforms", "name"),
    ("key", "keys", "name"),
    ("user", "users", "username"),
    ("schedule", "schedules", "name"),
];

/// Advisory-lock key (PostgreSQL) that serialises appends to the chain across processes.
const CHAIN_LOCK: &str = "testum-audit-chain";

/// Setting that migration 0005 leaves behind: events written before the chain existed still wait
/// to be chained (see [`Store::adopt_unchained_audit`]).
const ADOPT_PENDING: &str = "audit_chain_adopt";

/// Setting holding the audit chain key record, sealed under the master key (see
/// [`crate::audit_key`]); its presence means the chain is keyed.
pub const AUDIT_KEY_SETTING: &str = "audit_chain_key";

/// Take the chain's append lock for the rest of `conn`'s transaction. On PostgreSQL a
/// transaction-scoped advisory lock; on SQLite the write transaction (`BEGIN IMMEDIATE`) already
/// excludes every other writer.
async fn lock_chain(conn: &mut AnyConnection) -> StoreResult<()> {
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(CHAIN_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The chain's last event: `seq`, hash and rule; `(0, GENESIS, sha256)` when it is empty.
async fn chain_head(conn: &mut AnyConnection) -> StoreResult<(i64, String, HashRule)> {
    let head: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT seq, hash, hash_rule FROM audit_events WHERE seq IS NOT NULL
         ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match head {
        Some((seq, hash, rule)) => (seq, hash, parse_word("audit_events.hash_rule", rule)?),
        None => (0, GENESIS.to_string(), HashRule::Sha256),
    })
}

/// Write `event` with its chain columns after the head, on `conn`, which holds the chain lock;
/// its hash (the next event's `prev_hash`). A keyed event (`event.rule`) is MACed under `key`.
async fn append(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    mut event: ChainedEvent,
) -> StoreResult<String> {
    event.hash = event
        .expected_hash(key)
        .ok_or_else(|| StoreError::Conflict("a keyed audit event needs the chain key".into()))?;
    sqlx::query(
        "INSERT INTO audit_events
             (id, created_at, actor, action, target, outcome, details, seq, prev_hash, hash,
              hash_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&event.id)
    .bind(&event.created_at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.target)
    .bind(&event.outcome)
    .bind(&event.details)
    .bind(event.seq)
    .bind(&event.prev_hash)
    .bind(&event.hash)
    .bind(event.rule.as_str())
    .execute(conn)
    .await?;
    Ok(event.hash)
}

/// Insert `event` on `conn`, which must be inside the write transaction of the change it records
/// ([`Store::audit`] opens one for events of their own): the event is appended to the hash chain
/// (see [`super::audit_chain`]) under the chain lock, which is held until that transaction ends,
/// so two writers, in one process or several, never fork the chain. With `key` (the store's,
/// [`Store::chain_key`]) the event is keyed (`hmac-sha256`); without, it is plain `sha256`, which
/// is refused once the chain is keyed.
pub(crate) async fn insert(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    event: NewAudit<'_>,
) -> StoreResult<()> {
    insert_all(conn, key, vec![event]).await
}

/// [`insert`] for several events, appended in order after one read of the chain head (a bulk
/// import records one event per platform without one head lookup each).
pub(crate) async fn insert_all(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    events: Vec<NewAudit<'_>>,
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    lock_chain(conn).await?;
    let (mut seq, mut prev_hash, head_rule) = chain_head(conn).await?;
    let rule = match key {
        Some(_) => HashRule::HmacSha256,
        None if head_rule == HashRule::HmacSha256 => {
            return Err(StoreError::Conflict(
                "the audit chain is keyed: this process has no audit chain key (it was opened \
                 without the master key)"
                    .into(),
            ));
        }
        None => HashRule::Sha256,
    };
    for event in events {
        seq += 1;
        prev_hash = append(
            conn,
            key,
            ChainedEvent {
                seq,
                id: Uuid::new_v4().to_string(),
                // Taken under the lock, so time order follows chain order.
                created_at: now_ts(),
                actor: event.actor.name.clone(),
                action: event.action.to_string(),
                target: event.target,
                outcome: event.outcome.to_string(),
                details: event.details.to_string(),
                prev_hash,
                rule,
                hash: String::new(),
            },
        )
        .await?;
    }
    Ok(())
}

/// The row [`delete_audited`] deletes: `statement` (`DELETE ... WHERE id = $1 RETURNING <one
/// text column>`) run with `id`; the column is recorded as `details[column]`.
pub(crate) struct Deletion<'a> {
    pub statement: &'static str,
    pub id: Uuid,
    pub column: &'a str,
}

/// Delete `row` on `conn` and record `action` on `<kind>:<id>` with `details` plus the returned
/// column, in the same transaction (under the audit chain key `key`, see [`insert`]).
/// [`super::StoreError::NotFound`] when no row matched.
pub(crate) async fn delete_audited(
    conn: &mut AnyConnection,
    key: Option<&ChainKey>,
    actor: &Actor,
    row: Deletion<'_>,
    action: &str,
    mut details: serde_json::Value,
) -> StoreResult<()> {
    let Deletion {
        statement,
        id,
        column,
    } = row;
    let value: Option<String> = sqlx::query_scalar(statement)
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let value = value.ok_or(super::StoreError::NotFound)?;
    let kind = action.split('.').next().unwrap_or(action);
    details[column] = serde_json::Value::String(value);
    insert(
        conn,
        key,
        NewAudit {
            actor,
            action,
            target: Some(format!("{kind}:{id}")),
            outcome: "success",
            details,
        },
    )
    .await
}

impl Store {
    /// Record an event that is not part of another write (login, task finish, refused host key).
    pub async fn audit(&self, event: NewAudit<'_>) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert(&mut tx, self.chain_key(), event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Key the chain: in ONE transaction under the chain lock, store the record `seal` makes of
    /// the `seq` the first keyed event gets (setting [`AUDIT_KEY_SETTING`]) and append that event,
    /// `audit.chain_keyed`, under `key`. Returns the record in force: when another process keyed
    /// the chain first, its record and nothing written. [`StoreError::Conflict`] when keyed events
    /// exist but no record does (it was deleted: a new one would hide what was rewritten).
    pub async fn start_keyed_chain(
        &self,
        key: &ChainKey,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> StoreResult<Vec<u8>> {
        let mut tx = self.write_tx().await?;
        lock_chain(&mut tx).await?;
        let existing: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(AUDIT_KEY_SETTING)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(record) = existing {
            return Ok(record);
        }
        let (head, _, rule) = chain_head(&mut tx).await?;
        if rule == HashRule::HmacSha256 {
            return Err(StoreError::Conflict(format!(
                "the audit chain holds keyed events but the database has no audit chain key \
                 record (setting {AUDIT_KEY_SETTING}): it was deleted; restore it from a backup"
            )));
        }
        let record = seal(head + 1);
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2)")
            .bind(AUDIT_KEY_SETTING)
            .bind(&record)
            .execute(&mut *tx)
            .await?;
        insert(
            &mut tx,
            Some(key),
            NewAudit {
                actor: &Actor::system(),
                action: "audit.chain_keyed",
                target: None,
                outcome: "success",
                details: serde_json::json!({"keyed_from": head + 1}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Chain the events written before the chain existed (migration 0005 marks them pending),
    /// oldest first, once: the marker goes in the same transaction, so a later row without a
    /// `seq` (written behind testum's back) is never adopted and `testum audit verify` reports it.
    pub(crate) async fn adopt_unchained_audit(&self) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        lock_chain(&mut tx).await?;
        let pending = sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(ADOPT_PENDING)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if pending == 0 {
            return Ok(());
        }
        let rows = sqlx::query(
            "SELECT id, created_at, actor, action, target, outcome, details FROM audit_events
             WHERE seq IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let (mut seq, mut prev_hash, _) = chain_head(&mut tx).await?;
        let adopted = rows.len();
        for row in rows {
            seq += 1;
            let event = chained_from_row(&row, seq, Some(prev_hash), HashRule::Sha256)?;
            prev_hash = event.sha256();
            sqlx::query(
                "UPDATE audit_events SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4",
            )
            .bind(seq)
            .bind(&event.prev_hash)
            .bind(&prev_hash)
            .bind(&event.id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if adopted > 0 {
            tracing::info!(
                events = adopted,
                "chained the audit events written before the chain"
            );
        }
        Ok(())
    }

    /// Walk the whole chain in `seq` order (in pages of 1000) and check every event under
    /// `keying` (what is known of the chain key, see [`crate::audit_key`]); then check that no
    /// event lies outside the chain. `Ok(Err(break))` names the first broken event.
    pub async fn verify_audit_chain(
        &self,
        keying: Keying<'_>,
    ) -> StoreResult<Result<ChainHead, ChainBreak>> {
        let mut walker = ChainWalker::new(keying);
        loop {
            let after = walker.head().count as i64;
            let rows = sqlx::query(
                "SELECT id, created_at, actor, action, target, outcome, details, seq, prev_hash,
                        hash, hash_rule
                 FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 1000",
            )
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let rule = match row.try_get::<String, _>("hash_rule")?.parse() {
                    Ok(rule) => rule,
                    Err(e) => {
                        return Ok(Err(ChainBreak {
                            seq,
                            id: row.try_get("id")?,
                            what: format!("hash_rule {e}: the row was edited"),
                        }));
                    }
                };
                let mut event = chained_from_row(row, seq, row.try_get("prev_hash")?, rule)?;
                event.hash = row
                    .try_get::<Option<String>, _>("hash")?
                    .unwrap_or_default();
                if let Err(broken) = walker.check(&event) {
                    return Ok(Err(broken));
                }
            }
        }
        let outside: Option<String> =
            // The walk starts at seq 1: a row without a seq, or with one below 1, is not in it.
            sqlx::query_scalar(
                "SELECT id FROM audit_events WHERE seq IS NULL OR seq < 1 ORDER BY id LIMIT 1",
            )
            .fetch_optional(&self.pool)
            .await?;
        if let Some(id) = outside {
            return Ok(Err(ChainBreak {
                seq: 0,
                id,
                what: "the event has no seq of the chain (none, or one below 1): it was written \
                       outside the chain"
                    .into(),
            }));
        }
        Ok(walker.finish())
    }

    /// Audit events, newest first, created in `[since, until)` when given.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let (after_ts, after_id) = cursor_parts(page.cursor.as_ref());
        // A target matches by its text or by the name of what it names (one subquery per kind).
        let by_name: String = NAMED_TARGETS
            .iter()
            .map(|(kind, table, column)| {
                format!(
                    " OR target IN (SELECT '{kind}:' || id FROM {table}
                                    WHERE LOWER({column}) LIKE $11 ESCAPE '\\')"
                )
            })
            .collect();
        let rows = sqlx::query(super::sql(format!(
            "SELECT id, created_at, actor, action, target, outcome, details FROM audit_events
             WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2)
               AND ($3 IS NULL OR target = $3)
               AND ($4 IS NULL OR created_at < $4 OR (created_at = $4 AND id < $5))
               AND ($7 IS NULL OR created_at >= $7) AND ($8 IS NULL OR created_at < $8)
               AND ($9 IS NULL OR LOWER(actor) LIKE $9 ESCAPE '\\')
               AND ($10 IS NULL OR LOWER(action) LIKE $10 ESCAPE '\\')
               AND ($11 IS NULL OR LOWER(target) LIKE $11 ESCAPE '\\'{by_name})
             ORDER BY created_at DESC, id DESC LIMIT $6",
        )))
        .bind(&filter.actor)
        .bind(&filter.action)
        .bind(&filter.target)
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1)
        .bind(filter.since.map(super::ts))
        .bind(filter.until.map(super::ts))
        .bind(filter.actor_contains.as_deref().map(contains_pattern))
        .bind(filter.action_contains.as_deref().map(contains_pattern))
        .bind(filter.target_contains.as_deref().map(contains_pattern))
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(|row| {
                let details: String = row.try_get("details")?;
                Ok(AuditEvent {
                    id: parse_uuid(row.try_get("id")?)?,
                    created_at: parse_ts(row.try_get("created_at")?)?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    outcome: row.try_get("outcome")?,
                    details: serde_json::from_str(&details)
                        .unwrap_or(serde_json::Value::String(details)),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(events, page.limit, |e| Cursor {
            created_at: super::ts(e.created_at),
            id: e.id.to_string(),
        }))
    }
}

impl Store {
    /// The current names of the objects `targets` name (`platform:<uuid>`, `key:`, `user:`,
    /// `schedule:`), by target text; targets of other kinds, malformed ones and deleted objects
    /// are absent. One query per kind (per 500 ids), not one per event.
    pub async fn audit_target_names<'a>(
        &self,
        targets: impl IntoIterator<Item = &'a str>,
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        let mut ids: std::collections::HashMap<&str, Vec<Uuid>> = std::collections::HashMap::new();
        for target in targets {
            if let Some((kind, id)) = target.split_once(':')
                && let Ok(id) = Uuid::parse_str(id)
            {
                ids.entry(kind).or_default().push(id);
            }
        }
        let mut names = std::collections::HashMap::new();
        for (kind, table, column) in NAMED_TARGETS {
            let Some(wanted) = ids.get_mut(kind) else {
                continue;
            };
            wanted.sort();
            wanted.dedup();
            for (id, name) in self.names_by_id(table, column, wanted).await? {
                names.insert(format!("{kind}:{id}"), name);
            }
        }
        Ok(names)
    }
}

/// The event columns of `row` (an `audit_events` row) at `seq` after `prev_hash` under `rule`;
/// `hash` empty.
fn chained_from_row(
    row: &AnyRow,
    seq: i64,
    prev_hash: Option<String>,
    rule: HashRule,
) -> StoreResult<ChainedEvent> {
    Ok(ChainedEvent {
        seq,
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        details: row.try_get("details")?,
        prev_hash: prev_hash.unwrap_or_default(),
        rule,
        hash: String::new(),
    })
}

/// `(created_at, id)` bounds of a newest-first page, both `None` for the first page.
pub(crate) fn cursor_parts(cursor: Option<&Cursor>) -> (Option<String>, Option<String>) {
    match cursor {
        Some(c) => (Some(c.created_at.clone()), Some(c.id.clone())),
        None => (None, None),
    }
}
