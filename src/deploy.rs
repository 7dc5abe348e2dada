//! Remote side of deploy and revoke: read a platform's authorized_keys over SSH, apply the desired
//! managed lines with the pure engine, and write the result atomically with compare-and-swap.
//! (INTERFACE STUB: to be implemented.)

use crate::ssh::{Session, SshError};

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    /// The file was rewritten.
    pub changed: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error("{0}")]
    Remote(String),
}

/// Make the managed block of the authorized_keys file at `path` (relative to the login user's home,
/// or absolute) hold exactly `desired` lines.
pub async fn sync_authorized_keys(
    session: &Session,
    path: &str,
    desired: &[String],
) -> Result<SyncOutcome, SyncError> {
    let _ = (session, path, desired);
    Err(SyncError::Remote("not implemented".into()))
}
