//! The SSH engine: an async russh client that connects to one platform, checks its host key against
//! the pin, authenticates by password or private key, and runs commands with stdout and stderr kept
//! apart.
//!
//! - [`connect`] opens a TCP connection, runs the key exchange, checks the host key
//!   ([`handler`]) and authenticates ([`auth`]); the whole sequence is bounded by
//!   [`ConnectParams::connect_timeout`].
//! - [`Session::exec`] runs one command in a new session channel (RFC 4254 section 6.5) and streams
//!   its output chunk by chunk into a bounded channel ([`exec`]).
//! - [`parse_private_key`] validates a private key and passphrase without touching the network (the
//!   API uses it to answer 422 before a credential is stored).
//!
//! No error message produced here contains a password, private key or passphrase.
//!
//! Layering: the SSH engine depends only on leaves (`secret`, `words`, `shell` for quoting,
//! `metrics` for its timings); the task engine and the API use it.

mod auth;
mod exec;
mod handler;
mod short_scalar;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use russh::client;
use tokio::sync::mpsc;

use crate::secret::Secret;

pub use auth::{parse_private_key, private_key_public_line};
pub use exec::{Output, sudo_hint};

crate::words! {
    /// How a platform's credential logs in, as stored beside it (`password`, `private_key`).
    pub enum AuthMethod {
        /// [`Credential::Password`].
        Password => "password",
        /// [`Credential::PrivateKey`].
        PrivateKey => "private_key",
    }
}

/// How testum logs in to a platform.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Password authentication (RFC 4252 section 8).
    Password(Secret),
    /// Public-key authentication (RFC 4252 section 7) with a private key in OpenSSH, PKCS#1,
    /// PKCS#8 or PuTTY format (PEM text). Ed25519, ECDSA (P-256/384/521) and RSA keys are
    /// accepted; RSA signs with `rsa-sha2-512`/`rsa-sha2-256` (RFC 8332), never SHA-1.
    PrivateKey {
        /// The private key text.
        private_key: Secret,
        /// Passphrase of an encrypted private key.
        passphrase: Option<Secret>,
    },
}

impl Credential {
    /// The [`AuthMethod`] of this credential.
    pub fn method(&self) -> AuthMethod {
        match self {
            Credential::Password(_) => AuthMethod::Password,
            Credential::PrivateKey { .. } => AuthMethod::PrivateKey,
        }
    }
}

crate::words! {
    /// Host-key policy of a platform (`tofu` or `strict`); decoded from the database strictly, so
    /// a value testum does not know fails the platform's targets instead of trusting a key.
    pub enum HostKeyPolicy {
        /// Trust on first use: accept and pin the first key seen, refuse any later change.
        Tofu => "tofu",
        /// Refuse unless a fingerprint was pinned up front.
        Strict => "strict",
    }
}

/// A host key as testum pins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Key type of the key blob, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256` or `ssh-rsa` (never a
    /// signature algorithm name such as `rsa-sha2-512`).
    pub key_type: String,
    /// `SHA256:...` (unpadded base64 of the SHA-256 of the key blob) as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

/// Everything needed to open a session to one platform.
#[derive(Debug, Clone)]
pub struct ConnectParams {
    /// Host name or IP address literal.
    pub host: String,
    /// TCP port (usually 22).
    pub port: u16,
    /// Login user name.
    pub username: String,
    /// How to authenticate.
    pub credential: Credential,
    /// Host-key policy.
    pub policy: HostKeyPolicy,
    /// The pinned host key, if any. When set, its key type is preferred in the host-key algorithm
    /// negotiation so that a server with several host keys presents the pinned one.
    pub pinned: Option<HostKey>,
    /// Upper bound for TCP connect, key exchange and authentication together.
    pub connect_timeout: Duration,
    /// Interval of `keepalive@openssh.com` requests when the server is silent; after 3 unanswered
    /// keepalives the connection is dropped. `Duration::ZERO` disables keepalives.
    pub keepalive_interval: Duration,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Channel data (RFC 4254 section 5.2).
    Stdout,
    /// Extended data of type 1, `SSH_EXTENDED_DATA_STDERR` (RFC 4254 section 5.2).
    Stderr,
}

/// How a remote command ended.
///
/// Exactly one of `code` and `signal` is normally set (RFC 4254 section 6.10); both are `None`
/// when the server closed the channel without reporting either (e.g. after a timeout that could
/// not be confirmed). A command with a `signal`, with `timed_out`, or without any status is never
/// a success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExitStatus {
    /// Exit status, when the server reported one (`exit-status`).
    pub code: Option<u32>,
    /// Signal name without `SIG` (e.g. `KILL`), when the command was killed by a signal
    /// (`exit-signal`).
    pub signal: Option<String>,
    /// The server reported that the killed process dumped core.
    pub core_dumped: bool,
    /// The command ran past its timeout and was terminated.
    pub timed_out: bool,
    /// The caller cancelled the command (see [`Session::exec_until`]) and it was terminated like
    /// on a timeout.
    pub cancelled: bool,
    /// After a timeout or cancel: the server confirmed the end of the command (it sent `exit-status`,
    /// `exit-signal` or closed the channel after our `signal` requests). `false` when the channel
    /// had to be abandoned (the server ignores `signal` requests, e.g. forced commands).
    pub terminated: bool,
}

impl ExitStatus {
    /// `true` only for exit status 0 without timeout.
    pub fn success(&self) -> bool {
        self.code == Some(0) && self.signal.is_none() && !self.timed_out && !self.cancelled
    }

    /// One number in the shell's convention: the exit status, or 128 + signal number for a
    /// signal (TERM 143, KILL 137, SEGV 139). `None` for an unknown signal name or no status.
    pub fn compat_code(&self) -> Option<u32> {
        if let Some(code) = self.code {
            return Some(code);
        }
        let number = match self.signal.as_deref()? {
            "HUP" => 1,
            "INT" => 2,
            "QUIT" => 3,
            "ILL" => 4,
            "TRAP" => 5,
            "ABRT" => 6,
            "BUS" => 7,
            "FPE" => 8,
            "KILL" => 9,
            "USR1" => 10,
            "SEGV" => 11,
            "USR2" => 12,
            "PIPE" => 13,
            "ALRM" => 14,
            "TERM" => 15,
            _ => return None,
        };
        Some(128 + number)
    }
}

/// Why an SSH operation failed. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// TCP connect, key exchange or the transport failed (`host:port: reason`).
    #[error("connection failed: {0}")]
    Connect(String),
    /// Connect, key exchange and authentication did not finish within `connect_timeout`.
    #[error("connection timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The server presented a host key other than the pinned one. Both are `SHA256:...`
    /// fingerprints; an admin must re-trust explicitly.
    #[error(
        "host key mismatch: pinned {pinned}, presented {}",
        presented.fingerprint
    )]
    HostKeyMismatch {
        /// Fingerprint of the pinned key.
        pinned: String,
        /// The key the server presented (its type too, so it can be pinned as it is).
        presented: HostKey,
    },
    /// Policy `strict` and no key pinned: the connection is refused before authentication.
    #[error(
        "host key not pinned (policy strict): server presented {} {}",
        presented.key_type,
        presented.fingerprint
    )]
    HostKeyNotPinned {
        /// The key the server presented.
        presented: HostKey,
    },
    /// The server rejected the credential.
    #[error("authentication failed")]
    AuthFailed,
    /// The private key does not parse, needs a passphrase, or the passphrase is wrong.
    #[error("invalid private key: {0}")]
    PrivateKey(String),
    /// The server supports no algorithm testum is willing to use (e.g. only `ssh-rsa`/SHA-1
    /// signatures for an RSA user key).
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// Any other protocol-level failure (channel refused, connection lost mid-command, ...).
    #[error("ssh error: {0}")]
    Protocol(String),
}

/// An authenticated SSH connection. Cheap to share by reference; several [`Session::exec`] calls
/// may run on it at once (each opens its own channel, up to the server's `MaxSessions`).
pub struct Session {
    /// The host key the server presented (to be pinned by the caller on first use).
    pub host_key: HostKey,
    /// The public key (`type base64`) of the private key this session logged in with; `None`
    /// for a password login. Exclusive mode never removes it, and a scan does not count it as
    /// drift.
    pub login_key: Option<String>,
    handle: client::Handle<handler::Client>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host_key", &self.host_key)
            .finish_non_exhaustive()
    }
}

/// Open and authenticate a connection.
///
/// Errors: [`SshError::ConnectTimeout`] when the whole sequence exceeds
/// `params.connect_timeout`; [`SshError::Connect`] for network and transport failures;
/// [`SshError::HostKeyMismatch`] / [`SshError::HostKeyNotPinned`] from the host-key check (before
/// any credential is sent); [`SshError::PrivateKey`] for an unusable key (checked before
/// connecting); [`SshError::AuthFailed`] when the server rejects the credential;
/// [`SshError::UnsupportedAlgorithm`] when an RSA key could only sign with SHA-1.
pub async fn connect(params: &ConnectParams) -> Result<Session, SshError> {
    // Parse the key first: a bad key or passphrase is a configuration error, not a network one.
    let key = match &params.credential {
        Credential::PrivateKey {
            private_key,
            passphrase,
        } => Some(auth::decode(
            private_key.expose(),
            passphrase.as_ref().map(Secret::expose),
        )?),
        Credential::Password(_) => None,
    };
    let timeout = params.connect_timeout;
    let started = std::time::Instant::now();
    let result = match tokio::time::timeout(timeout, connect_inner(params, key)).await {
        Ok(result) => result,
        Err(_) => Err(SshError::ConnectTimeout(timeout)),
    };
    crate::metrics::ssh_connected(started.elapsed(), result.is_ok());
    result
}

async fn connect_inner(
    params: &ConnectParams,
    key: Option<russh::keys::PrivateKey>,
) -> Result<Session, SshError> {
    let verdict = handler::Verdict::default();
    let client = handler::Client::new(params.policy, params.pinned.clone(), verdict.clone());
    let config = Arc::new(client_config(params));
    let target = format!("{}:{}", params.host, params.port);
    let connected = client::connect(config, (params.host.as_str(), params.port), client).await;
    let mut handle = match connected {
        Ok(handle) => handle,
        Err(err) => {
            // A refused host key surfaces from russh as a generic error; the handler recorded
            // the real reason.
            if let Some(refusal) = verdict.take_refusal() {
                return Err(refusal);
            }
            return Err(SshError::Connect(format!("{target}: {err}")));
        }
    };
    let Some(host_key) = verdict.presented() else {
        return Err(SshError::Protocol(format!(
            "{target}: key exchange finished without a host key check"
        )));
    };
    let login_key = key.as_ref().map(auth::public_line).transpose()?;
    auth::authenticate(&mut handle, &params.username, &params.credential, key).await?;
    Ok(Session {
        host_key,
        login_key,
        handle,
    })
}

/// russh client configuration: keepalives, an inactivity backstop, and the pinned key type first
/// in the host-key algorithm list.
fn client_config(params: &ConnectParams) -> client::Config {
    let keepalive = (!params.keepalive_interval.is_zero()).then_some(params.keepalive_interval);
    // Keepalive replies count as received data, so a healthy but silent command never trips the
    // inactivity timer; it only catches a peer that stopped answering altogether.
    let inactivity = keepalive
        .map(|k| k.saturating_mul(5))
        .unwrap_or(Duration::from_secs(600));
    let mut preferred = russh::Preferred::default();
    if let Some(pin) = &params.pinned {
        preferred.key = handler::preferred_host_key_algorithms(&pin.key_type);
    }
    client::Config {
        keepalive_interval: keepalive,
        keepalive_max: 3,
        inactivity_timeout: Some(inactivity),
        preferred,
        nodelay: true,
        // russh widens the SSH window as data arrives and applies back-pressure only through
        // this queue of channel messages (each at most one 32 KiB packet): keep it short, so a
        // connection whose reader is slow holds 128 KiB here, not russh's default 100 packets
        // (3 MiB), which at hundreds of hosts would be gigabytes. Not shorter than 4: on a
        // timeout the exec loop runs `kill` on a second channel of the session while it does not
        // read this one, and the messages that end the command (exit-signal, EOF, close) must
        // fit here, or russh's session loop stalls on this queue and never delivers the second
        // channel's answer (tests/it/ssh_engine.rs `timeout_kills_the_remote_process` with 1).
        channel_buffer_size: 4,
        ..Default::default()
    }
}

impl Session {
    /// Run `command`; output chunks go to `output` as they arrive (bounded channel: a slow consumer
    /// slows the remote side instead of growing memory). `stdin` is sent then closed (EOF), or
    /// closed at once when `None`. On `timeout` the remote command is terminated: `signal TERM`,
    /// then `signal KILL` after a grace period (RFC 4254 section 6.9; OpenSSH delivers it with
    /// `killpg` to the command's process group), then the channel is closed. A dropped receiver
    /// does not stop the command: output is then drained and discarded.
    ///
    /// Errors: [`SshError::Protocol`] when the channel cannot be opened, the server refuses the
    /// `exec` request, or the connection is lost before the channel closes.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
        output: mpsc::Sender<(Stream, Bytes)>,
    ) -> Result<ExitStatus, SshError> {
        exec::run(
            &self.handle,
            command,
            stdin,
            timeout,
            output,
            std::future::pending(),
            true,
        )
        .await
    }

    /// [`Session::exec`] that also ends the remote command, the same way as a timeout does
    /// (`signal TERM`, then `KILL`), as soon as `cancel` resolves; the status then has
    /// `cancelled` set.
    pub async fn exec_until(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
        output: mpsc::Sender<(Stream, Bytes)>,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<ExitStatus, SshError> {
        exec::run(&self.handle, command, stdin, timeout, output, cancel, true).await
    }

    /// Run `command` like [`Session::exec`] and collect its output in memory. For short, bounded
    /// helper commands (deploy scripts, probes), not for user commands.
    pub async fn exec_collect(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Output, SshError> {
        exec::collect(&self.handle, command, stdin, timeout).await
    }

    /// Close the connection politely (`SSH_MSG_DISCONNECT`, by application). Dropping a session
    /// also ends the connection.
    pub async fn disconnect(&self) -> Result<(), SshError> {
        self.handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .map_err(|e| SshError::Protocol(e.to_string()))
    }

    /// `true` once the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed()
    }
}
