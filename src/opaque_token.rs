//! Opaque bearer secrets: refresh tokens (`tsr_...`) and API tokens (`tsm_...`).
//!
//! A token is a short prefix naming its kind (so secret scanners and log reviews recognise it)
//! followed by 256 random bits in unpadded base64url (43 characters). Only its SHA-256, as 64
//! lowercase hex digits, is ever stored: a copy of the database does not let anyone sign in, and
//! a 256-bit secret needs no slow hash.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// Prefix of API tokens (`Authorization: Bearer tsm_...`).
pub const API_TOKEN_PREFIX: &str = "tsm_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "tsr_";

/// A new random token: `prefix` followed by 32 random bytes in unpadded base64url.
pub fn generate(prefix: &str) -> Secret {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    Secret::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref())
    ))
}

/// The stored form of `token`: SHA-256 of its UTF-8 bytes, lowercase hex.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed_stably() {
        let a = generate(API_TOKEN_PREFIX);
        let b = generate(API_TOKEN_PREFIX);
        assert!(a.expose().starts_with("tsm_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a, b);
        assert_eq!(hash(a.expose()), hash(a.expose()));
        assert_eq!(hash(a.expose()).len(), 64);
        // SHA-256("abc") from FIPS 180-2.
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
