//! Every value sealed under the master key, re-sealed at once (for `testum rotate-master-key`).

use serde_json::json;
use sqlx::Row as _;
use uuid::Uuid;

use super::audit::{NewAudit, insert as audit};
use super::{Actor, Backend, Store, StoreError, parse_uuid};

/// A sealed value, named so the caller can rebuild its associated data.
#[derive(Debug, Clone, Copy)]
pub enum Sealed<'a> {
    /// `platforms.credential` of the platform with this id.
    PlatformCredential(Uuid),
    /// `settings.value` of the setting with this name.
    Setting(&'a str),
    /// `notification_endpoints.sealed` (URL and secret) of the endpoint with this id.
    NotificationEndpoint(Uuid),
    /// `user_totp.secret` of TOTP row `row` of user `user`.
    TotpSecret { row: Uuid, user: Uuid },
}

impl Store {
    /// In ONE write transaction, replace every platform credential, notification endpoint, TOTP
    /// secret and each of the `settings` (those that exist) by what `reseal` makes of it, and
    /// record `master_key.rotate` with `details` plus the counts of each kind. Any error of
    /// `reseal` or the database rolls the whole transaction back. On PostgreSQL the sealing tables are locked against writers (reads
    /// go on) for the duration, so no credential written meanwhile is missed.
    pub async fn reseal_all<E: From<StoreError>>(
        &self,
        settings: &[&str],
        mut details: serde_json::Value,
        mut reseal: impl FnMut(Sealed<'_>, &[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<usize, E> {
        let mut tx = self.write_tx().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("LOCK TABLE platforms, settings, notification_endpoints, user_totp IN EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        let rows = sqlx::query("SELECT id, credential FROM platforms ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        for row in &rows {
            let id = parse_uuid(row.try_get("id").map_err(StoreError::from)?)?;
            let sealed: Vec<u8> = row.try_get("credential").map_err(StoreError::from)?;
            let resealed = reseal(Sealed::PlatformCredential(id), &sealed)?;
            sqlx::query("UPDATE platforms SET credential = $1 WHERE id = $2")
                .bind(resealed)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        let endpoints = sqlx::query("SELECT id, sealed FROM notification_endpoints ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        for row in &endpoints {
            let id = parse_uuid(row.try_get("id").map_err(StoreError::from)?)?;
            let sealed: Vec<u8> = row.try_get("sealed").map_err(StoreError::from)?;
            let resealed = reseal(Sealed::NotificationEndpoint(id), &sealed)?;
            sqlx::query("UPDATE notification_endpoints SET sealed = $1 WHERE id = $2")
                .bind(resealed)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        let totp = sqlx::query("SELECT id, user_id, secret FROM user_totp ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        for row in &totp {
            let id = parse_uuid(row.try_get("id").map_err(StoreError::from)?)?;
            let user = parse_uuid(row.try_get("user_id").map_err(StoreError::from)?)?;
            let sealed: Vec<u8> = row.try_get("secret").map_err(StoreError::from)?;
            let resealed = reseal(Sealed::TotpSecret { row: id, user }, &sealed)?;
            sqlx::query("UPDATE user_totp SET secret = $1 WHERE id = $2")
                .bind(resealed)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        }
        for name in settings {
            let value: Option<Vec<u8>> =
                sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                    .bind(*name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            if let Some(value) = value {
                let resealed = reseal(Sealed::Setting(name), &value)?;
                sqlx::query("UPDATE settings SET value = $1 WHERE name = $2")
                    .bind(resealed)
                    .bind(*name)
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            }
        }
        details["credentials"] = json!(rows.len());
        details["notification_endpoints"] = json!(endpoints.len());
        details["totp_secrets"] = json!(totp.len());
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor: &Actor::system(),
                action: "master_key.rotate",
                target: None,
                outcome: "success",
                details,
            },
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(rows.len())
    }
}
