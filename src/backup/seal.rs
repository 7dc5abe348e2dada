//! The master key in a backup, sealed under a passphrase: Argon2id (19 MiB, 2 passes, 1 lane:
//! the crate's defaults, fixed by the format byte) stretches the passphrase and a random salt
//! into a 256-bit key that seals the master key's base64 text with XChaCha20-Poly1305.
//!
//! Layout: `version (1 byte, = 1) || salt (16 bytes) || nonce (24 bytes) || ciphertext+tag`.

use anyhow::{Context as _, bail};
use argon2::Argon2;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::crypto::MasterKey;
use crate::secret::Secret;

const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const AAD: &[u8] = b"testum backup master key";
/// Shortest passphrase accepted.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// The cipher for `passphrase` and `salt`.
fn cipher(passphrase: &Secret, salt: &[u8]) -> anyhow::Result<XChaCha20Poly1305> {
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::default()
        .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
        .map_err(|e| anyhow::anyhow!("cannot derive a key from the passphrase: {e}"))?;
    Ok(XChaCha20Poly1305::new(&(*key).into()))
}

/// Seal `key` under `passphrase` (at least [`MIN_PASSPHRASE_CHARS`] characters).
pub fn seal(key: &MasterKey, passphrase: &Secret) -> anyhow::Result<Vec<u8>> {
    if passphrase.expose().chars().count() < MIN_PASSPHRASE_CHARS {
        bail!("the backup passphrase must have at least {MIN_PASSPHRASE_CHARS} characters");
    }
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut nonce);
    let text = key.to_base64();
    let sealed = cipher(passphrase, &salt)?
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: text.as_bytes(),
                aad: AAD,
            },
        )
        .map_err(|_| anyhow::anyhow!("cannot seal the master key"))?;
    Ok([&[VERSION][..], &salt, &nonce, &sealed].concat())
}

/// Open a key [`seal`] made. Errors: a wrong passphrase or damaged bytes (indistinguishable).
pub fn open(sealed: &[u8], passphrase: &Secret) -> anyhow::Result<MasterKey> {
    let header = 1 + SALT_LEN + NONCE_LEN;
    if sealed.len() <= header || sealed[0] != VERSION {
        bail!("the sealed master key in the backup is not in a format this testum reads");
    }
    let (salt, rest) = sealed[1..].split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().context("nonce length")?;
    let text = cipher(passphrase, salt)?
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: AAD,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            anyhow::anyhow!("wrong backup passphrase (the sealed master key does not open)")
        })?;
    let text = std::str::from_utf8(&text).context("sealed master key")?;
    Ok(MasterKey::from_base64(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_with_the_passphrase_only() {
        let key = MasterKey::generate();
        let pass = Secret::new("a long enough passphrase");
        let sealed = seal(&key, &pass).unwrap();
        assert_eq!(open(&sealed, &pass).unwrap().key_id(), key.key_id());
        let wrong = open(&sealed, &Secret::new("another long passphrase")).unwrap_err();
        assert!(
            wrong.to_string().contains("wrong backup passphrase"),
            "{wrong}"
        );
        assert!(seal(&key, &Secret::new("short")).is_err());
    }
}
