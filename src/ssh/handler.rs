//! The russh client handler: the host-key check.
//!
//! `check_server_key` stays thin: it computes the presented key's type and SHA-256 fingerprint,
//! decides against the pin and the policy, and records the verdict in a shared slot. russh turns a
//! refusal into a generic "unknown server key" error, so [`super::connect`] reads the recorded
//! refusal to report [`SshError::HostKeyMismatch`] with both fingerprints (or
//! [`SshError::HostKeyNotPinned`]) instead of a bare disconnect.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use russh::client;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PublicKey, PublicKeyOrCertificate};

use super::{HostKey, HostKeyPolicy, SshError};

/// What the host-key check saw and decided, shared between the handler (inside russh's session
/// task) and [`super::connect`].
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<VerdictInner>>);

#[derive(Default)]
struct VerdictInner {
    presented: Option<HostKey>,
    refusal: Option<SshError>,
}

impl Verdict {
    fn with<T>(&self, f: impl FnOnce(&mut VerdictInner) -> T) -> T {
        // A poisoned lock only means another thread panicked mid-update; the data is still a
        // plain record, so keep using it.
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// The host key the server presented, once the check ran.
    pub(crate) fn presented(&self) -> Option<HostKey> {
        self.with(|v| v.presented.clone())
    }

    /// The reason the host key was refused, if it was.
    pub(crate) fn take_refusal(&self) -> Option<SshError> {
        self.with(|v| v.refusal.take())
    }
}

/// The russh handler of one outgoing connection.
pub(crate) struct Client {
    policy: HostKeyPolicy,
    pinned: Option<HostKey>,
    verdict: Verdict,
}

impl Client {
    pub(crate) fn new(policy: HostKeyPolicy, pinned: Option<HostKey>, verdict: Verdict) -> Self {
        Client {
            policy,
            pinned,
            verdict,
        }
    }
}

/// Type and `SHA256:` fingerprint of a public key, as `ssh-keygen -lf` shows them.
pub(crate) fn host_key_of(key: &PublicKey) -> HostKey {
    HostKey {
        key_type: key.algorithm().as_str().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    }
}

/// Decide on a presented host key. `Ok(())` accepts; the error says why not.
pub(crate) fn decide(
    policy: HostKeyPolicy,
    pinned: Option<&HostKey>,
    presented: &HostKey,
) -> Result<(), SshError> {
    match (pinned, policy) {
        (Some(pin), _) if pin.fingerprint == presented.fingerprint => Ok(()),
        (Some(pin), _) => Err(SshError::HostKeyMismatch {
            pinned: pin.fingerprint.clone(),
            presented: presented.clone(),
        }),
        (None, HostKeyPolicy::Tofu) => Ok(()),
        (None, HostKeyPolicy::Strict) => Err(SshError::HostKeyNotPinned {
            presented: presented.clone(),
        }),
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let presented = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => host_key_of(key),
            // testum never advertises certificate host-key algorithms; a certificate here is
            // unexpected and is not trusted.
            PublicKeyOrCertificate::Certificate(cert) => {
                let key = host_key_of(&PublicKey::from(cert.public_key().clone()));
                self.verdict.with(|v| {
                    v.refusal = Some(SshError::Protocol(format!(
                        "server presented a host certificate ({} {}); host certificates are not \
                         supported",
                        key.key_type, key.fingerprint
                    )));
                });
                return Ok(false);
            }
        };
        let decision = decide(self.policy, self.pinned.as_ref(), &presented);
        tracing::debug!(
            key_type = %presented.key_type,
            fingerprint = %presented.fingerprint,
            accepted = decision.is_ok(),
            "host key check"
        );
        self.verdict.with(|v| {
            v.presented = Some(presented);
            v.refusal = decision.as_ref().err().map(clone_refusal);
        });
        Ok(decision.is_ok())
    }
}

fn clone_refusal(e: &SshError) -> SshError {
    match e {
        SshError::HostKeyMismatch { pinned, presented } => SshError::HostKeyMismatch {
            pinned: pinned.clone(),
            presented: presented.clone(),
        },
        SshError::HostKeyNotPinned { presented } => SshError::HostKeyNotPinned {
            presented: presented.clone(),
        },
        other => SshError::Protocol(other.to_string()),
    }
}

/// russh's default host-key algorithm list with the algorithms that produce a key of type
/// `key_type` moved to the front, so a server with several host keys presents the pinned one
/// (OpenSSH picks the first client algorithm it has a key for). For `ssh-rsa` the SHA-2
/// signature algorithms (RFC 8332) come first. An unknown type leaves the default order.
pub(crate) fn preferred_host_key_algorithms(key_type: &str) -> Cow<'static, [Algorithm]> {
    let default: &[Algorithm] = &russh::Preferred::DEFAULT.key;
    let matches = |a: &Algorithm| -> bool {
        match a {
            Algorithm::Rsa { .. } => key_type == "ssh-rsa",
            Algorithm::Ecdsa { curve } => {
                let name = match curve {
                    EcdsaCurve::NistP256 => "ecdsa-sha2-nistp256",
                    EcdsaCurve::NistP384 => "ecdsa-sha2-nistp384",
                    EcdsaCurve::NistP521 => "ecdsa-sha2-nistp521",
                };
                key_type == name
            }
            other => other.as_str() == key_type,
        }
    };
    let mut ordered: Vec<Algorithm> = default.iter().filter(|a| matches(a)).cloned().collect();
    ordered.extend(default.iter().filter(|a| !matches(a)).cloned());
    Cow::Owned(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &str, fp: &str) -> HostKey {
        HostKey {
            key_type: t.into(),
            fingerprint: fp.into(),
        }
    }

    #[test]
    fn tofu_without_pin_accepts_strict_refuses() {
        let k = key("ssh-ed25519", "SHA256:a");
        assert!(decide(HostKeyPolicy::Tofu, None, &k).is_ok());
        assert!(matches!(
            decide(HostKeyPolicy::Strict, None, &k),
            Err(SshError::HostKeyNotPinned { .. })
        ));
    }

    #[test]
    fn mismatch_carries_both_fingerprints() {
        let pin = key("ssh-ed25519", "SHA256:old");
        let now = key("ssh-ed25519", "SHA256:new");
        let err = decide(HostKeyPolicy::Tofu, Some(&pin), &now).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("SHA256:old") && msg.contains("SHA256:new"),
            "{msg}"
        );
        assert!(decide(HostKeyPolicy::Strict, Some(&pin), &pin).is_ok());
    }

    #[test]
    fn pinned_type_goes_first() {
        let rsa = preferred_host_key_algorithms("ssh-rsa");
        assert_eq!(
            rsa[0],
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512)
            }
        );
        assert_eq!(
            rsa[1],
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256)
            }
        );
        let ec = preferred_host_key_algorithms("ecdsa-sha2-nistp256");
        assert_eq!(
            ec[0],
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256
            }
        );
        let ed = preferred_host_key_algorithms("ssh-ed25519");
        assert_eq!(ed[0], Algorithm::Ed25519);
        assert_eq!(ed.len(), russh::Preferred::DEFAULT.key.len());
    }
}
