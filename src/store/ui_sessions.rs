//! Browser sessions of the web UI (table `ui_sessions`, migration 0006): opaque cookie tokens,
//! stored as SHA-256 hashes, each with an expiry and the user it signs in.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::audit::insert as audit;
use super::{Actor, NewAudit, SignedIn, Store, StoreResult, now_ts, parse_uuid, ts};

impl Store {
    /// Record a browser session for `user_id` whose token hashes to `token_hash` (hex SHA-256),
    /// valid until `expires_at`.
    pub async fn create_browser_session(
        &self,
        user_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ui_sessions (id, token_hash, user_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(token_hash)
        .bind(user_id.to_string())
        .bind(now_ts())
        .bind(ts(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of the unexpired session whose token hashes to `token_hash`, if that user is
    /// still enabled; `None` otherwise. One indexed lookup.
    pub async fn browser_session(&self, token_hash: &str) -> StoreResult<Option<SignedIn>> {
        let row = sqlx::query(
            "SELECT u.id AS user_id, u.username, u.role FROM ui_sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(token_hash)
        .bind(now_ts())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(super::sessions::signed_in).transpose()
    }

    /// End the session whose token hashes to `token_hash` (logout), audited as `auth.logout`
    /// (target `ui_session:<id>`, like the API's logout) in the same transaction; expired
    /// sessions are swept on the way. `false` (and no audit event) when there was no such live
    /// session.
    pub async fn end_browser_session(&self, token_hash: &str) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT s.id, u.id AS user_id, u.username FROM ui_sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ts())
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM ui_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now_ts())
            .execute(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(false);
        };
        let session: String = row.try_get("id")?;
        let actor = Actor {
            user_id: Some(parse_uuid(row.try_get("user_id")?)?),
            name: row.try_get("username")?,
        };
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor: &actor,
                action: "auth.logout",
                target: Some(format!("ui_session:{session}")),
                outcome: "success",
                details: json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
