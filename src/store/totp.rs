//! Two-factor state of local accounts (see [`crate::totp`]): a user's sealed TOTP secret, the
//! last time step a code was accepted for, and the hashes of its recovery codes.
//!
//! Accepting a code and spending a recovery code are each one conditional update, so of two
//! sign-ins racing with the same code (or recovery code) exactly one succeeds. Turning TOTP on,
//! off or resetting it is audited in the transaction that makes the change; the audit details
//! never hold a secret, a code or a hash.

use serde_json::json;
use sqlx::Row as _;
use uuid::Uuid;

use super::audit::insert as audit;
use super::{Actor, NewAudit, Store, StoreError, StoreResult, now_ts, parse_uuid};

/// A user's stored TOTP row.
#[derive(Debug, Clone)]
pub struct TotpRecord {
    /// The row id (part of the sealed secret's associated data, with the user's id).
    pub id: Uuid,
    /// The secret, sealed under the master key (see [`crate::totp::seal`]).
    pub sealed: Vec<u8>,
    /// Confirmed with a code; `false` while the enrolment is pending.
    pub enabled: bool,
    /// The time step of the last code accepted, if any.
    pub last_step: Option<u64>,
}

/// What the account page and the enrolment gate need to know of a user's second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpStanding {
    /// An admin marked the user `require_totp`.
    pub require_totp: bool,
    /// TOTP is on (confirmed).
    pub enabled: bool,
    /// An enrolment was started and not confirmed yet.
    pub pending: bool,
    /// Recovery codes not used yet.
    pub recovery_codes_left: i64,
    /// Who vouches for the user: `local`, `ldap`, `oidc:<name>` (an OpenID provider does its
    /// own second factor; testum's is not asked for its users).
    pub source: String,
}

impl Store {
    /// The second-factor standing of user `user_id`; `None` when there is no such user.
    pub async fn totp_standing(&self, user_id: Uuid) -> StoreResult<Option<TotpStanding>> {
        let row = sqlx::query(
            "SELECT u.require_totp, u.source, t.id AS totp_id, t.enabled_at,
                    (SELECT COUNT(*) FROM totp_recovery_codes r
                     WHERE r.user_id = u.id AND r.used_at IS NULL) AS codes_left
             FROM users u LEFT JOIN user_totp t ON t.user_id = u.id WHERE u.id = $1",
        )
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let has_row = row.try_get::<Option<String>, _>("totp_id")?.is_some();
            let enabled = row.try_get::<Option<String>, _>("enabled_at")?.is_some();
            Ok(TotpStanding {
                require_totp: row.try_get::<i64, _>("require_totp")? != 0,
                enabled,
                pending: has_row && !enabled,
                recovery_codes_left: row.try_get("codes_left")?,
                source: row.try_get("source")?,
            })
        })
        .transpose()
    }

    /// The TOTP row of user `user_id`, pending or enabled, if any.
    pub async fn user_totp(&self, user_id: Uuid) -> StoreResult<Option<TotpRecord>> {
        let row = sqlx::query(
            "SELECT id, secret, enabled_at, last_step FROM user_totp WHERE user_id = $1",
        )
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let last_step: Option<i64> = row.try_get("last_step")?;
            Ok(TotpRecord {
                id: parse_uuid(row.try_get("id")?)?,
                sealed: row.try_get("secret")?,
                enabled: row.try_get::<Option<String>, _>("enabled_at")?.is_some(),
                last_step: last_step.map(|s| s.max(0) as u64),
            })
        })
        .transpose()
    }

    /// Start an enrolment of user `user_id`: row `id` holding `sealed`, pending until
    /// [`Store::enable_totp`]; it replaces a pending one. Audited as `totp.start`.
    /// [`StoreError::Conflict`] when TOTP is on already (turn it off first).
    pub async fn start_totp(
        &self,
        actor: &Actor,
        user_id: Uuid,
        id: Uuid,
        sealed: &[u8],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let enabled: Option<Option<String>> =
            sqlx::query_scalar("SELECT enabled_at FROM user_totp WHERE user_id = $1")
                .bind(user_id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if matches!(enabled, Some(Some(_))) {
            return Err(StoreError::Conflict(
                "two-factor sign-in is on already: turn it off first to enrol another app".into(),
            ));
        }
        sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO user_totp (id, user_id, secret, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(id.to_string())
        .bind(user_id.to_string())
        .bind(sealed.to_vec())
        .bind(now_ts())
        .execute(&mut *tx)
        .await?;
        let details = json!({"replaced_pending": enabled.is_some()});
        self.commit_audited(tx, actor, "totp.start", user_id, details)
            .await
    }

    /// Turn on the pending TOTP row `id` of user `user_id`, whose code of time step `step` was
    /// just given, with new recovery codes (`recovery_hashes`, replacing any older ones).
    /// Audited as `totp.enable`. [`StoreError::Conflict`] when that enrolment is no longer
    /// pending (confirmed already, or replaced by a newer start).
    pub async fn enable_totp(
        &self,
        actor: &Actor,
        user_id: Uuid,
        id: Uuid,
        step: u64,
        recovery_hashes: &[String],
    ) -> StoreResult<()> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let enabled = sqlx::query(
            "UPDATE user_totp SET enabled_at = $3, last_step = $4
             WHERE id = $1 AND user_id = $2 AND enabled_at IS NULL",
        )
        .bind(id.to_string())
        .bind(user_id.to_string())
        .bind(&now)
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        if enabled.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "no enrolment is waiting for a code: start again".into(),
            ));
        }
        sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        for hash in recovery_hashes {
            sqlx::query(
                "INSERT INTO totp_recovery_codes (user_id, code_hash, created_at)
                 VALUES ($1, $2, $3)",
            )
            .bind(user_id.to_string())
            .bind(hash)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        let details = json!({"recovery_codes": recovery_hashes.len()});
        self.commit_audited(tx, actor, "totp.enable", user_id, details)
            .await
    }

    /// Record that a code of time step `step` was accepted for the enabled TOTP row `id` of
    /// user `user_id`; `false` when a code of that step or a later one was accepted before (a
    /// replay, or a race lost to another sign-in with the same code) or the row is gone.
    pub async fn accept_totp_step(&self, user_id: Uuid, id: Uuid, step: u64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_totp SET last_step = $3
             WHERE id = $1 AND user_id = $2 AND enabled_at IS NOT NULL
               AND (last_step IS NULL OR last_step < $3)",
        )
        .bind(id.to_string())
        .bind(user_id.to_string())
        .bind(i64::try_from(step).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spend the unused recovery code of user `user_id` whose hash is `code_hash`; how many are
    /// left afterwards, or `None` when there is no such unused code.
    pub async fn use_recovery_code(
        &self,
        user_id: Uuid,
        code_hash: &str,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.write_tx().await?;
        let used = sqlx::query(
            "UPDATE totp_recovery_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id.to_string())
        .bind(code_hash)
        .bind(now_ts())
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id.to_string())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(left))
    }

    /// Remove user `user_id`'s TOTP (enabled or pending) and its recovery codes, audited as
    /// `action` (`totp.disable` by the user, `totp.reset` by an admin) with `details`.
    /// [`StoreError::NotFound`] when the user has none.
    pub async fn remove_totp(
        &self,
        actor: &Actor,
        user_id: Uuid,
        action: &str,
        mut details: serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let removed = sqlx::query("DELETE FROM user_totp WHERE user_id = $1 RETURNING enabled_at")
            .bind(user_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(removed) = removed else {
            return Err(StoreError::NotFound);
        };
        sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(&mut *tx)
            .await?;
        details["was_enabled"] = json!(
            removed
                .try_get::<Option<String>, _>("enabled_at")?
                .is_some()
        );
        self.commit_audited(tx, actor, action, user_id, details)
            .await
    }

    /// Record `action` on user `user_id` by `actor` with `details` in `tx`, and commit it.
    async fn commit_audited(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        actor: &Actor,
        action: &str,
        user_id: Uuid,
        details: serde_json::Value,
    ) -> StoreResult<()> {
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action,
                target: Some(format!("user:{user_id}")),
                outcome: "success",
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
