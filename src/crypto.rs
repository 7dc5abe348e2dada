//! Secrets at rest and passwords.
//!
//! Credentials are sealed with XChaCha20-Poly1305 under the master key. A sealed value is
//! `version (1 byte, = 1) || key id (8 bytes) || nonce (24 bytes) || ciphertext+tag`; the key id
//! (first 8 bytes of SHA-256 of the master key) lets a later master-key rotation tell which key
//! sealed a value, and the caller's associated data (the row id and column) binds a ciphertext to
//! its row so it cannot be moved to another one. Passwords are hashed with Argon2id (PHC strings).

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Why a secret could not be opened or the master key loaded.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// `TESTUM_MASTER_KEY` or the key file is not base64 of exactly 32 bytes.
    #[error("master key must be base64 of exactly 32 bytes")]
    BadMasterKey,
    /// The sealed value was made under another master key.
    #[error("secret was sealed under another master key (key id {0})")]
    WrongKey(String),
    /// The sealed value is damaged, or was moved from another row.
    #[error("secret cannot be opened: damaged or moved from another row")]
    Damaged,
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The 256-bit master key that seals every stored credential.
#[derive(Clone)]
pub struct MasterKey {
    key: Zeroizing<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id {})", self.key_id())
    }
}

impl MasterKey {
    /// A key from base64 text (standard alphabet, padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<MasterKey, CryptoError> {
        let engine = base64::engine::general_purpose::STANDARD;
        let bytes = Zeroizing::new(
            engine
                .decode(text.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()))
                .map_err(|_| CryptoError::BadMasterKey)?,
        );
        if bytes.len() != 32 {
            return Err(CryptoError::BadMasterKey);
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(MasterKey::from_bytes(key))
    }

    fn from_bytes(key: Zeroizing<[u8; 32]>) -> MasterKey {
        let digest = Sha256::digest(key.as_ref());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        MasterKey { key, id }
    }

    /// A fresh random key.
    pub fn generate() -> MasterKey {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        MasterKey::from_bytes(key)
    }

    /// The key as base64 text (standard alphabet, padded): the form of `TESTUM_MASTER_KEY` and
    /// of the key file.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key.as_ref()))
    }

    /// Write the key to a new file at `path` (mode 0600, synced); fails when `path` exists.
    pub fn write_new_file(&self, path: &Path) -> Result<(), CryptoError> {
        let text = Zeroizing::new(format!("{}\n", *self.to_base64()));
        crate::config::write_private_file(path, text.as_bytes()).map_err(|source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Load the key file at `path`, or create it (random key, mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<MasterKey, CryptoError> {
        match MasterKey::load(path)? {
            Some(key) => Ok(key),
            None => {
                let key = MasterKey::generate();
                key.write_new_file(path)?;
                Ok(key)
            }
        }
    }

    /// Load the key file at `path`; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<MasterKey>, CryptoError> {
        match std::fs::read_to_string(path).map(Zeroizing::new) {
            Ok(text) => MasterKey::from_base64(&text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CryptoError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Hex form of the key id carried in every sealed value.
    pub fn key_id(&self) -> String {
        hex(&self.id)
    }

    /// Seal `plaintext`, binding it to `aad` (e.g. `platform:<uuid>:credential`).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&(*self.key).into());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers; an empty
        // result would make `open` fail loudly rather than silently succeed.
        if let Ok(ciphertext) = cipher.encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        ) {
            out.extend_from_slice(&ciphertext);
        }
        out
    }

    /// Open a value sealed by [`MasterKey::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Damaged);
        }
        let key_id = &sealed[1..1 + KEY_ID_LEN];
        if key_id != self.id {
            return Err(CryptoError::WrongKey(hex(key_id)));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        let cipher = XChaCha20Poly1305::new(&(*self.key).into());
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Damaged)
    }

    /// A 32-byte subkey for `purpose` (HMAC-SHA-256 of the purpose under the master key), so
    /// e.g. the JWT signing key is not the master key itself.
    pub fn derive(&self, purpose: &str) -> Zeroizing<Vec<u8>> {
        let mut mac = hmac_sha256(self.key.as_ref());
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().to_vec())
    }

    /// HMAC-SHA-256 keyed with the subkey for `purpose` ([`MasterKey::derive`]), ready for
    /// `update`.
    pub fn mac(&self, purpose: &str) -> Hmac<Sha256> {
        hmac_sha256(&self.derive(purpose))
    }
}

/// HMAC-SHA-256 keyed with `key`, ready for `update`.
pub fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    #[expect(
        clippy::expect_used,
        reason = "HMAC takes keys of any length (RFC 2104, section 2): this never fails"
    )]
    <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The key id a sealed value carries (hex), if it is one of ours.
pub fn sealed_key_id(sealed: &[u8]) -> Option<String> {
    (sealed.len() >= HEADER_LEN && sealed[0] == VERSION).then(|| hex(&sealed[1..1 + KEY_ID_LEN]))
}

/// Lower-case hex of `bytes` (key ids, SHA-256 digests).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Several master keys at once, as while the master key is rotated: a value is opened with the
/// key whose id it carries, and sealed with the primary key.
#[derive(Debug, Clone)]
pub struct Keyring {
    primary: MasterKey,
    others: Vec<MasterKey>,
}

impl Keyring {
    /// `primary` seals; it and `others` open.
    pub fn new(primary: MasterKey, others: Vec<MasterKey>) -> Keyring {
        Keyring { primary, others }
    }

    /// The key new values are sealed with.
    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    /// Open `sealed` with the key of the id it carries; [`CryptoError::WrongKey`] when no key of
    /// the ring has that id.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let id = sealed_key_id(sealed).ok_or(CryptoError::Damaged)?;
        std::iter::once(&self.primary)
            .chain(&self.others)
            .find(|key| key.key_id() == id)
            .ok_or(CryptoError::WrongKey(id))?
            .open(sealed, aad)
    }
}

/// Hash a password with Argon2id (default parameters), as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Whether `password` matches the PHC `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes(Zeroizing::new([7u8; 32]))
    }

    #[test]
    fn sealed_value_opens_only_with_same_aad_and_key() {
        let sealed = key().seal(b"hunter2", b"platform:a:credential");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            &*key().open(&sealed, b"platform:a:credential").unwrap(),
            b"hunter2"
        );
        assert!(matches!(
            key().open(&sealed, b"platform:b:credential"),
            Err(CryptoError::Damaged)
        ));
        let other = MasterKey::from_bytes(Zeroizing::new([8u8; 32]));
        assert!(matches!(
            other.open(&sealed, b"platform:a:credential"),
            Err(CryptoError::WrongKey(_))
        ));
        let ring = Keyring::new(other.clone(), vec![key()]);
        assert_eq!(
            &*ring.open(&sealed, b"platform:a:credential").unwrap(),
            b"hunter2"
        );
        assert!(matches!(
            Keyring::new(other, vec![]).open(&sealed, b"platform:a:credential"),
            Err(CryptoError::WrongKey(_))
        ));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key().open(&tampered, b"platform:a:credential").is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64("AAAA").is_err());
        let text = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(MasterKey::from_base64(&text).is_ok());
    }

    #[test]
    fn password_hash_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("correct horse", "garbage"));
    }
}
