//! Public keys in bulk: an authorized_keys file, or several `.pub` files concatenated, read line
//! by line with the registry's own key checks ([`crate::keys::PublicKey::parse`]).
//!
//! - Blank lines and `#` comments are skipped (counted, not listed).
//! - Options in front of a key (`restrict,from="10.0.0.0/8" ssh-ed25519 AAAA... c`) are ignored
//!   and reported: a registered key carries none; options belong to an assignment.
//! - A framed block (`---- BEGIN SSH2 PUBLIC KEY ----` RFC 4716, or any `-----BEGIN ...` PEM
//!   block such as a pasted private key, or a PuTTY key file) is one entry, at its first line: an
//!   RFC 4716 public key is read, anything else is refused once with its reason, not line by
//!   line.
//! - The name is the key's comment (cut to 100 characters), else `<type> <fingerprint start>`.

use crate::keys::{KeyError, PublicKey, split_options};
use crate::validate;

/// One key entry of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLine {
    /// 1-based line where the entry starts.
    pub line: usize,
    /// The key and the name it gets, or why it is refused.
    pub key: Result<(PublicKey, String), KeyError>,
    /// What was ignored (options in front of the key).
    pub note: Option<String>,
}

/// What [`read`] found: the key entries in order and how many lines were skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLines {
    pub entries: Vec<KeyLine>,
    /// Blank and comment lines.
    pub skipped: usize,
}

/// Longest options text a note repeats.
const NOTE_OPTIONS: usize = 80;

/// Read `content` (see the module documentation).
pub fn read(content: &str) -> KeyLines {
    let content = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let lines: Vec<&str> = content.lines().collect();
    let mut out = KeyLines::default();
    let mut index = 0;
    while index < lines.len() {
        let line = index + 1;
        let text = lines[index].trim();
        index += 1;
        if text.is_empty() || text.starts_with('#') {
            out.skipped += 1;
            continue;
        }
        if let Some(end) = block_end(text) {
            let start = index - 1;
            while index < lines.len() && !end(lines[index].trim()) {
                index += 1;
            }
            index = (index + 1).min(lines.len());
            let block = lines[start..index].join("\n");
            out.entries.push(KeyLine {
                line,
                key: PublicKey::parse(&block).map(named),
                note: None,
            });
            continue;
        }
        let (key, note) = match PublicKey::parse(text) {
            Err(KeyError::OptionsNotAllowed) => match split_options(text) {
                Some((options, rest)) => {
                    let shown: String = options.chars().take(NOTE_OPTIONS).collect();
                    let more = if shown.len() < options.len() {
                        "…"
                    } else {
                        ""
                    };
                    (
                        PublicKey::parse(rest),
                        Some(format!("authorized_keys options ignored: {shown}{more}")),
                    )
                }
                None => (Err(KeyError::OptionsNotAllowed), None),
            },
            other => (other, None),
        };
        out.entries.push(KeyLine {
            line,
            key: key.map(named),
            note,
        });
    }
    out
}

/// For a line that opens a framed block, the test of the line that closes it.
fn block_end(text: &str) -> Option<fn(&str) -> bool> {
    if text.starts_with("---- BEGIN ") {
        Some(|l| l.starts_with("---- END "))
    } else if text.starts_with("-----BEGIN ") {
        Some(|l| l.starts_with("-----END "))
    } else if text.starts_with("PuTTY-User-Key-File-") {
        Some(|l| l.starts_with("Private-MAC:"))
    } else {
        None
    }
}

/// The key with its name: the comment, else `<type> <first 8 of the fingerprint>`.
fn named(key: PublicKey) -> (PublicKey, String) {
    let from_comment = key
        .comment
        .as_deref()
        .map(|c| c.chars().take(100).collect::<String>())
        .and_then(|c| validate::key_name(&c).ok());
    let name = from_comment.unwrap_or_else(|| {
        let short: String = key
            .fingerprint
            .trim_start_matches("SHA256:")
            .chars()
            .take(8)
            .collect();
        format!("{} {short}", key.key_type)
    });
    (key, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519(n: u8, comment: &str) -> String {
        use base64::Engine as _;
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[n; 32]);
        format!(
            "ssh-ed25519 {} {comment}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        )
    }

    #[test]
    fn authorized_keys_with_options_comments_and_refusals() {
        let text = format!(
            "# team keys\n\n{}\nrestrict,from=\"10.0.0.0/8\" {}\n{}\nssh-dss AAAAB3NzaC1kc3MAAACBAP8=\n\
             -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n\
             not a key\n",
            ed25519(1, "alice@laptop"),
            ed25519(2, "bob"),
            ed25519(3, "").trim_end(),
        );
        let read = read(&text);
        assert_eq!(read.skipped, 2);
        let summary: Vec<(usize, Option<&str>, Option<&str>)> = read
            .entries
            .iter()
            .map(|e| {
                (
                    e.line,
                    e.key.as_ref().ok().map(|(_, name)| name.as_str()),
                    e.key.as_ref().err().map(KeyError::code),
                )
            })
            .collect();
        assert_eq!(summary.len(), 6, "{summary:?}");
        assert_eq!(summary[0], (3, Some("alice@laptop"), None));
        assert_eq!(summary[1], (4, Some("bob"), None));
        assert!(
            read.entries[1]
                .note
                .as_deref()
                .unwrap()
                .contains("restrict,from=")
        );
        assert_eq!(summary[2].0, 5);
        assert!(
            summary[2].1.unwrap().starts_with("ssh-ed25519 "),
            "{summary:?}"
        );
        assert_eq!((summary[3].0, summary[3].2), (6, Some("dsa")));
        assert_eq!((summary[4].0, summary[4].2), (7, Some("private_key")));
        assert_eq!((summary[5].0, summary[5].2), (11, Some("not_a_key")));
    }

    #[test]
    fn an_rfc4716_block_is_one_key() {
        let line = ed25519(4, "x");
        let base64 = line.split(' ').nth(1).unwrap();
        let text = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"carol\"\n{base64}\n---- END SSH2 PUBLIC KEY ----\n{}\n",
            ed25519(5, "dave")
        );
        let read = read(&text);
        assert_eq!(read.entries.len(), 2);
        assert_eq!(read.entries[0].line, 1);
        assert_eq!(read.entries[0].key.as_ref().unwrap().1, "carol");
        assert_eq!(read.entries[1].line, 5);
    }
}
