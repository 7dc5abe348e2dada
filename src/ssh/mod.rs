//! The SSH engine: an async russh client that connects to one platform, checks its host key against
//! the pin, authenticates by password or private key, and runs commands with stdout and stderr kept
//! apart. (INTERFACE STUB: to be implemented.)

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::secret::Secret;

/// How testum logs in to a platform.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Password authentication.
    Password(Secret),
    /// Public-key authentication with an OpenSSH-format private key (PEM text).
    PrivateKey {
        private_key: Secret,
        passphrase: Option<Secret>,
    },
}

/// Host-key policy of a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Trust on first use: accept and pin the first key seen, refuse any later change.
    Tofu,
    /// Refuse unless a fingerprint was pinned up front.
    Strict,
}

/// A host key as testum pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Algorithm, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:...` as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

/// Everything needed to open a session to one platform.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credential: Credential,
    pub policy: HostKeyPolicy,
    /// The pinned host key, if any.
    pub pinned: Option<HostKey>,
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a remote command ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitStatus {
    /// Exit status, when the server reported one.
    pub code: Option<u32>,
    /// Signal name without `SIG` (e.g. `KILL`), when the command was killed by a signal.
    pub signal: Option<String>,
    /// The command ran past its timeout and was terminated.
    pub timed_out: bool,
}

/// Why an SSH operation failed. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("host key mismatch: pinned {pinned}, presented {presented}")]
    HostKeyMismatch { pinned: String, presented: String },
    #[error("authentication failed")]
    AuthFailed,
    #[error("ssh error: {0}")]
    Protocol(String),
}

/// An authenticated SSH connection.
pub struct Session {
    /// The host key the server presented (to be pinned by the caller on first use).
    pub host_key: HostKey,
}

/// Open and authenticate a connection.
pub async fn connect(params: &ConnectParams) -> Result<Session, SshError> {
    let _ = params;
    Err(SshError::Protocol("not implemented".into()))
}

impl Session {
    /// Run `command`; output chunks go to `output` as they arrive (bounded channel: a slow consumer
    /// slows the remote side instead of growing memory). `stdin` is sent then closed (EOF), or
    /// closed at once when `None`. On `timeout` the remote command is terminated.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
        output: mpsc::Sender<(Stream, Bytes)>,
    ) -> Result<ExitStatus, SshError> {
        let _ = (command, stdin, timeout, output);
        Err(SshError::Protocol("not implemented".into()))
    }
}
