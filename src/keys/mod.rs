//! SSH public keys as the registry holds them: parsing, validation and fingerprints.
//!
//! [`PublicKey::parse`] takes what a user pasted into the `public_key` field and returns the key
//! in normalised OpenSSH one-line form with its SHA256 fingerprint and size, or a [`KeyError`]
//! whose message names the reason without echoing the input.
//!
//! Accepted input (surrounding whitespace, a leading byte order mark and trailing CR/LF trimmed):
//! - an OpenSSH one-line key `type base64 [comment]` (ssh-keygen `.pub` files; sshd(8)
//!   AUTHORIZED_KEYS FILE FORMAT without options) of type `ssh-ed25519`,
//!   `ecdsa-sha2-nistp256/384/521`, `ssh-rsa` (2048..=16384 bits), `sk-ssh-ed25519@openssh.com` or
//!   `sk-ecdsa-sha2-nistp256@openssh.com` (OpenSSH PROTOCOL.u2f);
//! - an RFC 4716 block (`---- BEGIN SSH2 PUBLIC KEY ----`), whose `Comment` header becomes the
//!   comment.
//!
//! Layout (one concern per file): `error` (refusals and messages), `detect` (private keys and
//! other formats), `openssh` (one-line form), `rfc4716`, `multiline` (why several lines are
//! refused), `blob` (wire format, policy, fingerprint), `comment`, `options`.

pub(crate) mod blob;
mod comment;
mod detect;
mod error;
mod multiline;
mod openssh;
mod options;
mod rfc4716;

#[cfg(test)]
mod cases_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod vectors_tests;

use std::fmt;
use std::str::FromStr;

pub use error::{KeyError, MAX_INPUT_LEN};
pub use options::split_options;

/// A validated SSH public key.
///
/// Invariants when built by [`PublicKey::parse`]: `line` is `key_type`, one space, the padded
/// standard base64 of the canonical key blob, and (when `comment` is `Some`) one space and the
/// comment; the comment is non-empty, trimmed, and free of control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Algorithm name as it appears in the key line and inside the blob, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// Normalised one-line OpenSSH form: `type base64[ comment]`.
    pub line: String,
    /// `SHA256:<unpadded base64>`, exactly as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// Key size in bits as `ssh-keygen -l` prints it: RSA modulus size; 256 for ed25519 and both
    /// sk types; 256/384/521 for ECDSA.
    pub bits: u32,
    /// The comment, if any (the rest of the line after the base64, or the RFC 4716 `Comment`).
    pub comment: Option<String>,
}

impl PublicKey {
    /// Parse one public key in OpenSSH one-line or RFC 4716 form.
    ///
    /// Order of checks: empty; private key or other recognised format (before anything else, so a
    /// pasted private key is always called one); size limit ([`MAX_INPUT_LEN`]); RFC 4716 block;
    /// several lines (refused with the most precise reason); the one-line form.
    ///
    /// # Errors
    /// Any [`KeyError`] variant; each message names the reason and never contains the input.
    pub fn parse(input: &str) -> Result<PublicKey, KeyError> {
        let text = input.trim();
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text).trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some(refusal) = detect::foreign(text) {
            return Err(refusal);
        }
        if text.len() > MAX_INPUT_LEN {
            return Err(KeyError::TooLong {
                len: text.len(),
                max: MAX_INPUT_LEN,
            });
        }
        let (decoded, comment) = if rfc4716::is_block(text) {
            let block = rfc4716::parse(text)?;
            let bytes = blob::decode_base64(&block.base64).ok_or(KeyError::BadBase64)?;
            let decoded = blob::decode(&bytes)?;
            let comment = match block.comment {
                Some(c) => comment::validate(&c)?,
                None => None,
            };
            (decoded, comment)
        } else if text.contains(['\r', '\n']) {
            return Err(multiline::diagnose(text));
        } else {
            openssh::parse_line(text)?
        };
        Ok(PublicKey::assemble(&decoded, comment))
    }

    /// The same key with another comment (`None` or blank removes it), e.g. when the API takes
    /// the comment as a separate field or a PATCH renames a key.
    ///
    /// # Errors
    /// [`KeyError::ControlCharacter`] (`in_comment: true`) for CR, LF, NUL, TAB and other control
    /// characters, and [`KeyError::MultipleKeys`] when the comment holds a key of its own.
    pub fn with_comment(&self, comment: Option<&str>) -> Result<PublicKey, KeyError> {
        let comment = match comment {
            Some(c) => comment::validate(c)?,
            None => None,
        };
        let extra = comment.as_deref().map_or(0, openssh::count_keys);
        if extra > 0 {
            return Err(KeyError::MultipleKeys { count: extra + 1 });
        }
        let line = join_line(&self.key_type, self.base64(), comment.as_deref());
        Ok(PublicKey {
            line,
            comment,
            ..self.clone()
        })
    }

    /// The base64 key data field of [`PublicKey::line`] (the blob that identifies the key; two
    /// lines with equal base64 are the same key whatever their comments).
    pub fn base64(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or_default()
    }

    fn assemble(decoded: &blob::Decoded, comment: Option<String>) -> PublicKey {
        PublicKey {
            key_type: decoded.key_type.to_owned(),
            line: join_line(decoded.key_type, &decoded.base64(), comment.as_deref()),
            fingerprint: decoded.fingerprint(),
            bits: decoded.bits,
            comment,
        }
    }
}

fn join_line(key_type: &str, base64: &str, comment: Option<&str>) -> String {
    match comment {
        Some(c) => format!("{key_type} {base64} {c}"),
        None => format!("{key_type} {base64}"),
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// Same as [`PublicKey::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::parse(s)
    }
}

impl fmt::Display for PublicKey {
    /// Writes [`PublicKey::line`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}
