//! Cross-process platform locks on PostgreSQL: a session-level advisory lock
//! (`pg_try_advisory_lock`) on a connection held for as long as the lock, so two syncs of one
//! platform's authorized_keys never overlap, whichever processes run them.

use sqlx::Any;
use sqlx::pool::PoolConnection;
use uuid::Uuid;

use super::{Backend, Store, StoreResult};

/// A held platform lock. Give it back with [`PlatformLease::release`]; dropped without that, its
/// connection is closed instead of going back to the pool (PostgreSQL then frees the lock), so a
/// pooled connection never carries a lock to another user.
pub struct PlatformLease {
    conn: Option<PoolConnection<Any>>,
    key: String,
}

fn lock_key(platform: Uuid) -> String {
    format!("testum-platform:{platform}")
}

impl Store {
    /// Try to take platform `id`'s lock without waiting: `None` when another session holds it.
    /// Only on PostgreSQL; callers on SQLite (one process) need no cross-process lock.
    pub async fn try_lock_platform(&self, id: Uuid) -> StoreResult<Option<PlatformLease>> {
        debug_assert_eq!(self.backend, Backend::Postgres);
        let mut conn = self.pool.acquire().await?;
        let key = lock_key(id);
        let taken: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&key)
                .fetch_one(&mut *conn)
                .await?;
        Ok(taken.then(|| PlatformLease {
            conn: Some(conn),
            key,
        }))
    }
}

impl PlatformLease {
    /// Unlock and give the connection back to the pool.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
                .bind(&self.key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                drop(conn.detach());
            }
        }
    }
}

impl Drop for PlatformLease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}
