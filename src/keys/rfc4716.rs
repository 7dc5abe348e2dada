//! RFC 4716 "SSH Public Key File Format" (PuTTYgen "Save public key", SSH.com tools,
//! `ssh-keygen -e`).
//!
//! ```text
//! ---- BEGIN SSH2 PUBLIC KEY ----
//! Subject: rsa-user
//! Comment: "2048-bit rsa, rsa-user@example, Tue Mar 20 2012 14:17:39 -\
//! 0700"
//! AAAAB3NzaC1yc2EAAAADAQABAAABAQC0UXrjK+/ueyhUjUGLT2T8UFVEp9etNrkIAedaWC
//! ...
//! ---- END SSH2 PUBLIC KEY ----
//! ```
//!
//! Headers are `Tag: value` lines before the body (§3.3); a value ending in `\` continues on the
//! next line (§3.3); tags are case-insensitive; only `Comment` is used (§3.3.2), its surrounding
//! double quotes removed; `Subject`, `x-*` and other headers are ignored. The body is the
//! base64 of the key blob, wrapped over lines (§3.4). Lines may end in LF or CRLF (§3).

use super::error::KeyError;

/// First line of an RFC 4716 public key block (§3.2).
pub const BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
/// Last line of an RFC 4716 public key block (§3.2).
pub const END: &str = "---- END SSH2 PUBLIC KEY ----";

/// Longest header tag allowed (§3.3: 64 bytes).
const MAX_TAG_LEN: usize = 64;

/// The contents of one block: the still-undecoded base64 body and the raw `Comment` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Body lines joined, whitespace removed.
    pub base64: String,
    /// The `Comment` header with continuations joined and quotes removed (not yet validated).
    pub comment: Option<String>,
}

/// Whether trimmed input starts with the RFC 4716 BEGIN line.
pub fn is_block(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|first| first.trim_end() == BEGIN)
}

/// Parse a trimmed input that [`is_block`] accepted.
///
/// # Errors
/// [`KeyError::Rfc4716`] for a missing or misplaced frame line, a bad header tag, a header
/// continued past the end, a header after the body, an empty body or text after the END line;
/// [`KeyError::MultipleKeys`] when several blocks follow each other.
pub fn parse(text: &str) -> Result<Block, KeyError> {
    let malformed = |reason| KeyError::Rfc4716 { reason };
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).trim_end());
    if lines.next() != Some(BEGIN) {
        return Err(malformed(
            "the first line must be ---- BEGIN SSH2 PUBLIC KEY ----",
        ));
    }
    let mut comment = None;
    let mut base64 = String::new();
    let mut ended = false;
    while let Some(line) = lines.next() {
        if line == END {
            ended = true;
            break;
        }
        if line == BEGIN {
            return Err(malformed("a BEGIN line appears before the END line"));
        }
        let Some((tag, value)) = line.split_once(':') else {
            base64.extend(line.chars().filter(|c| !c.is_whitespace()));
            continue;
        };
        if !base64.is_empty() {
            return Err(malformed("a header line appears after the key data"));
        }
        if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(malformed(
                "a header name is empty, too long or not printable ASCII",
            ));
        }
        let mut value = value.trim_start().to_owned();
        while value.ends_with('\\') {
            value.pop();
            match lines.next() {
                Some(next) if next != END => value.push_str(next),
                _ => return Err(malformed("a header ending in \\ has no continuation line")),
            }
        }
        if tag.eq_ignore_ascii_case("Comment") && comment.is_none() {
            comment = Some(unquote(&value).to_owned());
        }
    }
    if !ended {
        return Err(malformed(
            "the ---- END SSH2 PUBLIC KEY ---- line is missing",
        ));
    }
    let rest: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let more_blocks = rest.iter().filter(|l| **l == BEGIN).count();
    if more_blocks > 0 {
        return Err(KeyError::MultipleKeys {
            count: more_blocks + 1,
        });
    }
    if !rest.is_empty() {
        return Err(malformed("there is text after the END line"));
    }
    if base64.is_empty() {
        return Err(malformed(
            "there is no key data between the headers and the END line",
        ));
    }
    Ok(Block { base64, comment })
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_continue_and_unknown_ones_are_ignored() {
        let text = "---- BEGIN SSH2 PUBLIC KEY ----\r\nx-foo: bar\\\r\nbaz\r\ncomment: \"a \\\r\nb\"\r\nAAAA\r\nBBBB\r\n---- END SSH2 PUBLIC KEY ----";
        assert!(is_block(text));
        assert_eq!(
            parse(text),
            Ok(Block {
                base64: "AAAABBBB".into(),
                comment: Some("a b".into())
            })
        );
    }

    #[test]
    fn unquoted_comment_and_no_comment() {
        let text = format!("{BEGIN}\nComment: plain words\nAAAA\n{END}");
        assert_eq!(
            parse(&text).unwrap().comment.as_deref(),
            Some("plain words")
        );
        let text = format!("{BEGIN}\nAAAA\n{END}");
        assert_eq!(parse(&text).unwrap().comment, None);
    }

    #[test]
    fn broken_frames_are_refused() {
        let cases = [
            (
                format!("{BEGIN}\nAAAA"),
                "the ---- END SSH2 PUBLIC KEY ---- line is missing",
            ),
            (
                format!("{BEGIN}\nComment: x\\"),
                "a header ending in \\ has no continuation line",
            ),
            (
                format!("{BEGIN}\nAAAA\nComment: x\n{END}"),
                "a header line appears after the key data",
            ),
            (
                format!("{BEGIN}\nComment: x\n{END}"),
                "there is no key data between the headers and the END line",
            ),
            (
                format!("{BEGIN}\nAAAA\n{END}\nmore"),
                "there is text after the END line",
            ),
            (
                format!("{BEGIN}\n{BEGIN}\nAAAA\n{END}"),
                "a BEGIN line appears before the END line",
            ),
            (
                format!("{BEGIN}\nbad tag: x\nAAAA\n{END}"),
                "a header name is empty, too long or not printable ASCII",
            ),
        ];
        for (text, reason) in cases {
            assert_eq!(parse(&text), Err(KeyError::Rfc4716 { reason }), "{text}");
        }
        let two = format!("{BEGIN}\nAAAA\n{END}\n{BEGIN}\nAAAA\n{END}");
        assert_eq!(parse(&two), Err(KeyError::MultipleKeys { count: 2 }));
    }
}
