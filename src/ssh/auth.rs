//! User authentication (RFC 4252): password, or a private key in OpenSSH, PKCS#1, PKCS#8 or PuTTY
//! format, optionally encrypted with a passphrase.
//!
//! RSA user keys sign with the best SHA-2 algorithm the server lists in `server-sig-algs`
//! (RFC 8308, RFC 8332); when the server sends no list, `rsa-sha2-512` is tried. `ssh-rsa`
//! (SHA-1) is never used: OpenSSH 8.8+ refuses it, and a server that accepts only SHA-1 gets
//! [`SshError::UnsupportedAlgorithm`] with advice instead of a silent downgrade.

use std::sync::Arc;

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};

use super::handler::Client;
use super::{Credential, SshError};

/// Check that `pem` is a usable private key (and that `passphrase` opens it, for an encrypted
/// key) without connecting anywhere.
///
/// Errors: [`SshError::PrivateKey`] with a reason that never quotes the key or passphrase:
/// "does not parse", "encrypted: a passphrase is required", "wrong passphrase", or an
/// unsupported key type (DSA is refused).
pub fn parse_private_key(pem: &str, passphrase: Option<&str>) -> Result<(), SshError> {
    decode(pem, passphrase).map(|_| ())
}

/// The OpenSSH one-line public key (`type base64`, without comment) of a private key; testum uses
/// it to recognise the key it logs in with (lockout guard).
///
/// Errors: as [`parse_private_key`].
pub fn private_key_public_line(pem: &str, passphrase: Option<&str>) -> Result<String, SshError> {
    public_line(&decode(pem, passphrase)?)
}

/// The OpenSSH one-line public key (`type base64`, without comment) of `key`.
pub(crate) fn public_line(key: &PrivateKey) -> Result<String, SshError> {
    let mut public = key.public_key().clone();
    public.set_comment("");
    public
        .to_openssh()
        .map(|line| line.trim_end().to_owned())
        .map_err(|e| SshError::PrivateKey(format!("cannot encode the public key: {e}")))
}

/// Whether the PEM text says its key is encrypted, judged from the armour and, for the OpenSSH
/// format, from the cipher field.
fn looks_encrypted(pem: &str) -> bool {
    if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return true;
    }
    if pem.trim_start().starts_with("PuTTY-User-Key-File-") {
        return !pem.contains("Encryption: none");
    }
    PrivateKey::from_openssh(pem.trim())
        .map(|k| k.is_encrypted())
        .unwrap_or(false)
}

/// Decode a private key, mapping every failure to a reason that is safe to show.
pub(crate) fn decode(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, SshError> {
    let passphrase = passphrase.filter(|p| !p.is_empty());
    if pem.trim().is_empty() {
        return Err(SshError::PrivateKey("the private key is empty".into()));
    }
    let encrypted = looks_encrypted(pem);
    let decoded = russh::keys::decode_secret_key(pem, passphrase).or_else(|e| {
        // About one P-256 key in 256 has a short scalar that ssh-key refuses; see short_scalar.
        match super::short_scalar::pad(pem) {
            Some(padded) => russh::keys::decode_secret_key(&padded, passphrase),
            None => Err(e),
        }
    });
    match decoded {
        Ok(key) => {
            if key.algorithm() == russh::keys::Algorithm::Dsa {
                return Err(SshError::PrivateKey(
                    "DSA keys are not supported (OpenSSH disabled them); use Ed25519".into(),
                ));
            }
            Ok(key)
        }
        Err(russh::keys::Error::KeyIsEncrypted) => Err(SshError::PrivateKey(
            "the private key is encrypted: a passphrase is required".into(),
        )),
        Err(_) if encrypted && passphrase.is_none() => Err(SshError::PrivateKey(
            "the private key is encrypted: a passphrase is required".into(),
        )),
        Err(_) if encrypted => Err(SshError::PrivateKey(
            "wrong passphrase for the private key".into(),
        )),
        Err(e) => Err(SshError::PrivateKey(format!(
            "the private key does not parse ({})",
            safe_reason(&e)
        ))),
    }
}

/// A short description of a key decoding error that cannot contain key material.
fn safe_reason(e: &russh::keys::Error) -> String {
    use russh::keys::Error as E;
    match e {
        E::CouldNotReadKey => "not a recognised private key format".into(),
        E::UnsupportedKeyType {
            key_type_string, ..
        } => {
            format!("unsupported key type {key_type_string}")
        }
        E::KeyIsCorrupt => "the key is corrupt".into(),
        E::Decode(_) => "invalid base64".into(),
        E::UnknownAlgorithm(_) => "unknown key algorithm".into(),
        _ => "not a valid private key".into(),
    }
}

/// Authenticate on an open connection.
pub(crate) async fn authenticate(
    handle: &mut client::Handle<Client>,
    username: &str,
    credential: &Credential,
    key: Option<PrivateKey>,
) -> Result<(), SshError> {
    let result = match (credential, key) {
        (Credential::Password(password), _) => handle
            .authenticate_password(username, password.expose())
            .await
            .map_err(|e| SshError::Protocol(format!("password authentication: {e}")))?,
        (Credential::PrivateKey { .. }, Some(key)) => {
            let hash = if key.algorithm().is_rsa() {
                rsa_hash(handle).await?
            } else {
                None
            };
            let with_hash = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            handle
                .authenticate_publickey(username, with_hash)
                .await
                .map_err(|e| SshError::Protocol(format!("public key authentication: {e}")))?
        }
        (Credential::PrivateKey { .. }, None) => {
            return Err(SshError::PrivateKey("no private key given".into()));
        }
    };
    if result.success() {
        Ok(())
    } else {
        Err(SshError::AuthFailed)
    }
}

/// The SHA-2 hash an RSA signature uses on this server; never `None` (SHA-1).
async fn rsa_hash(handle: &client::Handle<Client>) -> Result<Option<HashAlg>, SshError> {
    let supported = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| SshError::Protocol(format!("reading server-sig-algs: {e}")))?;
    match supported {
        Some(Some(hash)) => Ok(Some(hash)),
        // No server-sig-algs (RFC 8308) at all: try SHA-512 first, as OpenSSH's client does.
        None => Ok(Some(HashAlg::Sha512)),
        Some(None) => Err(SshError::UnsupportedAlgorithm(
            "the server accepts RSA signatures only as ssh-rsa (SHA-1); testum does not sign \
             with SHA-1: use an Ed25519 or ECDSA key for this host"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_echoing_it() {
        let err = parse_private_key("hunter2-not-a-key", None).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("invalid private key"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn empty_is_refused() {
        assert!(parse_private_key("  \n", None).is_err());
    }
}
