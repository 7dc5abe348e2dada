//! OpenSSH one-line public keys: `type base64 [comment]`.
//!
//! The format of `ssh-keygen` `.pub` files and of authorized_keys entries without options
//! (sshd(8), AUTHORIZED_KEYS FILE FORMAT): fields are separated by spaces or tabs, the comment
//! runs to the end of the line. The key type in the text must equal the type inside the blob, as
//! OpenSSH's `sshkey_read` requires. The caller has already trimmed the line and made sure it holds
//! no CR or LF.

use super::blob::{self, Decoded};
use super::comment;
use super::error::{KeyError, safe_name};
use super::options::split_options;

/// Parse one trimmed line into the decoded blob and the validated comment.
///
/// # Errors
/// Every refusal of [`blob::decode`] and [`comment::validate`], plus
/// [`KeyError::OptionsNotAllowed`] when a key follows an options field,
/// [`KeyError::MultipleKeys`] when the comment holds further keys, [`KeyError::TypeMismatch`],
/// [`KeyError::MissingKeyData`], [`KeyError::BadBase64`], [`KeyError::NotAKey`] and
/// [`KeyError::ControlCharacter`] (with `in_comment: false`) for the type and data fields.
pub fn parse_line(line: &str) -> Result<(Decoded, Option<String>), KeyError> {
    let (type_token, rest) = split_field(line);
    let (data, comment) = split_field(rest);
    match key_fields(type_token, data) {
        Ok(decoded) => {
            let comment = comment::validate(comment)?;
            let extra = comment.as_deref().map_or(0, count_keys);
            if extra > 0 {
                return Err(KeyError::MultipleKeys { count: extra + 1 });
            }
            Ok((decoded, comment))
        }
        Err(_) if !blob::is_known_name(type_token) && has_key_after_options(line) => {
            Err(KeyError::OptionsNotAllowed)
        }
        Err(error) => Err(error),
    }
}

/// Number of `type base64` key pairs among the blank-separated words of `text` (any position).
pub fn count_keys(text: &str) -> usize {
    let words: Vec<&str> = text.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    words
        .windows(2)
        .filter(|pair| match pair {
            [ty, data] => {
                // Every blob starts with a 32-bit length below 2^24, which base64 writes as "AAAA".
                safe_name(ty).is_some() && data.starts_with("AAAA") && blob::is_key_pair(ty, data)
            }
            _ => false,
        })
        .count()
}

/// Split at the first space or tab; the rest starts at the next non-blank.
fn split_field(text: &str) -> (&str, &str) {
    match text.find([' ', '\t']) {
        Some(at) => {
            let (field, rest) = text.split_at(at);
            (field, rest.trim_start_matches([' ', '\t']))
        }
        None => (text, ""),
    }
}

/// Whether the line is `options key...`: what follows an options field starts with a known key
/// type or is a `type base64` pair.
fn has_key_after_options(line: &str) -> bool {
    split_options(line).is_some_and(|(_, rest)| {
        let (ty, rest) = split_field(rest);
        let (data, _) = split_field(rest);
        blob::is_known_name(ty) || blob::is_key_pair(ty, data)
    })
}

fn key_fields(type_token: &str, data: &str) -> Result<Decoded, KeyError> {
    if let Some(c) =
        comment::first_forbidden_char(type_token).or_else(|| comment::first_forbidden_char(data))
    {
        return Err(KeyError::ControlCharacter {
            code: u32::from(c),
            in_comment: false,
        });
    }
    let known = blob::is_known_name(type_token);
    if known {
        // DSA and certificates are refused by name, whatever the data holds.
        blob::check_algorithm(type_token)?;
    }
    let not_a_key = |when_known: KeyError| if known { when_known } else { KeyError::NotAKey };
    if data.is_empty() {
        return Err(not_a_key(KeyError::MissingKeyData));
    }
    let bytes = blob::decode_base64(data).ok_or_else(|| not_a_key(KeyError::BadBase64))?;
    let Some(blob_type) = blob::algorithm_name(&bytes) else {
        return Err(not_a_key(KeyError::BadBlob {
            reason: "it does not start with a key type",
        }));
    };
    if blob_type != type_token {
        return Err(if known || blob::is_known_name(blob_type) {
            KeyError::TypeMismatch {
                text: safe_name(type_token),
                blob: safe_name(blob_type),
            }
        } else {
            KeyError::NotAKey
        });
    }
    blob::decode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICh9EY/TaTvteQcpOyAzkBC4LYIXSyjn7kMQrtOC6vrg";

    #[test]
    fn control_characters_in_the_comment_are_refused() {
        assert_eq!(
            parse_line(&format!("{KEY} a\tb")).map(|_| ()),
            Err(KeyError::ControlCharacter {
                code: 9,
                in_comment: true
            })
        );
    }

    #[test]
    fn fields_may_be_separated_by_tabs_and_runs_of_spaces() {
        let line = KEY.replacen(' ', " \t ", 1) + "   a  b";
        let (d, c) = parse_line(&line).unwrap();
        assert_eq!(d.key_type, "ssh-ed25519");
        assert_eq!(c.as_deref(), Some("a  b"));
    }

    #[test]
    fn options_before_the_key_are_named() {
        for line in [
            format!("restrict {KEY}"),
            format!(r#"from="192.0.2.0/24",command="echo \"a b\"" {KEY} c"#),
            format!("no-touch-required\t{KEY}"),
            "verify-required ssh-dss AAAA".to_owned(),
        ] {
            assert_eq!(
                parse_line(&line).map(|_| ()),
                Err(KeyError::OptionsNotAllowed),
                "{line}"
            );
        }
    }

    #[test]
    fn a_second_key_in_the_comment_is_counted() {
        assert_eq!(
            parse_line(&format!("{KEY} alice {OTHER} dave")).map(|_| ()),
            Err(KeyError::MultipleKeys { count: 2 })
        );
        assert_eq!(count_keys(&format!("{KEY} x {OTHER} {KEY}")), 3);
    }

    #[test]
    fn garbage_is_not_a_key_and_known_types_get_precise_errors() {
        assert_eq!(
            parse_line("hello world").map(|_| ()),
            Err(KeyError::NotAKey)
        );
        assert_eq!(parse_line("hello").map(|_| ()), Err(KeyError::NotAKey));
        assert_eq!(
            parse_line("ssh-ed25519").map(|_| ()),
            Err(KeyError::MissingKeyData)
        );
        assert_eq!(
            parse_line("ssh-ed25519 !!!").map(|_| ()),
            Err(KeyError::BadBase64)
        );
        assert_eq!(
            parse_line("ssh-rsa d29ybGQ=").map(|_| ()),
            Err(KeyError::BadBlob {
                reason: "it does not start with a key type"
            })
        );
        assert_eq!(
            parse_line("ssh-ed\0 AAAA").map(|_| ()),
            Err(KeyError::ControlCharacter {
                code: 0,
                in_comment: false
            })
        );
    }
}
