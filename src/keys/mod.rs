//! SSH public keys as the registry holds them: parsing, validation and fingerprints.
//! (INTERFACE STUB: to be implemented.)

/// A validated SSH public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Algorithm name as it appears in the key line, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// Normalised one-line OpenSSH form: `type base64[ comment]`.
    pub line: String,
    /// `SHA256:<unpadded base64>`, exactly as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// Key size in bits (RSA modulus size; 256 for ed25519; curve size for ECDSA).
    pub bits: u32,
    /// The comment, if any.
    pub comment: Option<String>,
}

/// Why a submitted public key was refused. The message never echoes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is empty")]
    Empty,
    #[error("not implemented")]
    Invalid,
}

impl PublicKey {
    /// Parse one public key in OpenSSH one-line or RFC 4716 form.
    pub fn parse(input: &str) -> Result<PublicKey, KeyError> {
        let _ = input;
        Err(KeyError::Invalid)
    }
}
