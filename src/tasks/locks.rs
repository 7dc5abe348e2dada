//! Per-platform locks so two syncs of one platform's authorized_keys never overlap in this
//! process. (The remote write's compare-and-swap protects against every other writer.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// A lock per platform id, created on demand and dropped when unused.
#[derive(Default, Clone)]
pub struct PlatformLocks {
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
}

impl PlatformLocks {
    /// Wait for and take the lock of `platform`.
    pub async fn lock(&self, platform: Uuid) -> OwnedMutexGuard<()> {
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
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn second_locker_waits_for_the_first() {
        let locks = PlatformLocks::default();
        let id = Uuid::new_v4();
        let first = locks.lock(id).await;
        let second = tokio::time::timeout(Duration::from_millis(50), locks.lock(id)).await;
        assert!(second.is_err(), "lock was taken twice");
        let other =
            tokio::time::timeout(Duration::from_millis(50), locks.lock(Uuid::new_v4())).await;
        assert!(other.is_ok(), "another platform's lock was blocked");
        drop(first);
        assert!(
            tokio::time::timeout(Duration::from_secs(1), locks.lock(id))
                .await
                .is_ok()
        );
    }
}
