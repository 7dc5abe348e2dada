//! Why a submitted public key was refused: [`KeyError`].
//!
//! Every message is written for the person who pasted the key (the API reports it as a 422 on
//! field `public_key`) and names the reason. A message never contains the submitted text: the input
//! may be a private key pasted by mistake. The only input-derived parts are algorithm names, and
//! only when they are short tokens of `[A-Za-z0-9@._+-]` (see [`safe_name`]); numbers (bit sizes,
//! counts, code points) are computed, not copied.

use std::fmt;

/// Largest input [`crate::keys::PublicKey::parse`] looks at, in bytes.
///
/// A 16384-bit RSA key (the largest OpenSSH accepts) is about 2.8 KB as a line; 16 KiB leaves room
/// for long comments and RFC 4716 headers while bounding the work done on hostile input.
pub const MAX_INPUT_LEN: usize = 16 * 1024;

/// Why a submitted public key was refused.
///
/// Shapes: unit variants for fixed reasons, small fields for computed facts. `Display` gives the
/// human message; no variant carries or prints the submitted text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing but whitespace was submitted.
    #[error("the public key is empty; paste the contents of your public key file (.pub)")]
    Empty,

    /// The input exceeds [`MAX_INPUT_LEN`].
    #[error(
        "the input is too long to be an SSH public key ({len} bytes; at most {max} are accepted)"
    )]
    TooLong {
        /// Size of the trimmed input in bytes.
        len: usize,
        /// The limit, [`MAX_INPUT_LEN`].
        max: usize,
    },

    /// A private key was pasted: an OpenSSH/PEM `-----BEGIN ... PRIVATE KEY-----` block, an SSH.com
    /// `---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----` block, a PuTTY `.ppk` file
    /// (`PuTTY-User-Key-File-`, `Private-Lines:`), or the base64 body of an `openssh-key-v1` file.
    #[error("this is a private key; upload the public key (.pub)")]
    PrivateKey,

    /// A recognisable key format that is not an SSH public key (PEM/PKCS#8 public key, X.509
    /// certificate, other PEM blocks).
    #[error("this is {format}, not an SSH public key; {hint}")]
    ForeignFormat {
        /// What the input was recognised as.
        format: &'static str,
        /// How to get an OpenSSH public key from it.
        hint: &'static str,
    },

    /// The input is neither an OpenSSH one-line key nor an RFC 4716 block.
    #[error(
        "this is not an SSH public key; expected one line `type base64 [comment]` as in a .pub file, \
         or an RFC 4716 `---- BEGIN SSH2 PUBLIC KEY ----` block"
    )]
    NotAKey,

    /// A key type with nothing after it.
    #[error("the key type is not followed by the key data (base64)")]
    MissingKeyData,

    /// The second field is not valid base64 (standard alphabet with its `=` padding, as OpenSSH
    /// reads it).
    #[error(
        "the key data (the base64 field after the key type) is not valid base64: was it cut \
         short, or did it lose its closing = padding? OpenSSH refuses it too"
    )]
    BadBase64,

    /// The base64 decodes, but not to a complete, well-formed key blob (RFC 4253 §6.6).
    #[error(
        "the key data does not decode to a valid public key: {reason}; it may be truncated or corrupted"
    )]
    BadBlob {
        /// Which part of the blob is wrong.
        reason: &'static str,
    },

    /// The key type written in the line differs from the type encoded inside the key blob.
    #[error("key type in text and blob differ: {}", mismatch_message(.text.as_deref(), .blob.as_deref()))]
    TypeMismatch {
        /// The type written in the text, if it is a safe token.
        text: Option<String>,
        /// The type inside the blob, if it is a safe token.
        blob: Option<String>,
    },

    /// `ssh-dss` (DSA) keys are refused.
    #[error(
        "DSA (ssh-dss) keys are refused as too weak: DSA is limited to 1024 bits, OpenSSH disabled it \
         in 7.0 and removed it in 9.8; generate an ed25519 key (ssh-keygen -t ed25519)"
    )]
    Dsa,

    /// RSA key with a modulus below 2048 bits.
    #[error(
        "the RSA key has {bits} bits; at least 2048 bits are required \
         (generate a new key with ssh-keygen -t ed25519, or ssh-keygen -t rsa -b 3072)"
    )]
    RsaTooSmall {
        /// Modulus size found, as `ssh-keygen -l` counts it.
        bits: u32,
    },

    /// RSA key with a modulus above 16384 bits, which OpenSSH itself refuses.
    #[error("the RSA key has {bits} bits; OpenSSH accepts at most 16384")]
    RsaTooLarge {
        /// Modulus size found.
        bits: u32,
    },

    /// A well-formed key of an algorithm testum does not register.
    #[error("{} is not supported; supported are {}", algorithm_phrase(.name.as_deref()), SUPPORTED_LIST)]
    UnsupportedAlgorithm {
        /// The algorithm name, if it is a safe token.
        name: Option<String>,
    },

    /// An OpenSSH certificate (`*-cert-v01@openssh.com`).
    #[error(
        "OpenSSH certificates{} cannot be registered: sshd trusts a certificate through its CA \
         (a cert-authority line or TrustedUserCAKeys), not by listing it in authorized_keys; \
         register the plain public key (the .pub file without -cert)",
        paren(.name.as_deref())
    )]
    Certificate {
        /// The certificate type, if it is a safe token.
        name: Option<String>,
    },

    /// authorized_keys options (or other text) stand before the key type.
    #[error(
        "there is text before the key type: authorized_keys options (from=, command=, restrict, ...) \
         are not part of a registered key, they belong to the key's assignment to a platform; \
         submit only `type base64 [comment]`"
    )]
    OptionsNotAllowed,

    /// More than one key in one submission.
    #[error("the input holds {count} keys; submit exactly one key per entry")]
    MultipleKeys {
        /// How many keys were found.
        count: usize,
    },

    /// One key broken over several lines.
    #[error(
        "the key is broken over several lines; it must be on one line: `type base64 [comment]` \
         (copy it again from the .pub file without line breaks)"
    )]
    Wrapped,

    /// A CR or LF inside the input that is neither a wrapped key nor several keys.
    #[error(
        "the input contains a line break; a public key must be a single line without CR, LF or NUL"
    )]
    LineBreak,

    /// A control character (NUL, CR, LF, TAB, ESC, DEL, C1, Unicode line/paragraph separators or
    /// bidirectional overrides).
    #[error(
        "the {} contains the control character {}; key and comment must be a single line of printable text",
        if *.in_comment { "comment" } else { "key" },
        describe_char(*.code)
    )]
    ControlCharacter {
        /// Unicode code point of the first offending character.
        code: u32,
        /// Whether it was in the comment (else in the key type or data).
        in_comment: bool,
    },

    /// An RFC 4716 block that does not follow the format.
    #[error("the RFC 4716 (---- BEGIN SSH2 PUBLIC KEY ----) block is malformed: {reason}")]
    Rfc4716 {
        /// What is wrong with the frame or headers.
        reason: &'static str,
    },
}

impl KeyError {
    /// Stable machine-readable code for the API's field error (`errors[].code` on a 422), one per
    /// variant, e.g. `private_key`, `rsa_too_small`. The human message is the `Display` text.
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Empty => "empty",
            KeyError::TooLong { .. } => "too_long",
            KeyError::PrivateKey => "private_key",
            KeyError::ForeignFormat { .. } => "foreign_format",
            KeyError::NotAKey => "not_a_key",
            KeyError::MissingKeyData => "missing_key_data",
            KeyError::BadBase64 => "bad_base64",
            KeyError::BadBlob { .. } => "bad_blob",
            KeyError::TypeMismatch { .. } => "type_mismatch",
            KeyError::Dsa => "dsa",
            KeyError::RsaTooSmall { .. } => "rsa_too_small",
            KeyError::RsaTooLarge { .. } => "rsa_too_large",
            KeyError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            KeyError::Certificate { .. } => "certificate",
            KeyError::OptionsNotAllowed => "options_not_allowed",
            KeyError::MultipleKeys { .. } => "multiple_keys",
            KeyError::Wrapped => "wrapped",
            KeyError::LineBreak => "line_break",
            KeyError::ControlCharacter { .. } => "control_character",
            KeyError::Rfc4716 { .. } => "rfc4716",
        }
    }
}

/// The algorithms [`crate::keys::PublicKey::parse`] accepts, for messages.
const SUPPORTED_LIST: &str = "ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, \
     ssh-rsa (2048 bits or more), sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com";

/// `Some(name)` when `name` is safe to show back to the user: 1 to 64 characters of
/// `[A-Za-z0-9@._+-]` starting with an alphanumeric (the shape of SSH algorithm names,
/// RFC 4251 §6). Anything else is not echoed.
pub fn safe_name(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok =
        chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_' | '+' | '-'));
    (first_ok && rest_ok && name.len() <= 64).then(|| name.to_owned())
}

fn mismatch_message(text: Option<&str>, blob: Option<&str>) -> String {
    let text = text.map_or_else(
        || "the line names another type".to_owned(),
        |t| format!("the line says '{t}'"),
    );
    match blob {
        Some(b) => format!("{text} but the key data is a '{b}' key; use '{b}' as the key type"),
        None => format!("{text} but the key data holds a different type"),
    }
}

fn algorithm_phrase(name: Option<&str>) -> String {
    name.map_or_else(
        || "this key algorithm".to_owned(),
        |n| format!("the key algorithm '{n}'"),
    )
}

fn paren(name: Option<&str>) -> String {
    name.map_or_else(String::new, |n| format!(" ('{n}')"))
}

/// Human name of a control character: `U+000A (line feed)`.
pub fn describe_char(code: u32) -> String {
    let name = match code {
        0x00 => " (NUL)",
        0x09 => " (tab)",
        0x0A => " (line feed)",
        0x0D => " (carriage return)",
        0x1B => " (escape)",
        0x7F => " (delete)",
        0x85 => " (next line)",
        0x2028 => " (line separator)",
        0x2029 => " (paragraph separator)",
        0x202A..=0x202E | 0x2066..=0x2069 => " (bidirectional override)",
        0xFEFF => " (byte order mark)",
        _ => "",
    };
    format!("{}{name}", CodePoint(code))
}

struct CodePoint(u32);

impl fmt::Display for CodePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "U+{:04X}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_name_accepts_algorithm_names_only() {
        assert_eq!(safe_name("ed25519-sk").as_deref(), Some("ed25519-sk"));
        assert_eq!(
            safe_name("sk-ssh-ed25519@openssh.com").as_deref(),
            Some("sk-ssh-ed25519@openssh.com")
        );
        assert_eq!(safe_name(""), None);
        assert_eq!(safe_name("-----BEGIN"), None);
        assert_eq!(safe_name("a b"), None);
        assert_eq!(safe_name("x=\"1\""), None);
        assert_eq!(safe_name(&"a".repeat(65)), None);
    }

    #[test]
    fn messages_name_the_reason() {
        assert_eq!(
            KeyError::PrivateKey.to_string(),
            "this is a private key; upload the public key (.pub)"
        );
        assert!(
            KeyError::RsaTooSmall { bits: 1024 }
                .to_string()
                .contains("1024 bits")
        );
        let m = KeyError::TypeMismatch {
            text: Some("ed25519-sk".into()),
            blob: Some("sk-ssh-ed25519@openssh.com".into()),
        }
        .to_string();
        assert!(m.starts_with("key type in text and blob differ"), "{m}");
        assert!(m.contains("'sk-ssh-ed25519@openssh.com'"), "{m}");
        let m = KeyError::ControlCharacter {
            code: 0,
            in_comment: true,
        }
        .to_string();
        assert!(m.contains("comment") && m.contains("U+0000 (NUL)"), "{m}");
        assert_eq!(KeyError::RsaTooSmall { bits: 1 }.code(), "rsa_too_small");
        let m = KeyError::UnsupportedAlgorithm { name: None }.to_string();
        assert!(m.starts_with("this key algorithm is not supported"), "{m}");
    }
}
