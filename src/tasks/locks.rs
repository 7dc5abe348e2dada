//! Per-platform locks so two syncs of one platform's authorized_keys never overlap, in this
//! process or any other: an in-process mutex (so local contenders wait without touching the
//! database), then the platform's lease row in the store ([`Store::try_take_lease`]), which holds
//! no database connection while the sync runs and is renewed by the worker's heartbeat. (The
//! remote write's compare-and-swap protects against every other writer.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::store::{Store, StoreResult, platform_lease};

/// How often a sync waiting for another process's lease tries again.
const RETRY: Duration = Duration::from_millis(200);

/// A lock per platform id, created on demand and dropped when unused.
#[derive(Default, Clone)]
pub struct PlatformLocks {
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A held platform lock; [`PlatformGuard::release`] gives it back. Dropped without that (a
/// panic, an abort at shutdown), the lease row stays until it expires, one lease period after the
/// last heartbeat.
pub struct PlatformGuard {
    _local: OwnedMutexGuard<()>,
    store: Store,
    name: String,
    owner: String,
}

impl PlatformGuard {
    /// Give the lock back.
    pub async fn release(self) {
        if let Err(e) = self.store.release_lease(&self.name, &self.owner).await {
            tracing::warn!(lease = %self.name, error = %e,
                           "releasing a platform lease failed; it expires by itself");
        }
    }
}

impl PlatformLocks {
    /// Wait for and take the lock of `platform` on behalf of `worker` (whose heartbeat renews it
    /// for `lease` at a time): first in this process, then across processes, polling every
    /// 200 ms without holding a database connection meanwhile.
    pub async fn lock(
        &self,
        store: &Store,
        platform: Uuid,
        worker: &str,
        lease: Duration,
    ) -> StoreResult<PlatformGuard> {
        let local = self.lock_local(platform).await;
        let name = platform_lease(platform);
        let owner = format!("{worker}/{}", Uuid::new_v4());
        while !store.try_take_lease(&name, &owner, worker, lease).await? {
            tokio::time::sleep(RETRY).await;
        }
        Ok(PlatformGuard {
            _local: local,
            store: store.clone(),
            name,
            owner,
        })
    }

    async fn lock_local(&self, platform: Uuid) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            locks.entry(platform).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_locker_waits_for_the_first() {
        let locks = PlatformLocks::default();
        let id = Uuid::new_v4();
        let first = locks.lock_local(id).await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock_local(id)).await;
        assert!(second.is_err(), "lock was taken twice");
        let other =
            tokio::time::timeout(Duration::from_millis(50), locks.lock_local(Uuid::new_v4())).await;
        assert!(other.is_ok(), "another platform's lock was blocked");
        drop(first);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), locks.lock_local(id))
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn lockers_with_their_own_mutexes_are_kept_apart_by_the_lease() {
        // Two workers (two PlatformLocks, as in two processes) on one database.
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("t.db"));
        let store = Store::open(&url, crate::store::PoolConfig::default())
            .await
            .unwrap();
        let (a, b) = (PlatformLocks::default(), PlatformLocks::default());
        let id = Uuid::new_v4();
        let lease = Duration::from_secs(30);
        let held = a.lock(&store, id, "w1", lease).await.unwrap();
        let waiting =
            tokio::time::timeout(Duration::from_millis(600), b.lock(&store, id, "w2", lease)).await;
        assert!(waiting.is_err(), "the second worker took a held platform");
        held.release().await;
        let second = tokio::time::timeout(Duration::from_secs(2), b.lock(&store, id, "w2", lease))
            .await
            .expect("the lease was released")
            .unwrap();
        second.release().await;
    }
}
