//! Which processes use the database: every `testum serve` and `testum worker` holds a shared
//! claim for its whole life; `testum rotate-master-key` needs the claim exclusively, so it
//! refuses to run while any of them is up (a running process keeps sealing credentials under the
//! old key, which would be lost once the key file is replaced).
//!
//! SQLite: an advisory file lock (`flock`, via `std::fs::File::lock_shared`/`try_lock`) on
//! `<database>.inuse` beside the database file. PostgreSQL: a session-level advisory lock
//! (`pg_advisory_lock_shared` / `pg_try_advisory_lock`) on a connection taken out of the pool and
//! kept open. Both go away with the process, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use sqlx::AnyConnection;
use sqlx::Connection as _;

use super::{Backend, Store, StoreError, StoreResult};

/// Advisory lock key of "a testum process uses this database" (PostgreSQL).
const PG_LOCK_KEY: i64 = 0x7465_7374_756d_0001;

/// A claim on the database; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InUse {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    /// The lock file, locked (the lock goes with the descriptor).
    File { _locked: File },
    /// The session that holds the advisory lock.
    Postgres { _session: AnyConnection },
    /// An in-memory SQLite database: no other process can see it.
    Nothing,
}

impl Store {
    /// Mark the database as used by this process (shared with the other testum processes) until
    /// the returned claim is dropped.
    pub async fn mark_in_use(&self) -> StoreResult<InUse> {
        let held = match self.lock_file()? {
            LockTarget::File(file) => {
                file.lock_shared()?;
                Held::File { _locked: file }
            }
            LockTarget::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock_shared($1)")
                    .bind(PG_LOCK_KEY)
                    .execute(&mut conn)
                    .await?;
                Held::Postgres { _session: conn }
            }
            LockTarget::Nothing => Held::Nothing,
        };
        Ok(InUse { _held: held })
    }

    /// Claim the database for this process alone, at once: [`StoreError::Conflict`] when any
    /// other testum process (serve or worker) is using it.
    pub async fn claim_exclusive(&self) -> StoreResult<InUse> {
        let busy = || {
            StoreError::Conflict(
                "a testum process (serve or worker) is using this database: stop them all first"
                    .into(),
            )
        };
        let held = match self.lock_file()? {
            LockTarget::File(file) => match file.try_lock() {
                Ok(()) => Held::File { _locked: file },
                Err(TryLockError::WouldBlock) => return Err(busy()),
                Err(TryLockError::Error(e)) => return Err(e.into()),
            },
            LockTarget::Postgres => {
                let mut conn = self.pool.acquire().await?.detach();
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(PG_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await?;
                if !got {
                    conn.close().await.ok();
                    return Err(busy());
                }
                Held::Postgres { _session: conn }
            }
            LockTarget::Nothing => Held::Nothing,
        };
        Ok(InUse { _held: held })
    }

    fn lock_file(&self) -> StoreResult<LockTarget> {
        match (self.backend, &self.sqlite_path) {
            (Backend::Postgres, _) => Ok(LockTarget::Postgres),
            (Backend::Sqlite, None) => Ok(LockTarget::Nothing),
            (Backend::Sqlite, Some(path)) => {
                // The real file, so a symlink or `..` in the URL names the same lock.
                let path = std::fs::canonicalize(path)?;
                let mut name = path.into_os_string();
                name.push(".inuse");
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .open(PathBuf::from(name))?;
                Ok(LockTarget::File(file))
            }
        }
    }
}

enum LockTarget {
    File(File),
    Postgres,
    Nothing,
}
