//! Leases: named exclusive locks kept in a row of the `leases` table rather than on a database
//! connection, so no pooled connection is held while the guarded work runs (a sync of one
//! platform's authorized_keys over SSH, a background job).
//!
//! A lease has one `owner` (a token unique to one holding: a sync, a job run) and the `worker`
//! whose heartbeat renews it ([`Store::renew_leases`] renews a worker's target claims and its
//! leases together). Taking a lease is one upsert that succeeds only when no row exists or the
//! existing one has expired, so a crashed process's leases free themselves after one lease period,
//! on SQLite and PostgreSQL alike, and across any number of processes.

use chrono::{Duration as ChronoDuration, Utc};
use uuid::Uuid;

use super::{Store, StoreResult, ts};

/// The lease name of platform `id`'s authorized_keys: one sync at a time.
pub fn platform_lease(id: Uuid) -> String {
    format!("platform:{id}")
}

impl Store {
    /// Take lease `name` for `owner` (renewed by `worker`'s heartbeat) for `ttl`, without waiting.
    /// `true` when taken: no one held it, or the holder's lease had expired. `false` when another
    /// owner holds it (also when `owner` itself does: leases do not nest).
    pub async fn try_take_lease(
        &self,
        name: &str,
        owner: &str,
        worker: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        let now = Utc::now();
        let expires = now + ChronoDuration::from_std(ttl).unwrap_or(ChronoDuration::seconds(30));
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, owner, worker, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, worker = excluded.worker,
                 expires_at = excluded.expires_at
             WHERE leases.expires_at < $5
             RETURNING owner",
        )
        .bind(name)
        .bind(owner)
        .bind(worker)
        .bind(ts(expires))
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(taken.as_deref() == Some(owner))
    }

    /// Give lease `name` back, if `owner` still holds it (an expired and re-taken lease belongs
    /// to its new owner and is left alone).
    pub async fn release_lease(&self, name: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::PoolConfig;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("t.db"));
        let store = Store::open(&url, PoolConfig::default()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn one_owner_at_a_time_until_release_or_expiry() {
        let (_dir, store) = store().await;
        let long = Duration::from_secs(60);
        assert!(store.try_take_lease("x", "a", "w1", long).await.unwrap());
        assert!(!store.try_take_lease("x", "b", "w2", long).await.unwrap());
        assert!(
            !store.try_take_lease("x", "a", "w1", long).await.unwrap(),
            "no nesting"
        );
        assert!(store.try_take_lease("y", "b", "w2", long).await.unwrap());
        // Only the owner's release frees it.
        store.release_lease("x", "b").await.unwrap();
        assert!(!store.try_take_lease("x", "c", "w2", long).await.unwrap());
        store.release_lease("x", "a").await.unwrap();
        assert!(store.try_take_lease("x", "c", "w2", long).await.unwrap());
        // An expired lease is free to take.
        assert!(
            store
                .try_take_lease("z", "d", "w3", Duration::ZERO)
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(store.try_take_lease("z", "e", "w2", long).await.unwrap());
    }
}
