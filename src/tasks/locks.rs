//! Per-platform locks so two syncs of one platform's authorized_keys never overlap: an in-process
//! mutex, plus on PostgreSQL an advisory lock that excludes other processes too. (The remote
//! write's compare-and-swap protects against every other writer.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::store::{Backend, PlatformLease, Store, StoreResult};

/// How often a sync waiting for another process's lock tries again.
const RETRY: Duration = Duration::from_millis(100);

/// A lock per platform id, created on demand and dropped when unused.
#[derive(Default, Clone)]
pub struct PlatformLocks {
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

/// A held platform lock; [`PlatformGuard::release`] gives it back.
pub struct PlatformGuard {
    _local: OwnedMutexGuard<()>,
    remote: Option<PlatformLease>,
}

impl PlatformGuard {
    /// Give the lock back (the cross-process part explicitly, so its connection can be reused).
    pub async fn release(self) {
        if let Some(remote) = self.remote {
            remote.release().await;
        }
    }
}

impl PlatformLocks {
    /// Wait for and take the lock of `platform`: first in this process, then, on PostgreSQL,
    /// across processes (polling every 100 ms, without holding a pooled connection meanwhile).
    pub async fn lock(&self, store: &Store, platform: Uuid) -> StoreResult<PlatformGuard> {
        let local = self.lock_local(platform).await;
        let remote = match store.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => loop {
                if let Some(lease) = store.try_lock_platform(platform).await? {
                    break Some(lease);
                }
                tokio::time::sleep(RETRY).await;
            },
        };
        Ok(PlatformGuard {
            _local: local,
            remote,
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
}
