//! Sign-in sessions: chains of refresh tokens behind the `sid` claim of access tokens.
//!
//! A login starts a chain whose id (`family_id`) every access token of the session carries as
//! `sid`. Each refresh spends the chain's current row and adds the next one; a spent token shown
//! again means it was copied, so the whole chain is revoked (OAuth 2.0 Security BCP, RFC 9700
//! §4.14.2, refresh token rotation). A session is alive while its chain has an unspent,
//! unrevoked, unexpired row and its user is enabled; [`Store::session_user`] checks that in one
//! indexed query on every request, so logout, disabling a user and a password change take effect
//! at once. Tokens are stored as SHA-256 hashes only ([`crate::opaque_token`]).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::role::Role;

use super::audit::insert as audit;
use super::users::parse_fleet_role;
use super::{Actor, NewAudit, Store, StoreResult, now_ts, parse_uuid, ts};

/// The user behind a live session or API token, as read on each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user_id: Uuid,
    pub username: String,
    /// The user's own fleet-wide role now (`None`: only what grants give).
    pub role: Option<Role>,
    /// For an API token: the token's role, which caps every role the user holds.
    pub token_role: Option<Role>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The token was current: it is spent now, and `new_hash` continues the chain `family_id`.
    Rotated { family_id: Uuid, user: SignedIn },
    /// The token had been spent before: the chain `family_id` is revoked (and audited).
    Reused { family_id: Uuid },
    /// Unknown, expired or revoked token, or a disabled user.
    Refused,
}

pub(crate) fn signed_in(row: &AnyRow) -> StoreResult<SignedIn> {
    Ok(SignedIn {
        user_id: parse_uuid(row.try_get("user_id")?)?,
        username: row.try_get("username")?,
        role: parse_fleet_role(row.try_get("role")?)?,
        token_role: None,
    })
}

/// Insert the row of refresh token `token_hash` continuing chain `family_id` of `user_id`.
async fn insert_row(
    conn: &mut AnyConnection,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, family_id, user_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(family_id.to_string())
    .bind(user_id.to_string())
    .bind(token_hash)
    .bind(now_ts())
    .bind(ts(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Revoke every session of `user_id` on `conn`: refresh-token chains (so their access tokens
/// stop too) and web UI cookie sessions; how many chains and cookie sessions were live.
pub(crate) async fn end_sessions_of(conn: &mut AnyConnection, user_id: Uuid) -> StoreResult<u64> {
    let result = sqlx::query(
        "UPDATE sessions SET revoked_at = $2
         WHERE user_id = $1 AND revoked_at IS NULL AND spent_at IS NULL",
    )
    .bind(user_id.to_string())
    .bind(now_ts())
    .execute(&mut *conn)
    .await?;
    // Spent rows of those chains are revoked too, so reusing one later is plainly refused.
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(user_id.to_string())
        .bind(now_ts())
        .execute(&mut *conn)
        .await?;
    // The web UI's cookie sessions end with them.
    let browser = sqlx::query("DELETE FROM ui_sessions WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(conn)
        .await?;
    Ok(result.rows_affected() + browser.rows_affected())
}

impl Store {
    /// Start a session of `user_id` whose first refresh token hashes to `token_hash` and is valid
    /// until `expires_at`; its chain id (the `sid` claim). The user's expired rows are dropped
    /// on the way, so the table does not grow without bound.
    pub async fn start_session(
        &self,
        user_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Uuid> {
        let family_id = Uuid::new_v4();
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at < $2")
            .bind(user_id.to_string())
            .bind(now_ts())
            .execute(&mut *tx)
            .await?;
        insert_row(&mut tx, family_id, user_id, token_hash, expires_at).await?;
        tx.commit().await?;
        Ok(family_id)
    }

    /// The enabled user of live session `family_id`, with the role it has now; `None` when the
    /// session was ended, expired, or its user is disabled or deleted.
    pub async fn session_user(&self, family_id: Uuid) -> StoreResult<Option<SignedIn>> {
        let row = sqlx::query(
            "SELECT u.id AS user_id, u.username, u.role FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.family_id = $1 AND s.spent_at IS NULL AND s.revoked_at IS NULL
               AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(family_id.to_string())
        .bind(now_ts())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(signed_in).transpose()
    }

    /// Spend refresh token `token_hash` and continue its chain with `new_hash`, valid until
    /// `expires_at`. The spend is one conditional update, so of two requests racing with the same
    /// token exactly one rotates and the other counts as reuse. Reuse revokes the chain and is
    /// audited as `auth.refresh` with outcome `denied`, in the same transaction.
    pub async fn refresh_session(
        &self,
        token_hash: &str,
        new_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Refresh> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let spent = sqlx::query(
            "UPDATE sessions SET spent_at = $2
             WHERE token_hash = $1 AND spent_at IS NULL AND revoked_at IS NULL AND expires_at > $2
             RETURNING family_id, user_id",
        )
        .bind(token_hash)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = spent {
            let family_id = parse_uuid(row.try_get("family_id")?)?;
            let user_id = parse_uuid(row.try_get("user_id")?)?;
            let user = sqlx::query(
                "SELECT id AS user_id, username, role FROM users WHERE id = $1 AND disabled = 0",
            )
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user) = user.as_ref().map(signed_in).transpose()? else {
                return Ok(Refresh::Refused);
            };
            insert_row(&mut tx, family_id, user_id, new_hash, expires_at).await?;
            tx.commit().await?;
            return Ok(Refresh::Rotated { family_id, user });
        }
        let reused = sqlx::query(
            "SELECT s.family_id, s.user_id, u.username FROM sessions s
             JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.spent_at IS NOT NULL AND s.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = reused else {
            return Ok(Refresh::Refused);
        };
        let family_id = parse_uuid(row.try_get("family_id")?)?;
        let actor = Actor {
            user_id: Some(parse_uuid(row.try_get("user_id")?)?),
            name: row.try_get("username")?,
        };
        let revoked = revoke_chain(&mut tx, family_id).await?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor: &actor,
                action: "auth.refresh",
                target: Some(format!("session:{family_id}")),
                outcome: "denied",
                details: json!({
                    "reason": "a spent refresh token was presented again; the session is revoked",
                    "rows_revoked": revoked,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Refresh::Reused { family_id })
    }

    /// Log out: revoke session `family_id` of `actor`, audited as `auth.logout`.
    pub async fn end_session(&self, actor: &Actor, family_id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        revoke_chain(&mut tx, family_id).await?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "auth.logout",
                target: Some(format!("session:{family_id}")),
                outcome: "success",
                details: json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// End every session of `user_id` at once (its access tokens are refused from the next
    /// request on); how many sessions were live. Used when a user is disabled or its password
    /// changes ([`Store::update_user`] does that in its own transaction).
    pub async fn end_user_sessions(&self, user_id: Uuid) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let ended = end_sessions_of(&mut tx, user_id).await?;
        tx.commit().await?;
        Ok(ended)
    }
}

/// Revoke every row of chain `family_id`; how many rows were still unrevoked.
async fn revoke_chain(conn: &mut AnyConnection, family_id: Uuid) -> StoreResult<u64> {
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id.to_string())
    .bind(now_ts())
    .execute(conn)
    .await?
    .rows_affected())
}
