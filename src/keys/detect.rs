//! Recognising what was pasted instead of a public key: private keys and other key formats.
//!
//! Runs before any parsing so that a private key is named as such (and never half-parsed into an
//! error that could quote it). Markers:
//! - OpenSSH and PEM private keys: `-----BEGIN OPENSSH PRIVATE KEY-----`,
//!   `-----BEGIN RSA PRIVATE KEY-----`, `-----BEGIN ENCRYPTED PRIVATE KEY-----`, ... (any
//!   `PRIVATE KEY-----`);
//! - SSH.com private keys: `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`;
//! - PuTTY `.ppk` files: `PuTTY-User-Key-File-2:`/`-3:` and `Private-Lines:`;
//! - the body of an OpenSSH private key without its frame: base64 of `openssh-key-v1\0` begins
//!   with `b3BlbnNzaC1rZXktdjE`.

use super::error::KeyError;

const PRIVATE_MARKERS: [&str; 5] = [
    "PRIVATE KEY-----",
    "PRIVATE KEY ----",
    "PuTTY-User-Key-File-",
    "Private-Lines:",
    "b3BlbnNzaC1rZXktdjE",
];

/// PEM public-key-ish blocks that are not SSH public keys: (marker, what it is, how to convert).
const FOREIGN: [(&str, &str, &str); 5] = [
    (
        "-----BEGIN PUBLIC KEY-----",
        "a PEM (PKCS#8 SubjectPublicKeyInfo) public key",
        "convert it with ssh-keygen -i -m PKCS8 -f key.pem",
    ),
    (
        "-----BEGIN RSA PUBLIC KEY-----",
        "a PEM (PKCS#1) RSA public key",
        "convert it with ssh-keygen -i -m PEM -f key.pem",
    ),
    (
        "-----BEGIN CERTIFICATE-----",
        "an X.509 certificate",
        "upload the SSH public key (.pub file) instead",
    ),
    (
        "-----BEGIN SSH SIGNATURE-----",
        "an SSH signature",
        "upload the SSH public key (.pub file) instead",
    ),
    (
        "-----BEGIN ",
        "a PEM block",
        "upload the SSH public key (.pub file) instead",
    ),
];

/// The refusal for input that is recognisably not an SSH public key, if it is one.
///
/// Shape: `Some(KeyError::PrivateKey)` for any private key marker (checked first),
/// `Some(KeyError::ForeignFormat { .. })` for PEM blocks, `None` otherwise.
pub fn foreign(text: &str) -> Option<KeyError> {
    if PRIVATE_MARKERS.iter().any(|m| text.contains(m)) {
        return Some(KeyError::PrivateKey);
    }
    FOREIGN
        .iter()
        .find(|(marker, _, _)| text.contains(marker))
        .map(|&(_, format, hint)| KeyError::ForeignFormat { format, hint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_of_every_kind() {
        for text in [
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...\n-----END OPENSSH PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE",
            "-----BEGIN EC PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: x",
            "PuTTY-User-Key-File-2: ssh-rsa",
            "Encryption: none\nPrivate-Lines: 1\nAAAA",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
        ] {
            assert_eq!(foreign(text), Some(KeyError::PrivateKey), "{text}");
        }
    }

    #[test]
    fn pem_public_keys_get_a_conversion_hint() {
        let Some(KeyError::ForeignFormat { hint, .. }) =
            foreign("-----BEGIN PUBLIC KEY-----\nMFkw")
        else {
            panic!("not recognised");
        };
        assert!(hint.contains("PKCS8"));
        assert!(matches!(
            foreign("-----BEGIN RSA PUBLIC KEY-----"),
            Some(KeyError::ForeignFormat { .. })
        ));
        assert_eq!(foreign("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5 x"), None);
    }
}
