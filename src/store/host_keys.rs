//! Host keys pinned from an imported known_hosts file (see [`crate::known_hosts`]).

use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::audit::insert as audit;
use super::{Actor, NewAudit, Store, StoreResult, now_ts, parse_uuid};
use crate::known_hosts::PlatformPin;

/// A host key to pin for a platform, and the known_hosts line it came from.
#[derive(Debug, Clone)]
pub struct ImportedPin {
    pub platform_id: Uuid,
    pub key_type: String,
    /// `SHA256:...`.
    pub fingerprint: String,
    /// 1-based line number in the imported text.
    pub line: usize,
}

impl Store {
    /// Every platform's id, name, address and pinned fingerprint, by name.
    pub async fn platform_pins(&self) -> StoreResult<Vec<PlatformPin>> {
        let rows = sqlx::query(
            "SELECT id, name, host, port, host_key_fingerprint FROM platforms ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let port: i64 = row.try_get("port")?;
                Ok(PlatformPin {
                    id: parse_uuid(row.try_get("id")?)?,
                    name: row.try_get("name")?,
                    host: row.try_get("host")?,
                    port: u16::try_from(port)
                        .map_err(|_| super::StoreError::Corrupt(format!("platform port {port}")))?,
                    pinned: row.try_get("host_key_fingerprint")?,
                })
            })
            .collect()
    }

    /// Pin every one of `pins` whose platform still has no pin, all in one transaction, each
    /// with a `host_key.import` audit event (old pin none, new pin, line). Returns, per pin,
    /// whether it was written: `false` when the platform got a pin meanwhile (a first connection
    /// under TOFU, a concurrent import) or is gone; such a pin is never overwritten.
    pub async fn import_host_keys(
        &self,
        actor: &Actor,
        pins: &[ImportedPin],
    ) -> StoreResult<Vec<bool>> {
        let mut tx = self.write_tx().await?;
        let mut written = Vec::with_capacity(pins.len());
        for pin in pins {
            let done = sqlx::query(
                "UPDATE platforms SET host_key_type = $2, host_key_fingerprint = $3, updated_at = $4
                 WHERE id = $1 AND host_key_fingerprint IS NULL",
            )
            .bind(pin.platform_id.to_string())
            .bind(&pin.key_type)
            .bind(&pin.fingerprint)
            .bind(now_ts())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            written.push(done);
        }
        // Audits last: on PostgreSQL an audit append holds the chain lock until commit, so no
        // row lock may be taken after it (see `audit::insert`).
        for (pin, _) in pins.iter().zip(&written).filter(|(_, done)| **done) {
            audit(
                &mut tx,
                self.chain_key(),
                NewAudit {
                    actor,
                    action: "host_key.import",
                    target: Some(format!("platform:{}", pin.platform_id)),
                    outcome: "success",
                    details: json!({
                        "line": pin.line,
                        "old": {"key_type": null, "fingerprint": null},
                        "new": {"key_type": pin.key_type, "fingerprint": pin.fingerprint},
                    }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(written)
    }
}
