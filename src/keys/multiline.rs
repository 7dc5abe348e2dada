//! Explaining a submission that spans several lines (and is not an RFC 4716 block).
//!
//! A public key is one line; a CR or LF inside it would, once written to authorized_keys, start a
//! new line that carries none of the intended options. Such input is always refused; this module
//! only chooses the most useful reason (it never rejoins the lines into a key):
//! - two or more lines holding a `type base64` pair: several keys ([`KeyError::MultipleKeys`]);
//! - lines that form one key when joined with a space (type / base64 / comment on separate lines)
//!   or with nothing (base64 wrapped at a column), or a first line that is only a key type:
//!   a wrapped key ([`KeyError::Wrapped`]);
//! - anything else: [`KeyError::LineBreak`].

use super::blob;
use super::error::KeyError;
use super::openssh::{count_keys, parse_line};

/// The refusal for trimmed input that contains CR or LF.
pub fn diagnose(text: &str) -> KeyError {
    let lines: Vec<&str> = text
        .split(['\r', '\n'])
        .map(|l| l.trim_matches([' ', '\t']))
        .filter(|l| !l.is_empty())
        .collect();
    let keys: usize = lines.iter().map(|l| count_keys(l)).sum();
    if keys >= 2 {
        return KeyError::MultipleKeys { count: keys };
    }
    let first_is_type_only = lines.first().is_some_and(|l| blob::is_known_name(l));
    if first_is_type_only
        || parse_line(&lines.join(" ")).is_ok()
        || parse_line(&lines.concat()).is_ok()
    {
        return KeyError::Wrapped;
    }
    KeyError::LineBreak
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "ssh-ed25519";
    const DATA: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi";

    #[test]
    fn wrapped_at_fields_or_inside_base64() {
        assert_eq!(
            diagnose(&format!("{TYPE}\n{DATA}\nalice")),
            KeyError::Wrapped
        );
        assert_eq!(
            diagnose(&format!("{TYPE} {}\r\n{} alice", &DATA[..30], &DATA[30..])),
            KeyError::Wrapped
        );
        assert_eq!(
            diagnose(&format!("{TYPE}\n{}\n{}", &DATA[..30], &DATA[30..])),
            KeyError::Wrapped
        );
    }

    #[test]
    fn several_keys_and_other_breaks() {
        assert_eq!(
            diagnose(&format!("{TYPE} {DATA} a\n\n{TYPE} {DATA} b")),
            KeyError::MultipleKeys { count: 2 }
        );
        assert_eq!(
            diagnose(&format!("# my key\n{TYPE} {DATA}")),
            KeyError::LineBreak
        );
        assert_eq!(diagnose("hello\nworld"), KeyError::LineBreak);
    }
}
