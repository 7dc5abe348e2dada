//! Bytes of an authorized_keys file -> lines, and one line -> a parsed key line.
//!
//! Line detection follows sshd (`auth_check_authkey_line` in OpenSSH `auth2-pubkeyfile.c`):
//! leading spaces/tabs are skipped; an empty line or one starting with `#` is ignored; otherwise
//! sshd first tries to read a key at the start of the line, and only when that fails treats the
//! first field as options and reads the key after it (so `cert-authority ssh-ed25519 ...` and
//! `restrict,pty ssh-ed25519 ...` are detected without looking for `=`, case AK-09).
//!
//! A line ends at LF; a CR right before the LF belongs to the line ending, never to the comment
//! or the key (case KF-04). Concatenating every line's `raw` and `ending` gives back the input
//! byte for byte.

use base64::Engine as _;

use super::options::{KeyOption, OptionsError, parse_options, split_options_field};

/// Key types sshd knows (`sshkey.c` keyimpls), plain and certificate forms.
pub const KNOWN_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// Signature algorithm names that `sshkey.c` also accepts as key type names (its "sigonly"
/// keyimpls), with the key type they stand for: `rsa-sha2-256 AAAA...` is an RSA key to sshd.
const SIGNATURE_ALIASES: &[(&str, &str)] = &[
    ("rsa-sha2-256", "ssh-rsa"),
    ("rsa-sha2-512", "ssh-rsa"),
    (
        "rsa-sha2-256-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
    ),
    (
        "rsa-sha2-512-cert-v01@openssh.com",
        "ssh-rsa-cert-v01@openssh.com",
    ),
];

/// The key type `name` stands for in sshd (`sshkey_type_from_name`): itself for one of
/// [`KNOWN_KEY_TYPES`], `ssh-rsa` for `rsa-sha2-256`/`rsa-sha2-512` (and likewise for their
/// certificate forms), `None` for a name sshd does not know.
fn base_key_type(name: &[u8]) -> Option<&'static str> {
    KNOWN_KEY_TYPES
        .iter()
        .copied()
        .find(|t| t.as_bytes() == name)
        .or_else(|| {
            SIGNATURE_ALIASES
                .iter()
                .find(|(alias, _)| alias.as_bytes() == name)
                .map(|(_, base)| *base)
        })
}

/// Whether `name` is a key type sshd knows (exact, case-sensitive match as in `sshkey.c`): one
/// of [`KNOWN_KEY_TYPES`] or a signature algorithm name sshd maps to one (`rsa-sha2-256`).
pub fn is_known_key_type(name: &str) -> bool {
    base_key_type(name.as_bytes()).is_some()
}

/// How a line ended in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`.
    Lf,
    /// `\r\n` (case KF-04: the CR is not part of the line's content).
    CrLf,
    /// The last line of a file without a final newline (case AK-10).
    None,
}

impl LineEnding {
    /// The bytes of this ending.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::CrLf => b"\r\n",
            LineEnding::None => b"",
        }
    }
}

/// One line of an authorized_keys file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The line's bytes without its ending, exactly as in the file.
    pub raw: Vec<u8>,
    /// How the line ended.
    pub ending: LineEnding,
    /// What sshd would make of it.
    pub kind: LineKind,
}

/// The kinds of line (DESIGN.md: blank, comment, key with options, unparseable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    /// Empty or only spaces/tabs.
    Blank,
    /// First non-blank character is `#` (a commented-out key is a comment, case AK-07).
    Comment,
    /// A key line sshd would use.
    Key(KeyLine),
    /// A line sshd would skip (SSH1 format, unknown key type or option, bad base64, a BOM, ...).
    /// It is kept verbatim and never makes a request fail (case AK-02).
    Unparseable {
        /// Why, for a warning such as "line 2: unrecognised format, left untouched".
        reason: String,
    },
}

/// A parsed key line: `[options ]type base64[ comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine {
    /// The options field exactly as written (quoting unchanged, case AK-01), if any.
    pub options_raw: Option<String>,
    /// The options, parsed with sshd's grammar.
    pub options: Vec<KeyOption>,
    /// The key type, one of [`KNOWN_KEY_TYPES`].
    pub key_type: String,
    /// The base64 field as written.
    pub base64: String,
    /// The decoded key blob (its embedded type name equals `key_type`).
    pub blob: Vec<u8>,
    /// Everything after the base64 field with surrounding spaces/tabs trimmed; inner runs of
    /// spaces are kept (case AK-08). `None` when empty.
    pub comment: Option<String>,
}

/// What identifies a managed entry: options, key type and decoded blob; never the comment
/// (cases AK-04 and AK-05). Option names are compared in lower case, as sshd matches them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryIdentity {
    /// `(lower-case name, dequoted value)` in written order (order matters to sshd:
    /// `restrict,pty` allows a pty, `pty,restrict` does not).
    pub options: Vec<(String, Option<String>)>,
    /// Key type.
    pub key_type: String,
    /// Decoded key blob.
    pub blob: Vec<u8>,
}

impl KeyLine {
    /// The entry identity (options, type, blob) of this line.
    pub fn identity(&self) -> EntryIdentity {
        EntryIdentity {
            options: self
                .options
                .iter()
                .map(|o| (o.normalized_name(), o.value.clone()))
                .collect(),
            key_type: self.key_type.clone(),
            blob: self.blob.clone(),
        }
    }

    /// Whether this line and `other` carry the same key material (type and blob), whatever
    /// their options and comments.
    pub fn same_key(&self, other: &KeyLine) -> bool {
        self.key_type == other.key_type && self.blob == other.blob
    }

    /// Whether an option with this (case-insensitive) name is present.
    pub fn has_option(&self, name: &str) -> bool {
        self.options
            .iter()
            .any(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The canonical one-line form testum writes: the options field verbatim, then type, base64
    /// and comment separated by single spaces. Tabs or runs of spaces between fields and
    /// surrounding whitespace are dropped (case AK-05); the comment is kept verbatim (AK-08).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(opts) = &self.options_raw {
            out.push_str(opts);
            out.push(' ');
        }
        out.push_str(&self.key_type);
        out.push(' ');
        out.push_str(&self.base64);
        if let Some(c) = &self.comment {
            out.push(' ');
            out.push_str(c);
        }
        out
    }
}

/// Why a line is not a key line sshd would accept. Messages never echo the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLineError {
    /// Empty or only whitespace.
    #[error("line is empty")]
    Empty,
    /// Starts with `#`.
    #[error("line is a comment")]
    Comment,
    /// Starts with a UTF-8 byte order mark, which sshd does not skip.
    #[error("line starts with a byte order mark; sshd ignores it")]
    ByteOrderMark,
    /// The options field is malformed.
    #[error("bad options: {0}")]
    Options(#[from] OptionsError),
    /// No known key type where one is expected.
    #[error("no known key type (expected e.g. ssh-ed25519 or options followed by a key type)")]
    NoKeyType,
    /// The key type is followed by nothing.
    #[error("key type {0} is not followed by key data")]
    MissingKeyData(String),
    /// The key data is not valid base64.
    #[error("key data after {0} is not valid base64")]
    BadBase64(String),
    /// The decoded key names another type than the line (sshd: key type mismatch).
    #[error("key data does not hold a {0} key")]
    TypeMismatch(String),
}

fn skip_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// Split off the first field (up to a space or tab).
fn first_field(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Read `type base64[ comment]` at the start of `s` (sshd's `sshkey_read`).
fn read_key(s: &str) -> Result<(String, String, Vec<u8>, Option<String>), KeyLineError> {
    let (key_type, rest) = first_field(s);
    if !is_known_key_type(key_type) {
        return Err(KeyLineError::NoKeyType);
    }
    let rest = skip_ws(rest);
    let (b64, rest) = first_field(rest);
    if b64.is_empty() {
        return Err(KeyLineError::MissingKeyData(key_type.to_string()));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| KeyLineError::BadBase64(key_type.to_string()))?;
    // sshd compares the types the names stand for, so `rsa-sha2-512` text with an `ssh-rsa`
    // blob (or the other way round) is one RSA key.
    if blob_type(&blob).and_then(base_key_type) != base_key_type(key_type.as_bytes()) {
        return Err(KeyLineError::TypeMismatch(key_type.to_string()));
    }
    let comment = rest.trim_matches([' ', '\t']);
    let comment = (!comment.is_empty()).then(|| comment.to_string());
    Ok((key_type.to_string(), b64.to_string(), blob, comment))
}

/// The type name at the start of an SSH wire-format key blob (`string` = u32 length + bytes).
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len_bytes: [u8; 4] = blob.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    blob.get(4..4usize.checked_add(len)?)
}

/// Parse one line's text (without its line ending) as a key line, the way sshd does.
///
/// # Errors
/// [`KeyLineError`] saying why sshd would skip the line.
pub fn parse_key_line(text: &str) -> Result<KeyLine, KeyLineError> {
    if text.starts_with('\u{feff}') {
        return Err(KeyLineError::ByteOrderMark);
    }
    // A lone CR at the very end (last line of a CRLF file without final LF) is a line ending.
    let text = text.strip_suffix('\r').unwrap_or(text);
    let s = skip_ws(text);
    if s.trim_end_matches([' ', '\t']).is_empty() {
        return Err(KeyLineError::Empty);
    }
    if s.starts_with('#') {
        return Err(KeyLineError::Comment);
    }
    let (first, _) = first_field(s);
    if is_known_key_type(first) {
        // sshd would fall back to reading `first` as options, which then fails as an unknown
        // option; report the real problem instead.
        let (key_type, base64, blob, comment) = read_key(s)?;
        return Ok(KeyLine {
            options_raw: None,
            options: Vec::new(),
            key_type,
            base64,
            blob,
            comment,
        });
    }
    let (field, rest) = split_options_field(s)?;
    let rest = skip_ws(rest);
    let (key_type, base64, blob, comment) = read_key(rest)?;
    // In a line, sshd's option parser stops at the blank before the key, so trailing commas
    // (`restrict, ssh-ed25519 ...`) are accepted there, unlike in a bare options string.
    let options = parse_options(field.trim_end_matches(','))?;
    Ok(KeyLine {
        options_raw: Some(field.to_string()),
        options,
        key_type,
        base64,
        blob,
        comment,
    })
}

/// Split `bytes` into lines (LF, CRLF or none for a last line without newline) and classify
/// each one. Never fails: a line that is not valid UTF-8 is read lossily for classification
/// only; `raw` always holds the exact bytes.
pub fn parse(bytes: &[u8]) -> Vec<Line> {
    split_lines(bytes)
        .into_iter()
        .enumerate()
        .map(|(i, (raw, ending))| {
            let text = String::from_utf8_lossy(raw);
            let kind = match parse_key_line(&text) {
                Ok(k) => LineKind::Key(k),
                Err(KeyLineError::Empty) => LineKind::Blank,
                Err(KeyLineError::Comment) => LineKind::Comment,
                Err(e) => LineKind::Unparseable {
                    reason: e.to_string(),
                },
            };
            Line {
                number: i + 1,
                raw: raw.to_vec(),
                ending,
                kind,
            }
        })
        .collect()
}

/// Split into `(content, ending)` pairs without allocating; the pieces concatenate to `bytes`.
pub(crate) fn split_lines(bytes: &[u8]) -> Vec<(&[u8], LineEnding)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b'\n') {
            Some(pos) => {
                let line = &rest[..pos];
                match line.strip_suffix(b"\r") {
                    Some(content) => out.push((content, LineEnding::CrLf)),
                    None => out.push((line, LineEnding::Lf)),
                }
                rest = &rest[pos + 1..];
            }
            None => {
                out.push((rest, LineEnding::None));
                rest = &[];
            }
        }
    }
    out
}
