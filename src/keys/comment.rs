//! Key comments: the free text after the key data.
//!
//! sshd(8) reads the comment as the rest of the line, spaces included (AUTHORIZED_KEYS FILE
//! FORMAT), so it is kept verbatim: inner runs of spaces, angle brackets, commas and parentheses
//! survive. What is refused is anything that could end the line or confuse a terminal or browser
//! when the comment is written into `authorized_keys` or shown in a UI: control characters (C0
//! including TAB, CR, LF and NUL; DEL; C1), the Unicode line and paragraph separators, the
//! bidirectional overrides and a byte order mark.

use super::error::KeyError;

/// First character of `text` that a key or comment must not contain, if any.
///
/// Refused: [`char::is_control`] (C0, DEL, C1), U+2028, U+2029, U+202A..U+202E,
/// U+2066..U+2069 and U+FEFF.
pub fn first_forbidden_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

/// Check a comment and return it in stored form: `None` when empty after trimming surrounding
/// spaces, else the trimmed text with its inner spacing untouched.
///
/// # Errors
/// [`KeyError::ControlCharacter`] with `in_comment: true` naming the first forbidden character
/// (see [`first_forbidden_char`]).
pub fn validate(comment: &str) -> Result<Option<String>, KeyError> {
    if let Some(c) = first_forbidden_char(comment) {
        return Err(KeyError::ControlCharacter {
            code: u32::from(c),
            in_comment: true,
        });
    }
    let trimmed = comment.trim_matches(' ');
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_inner_spacing_and_punctuation() {
        assert_eq!(
            validate(" Alice  Example <alice@example> (laptop, 2024) ")
                .unwrap()
                .as_deref(),
            Some("Alice  Example <alice@example> (laptop, 2024)")
        );
        assert_eq!(validate("   ").unwrap(), None);
        assert_eq!(validate("").unwrap(), None);
        assert_eq!(validate("Zoë 🔑").unwrap().as_deref(), Some("Zoë 🔑"));
    }

    #[test]
    fn refuses_every_control_character() {
        for (text, code) in [
            ("a\nb", 0x0A),
            ("a\rb", 0x0D),
            ("a\0b", 0x00),
            ("a\tb", 0x09),
            ("a\u{1b}[31mb", 0x1B),
            ("a\u{7f}", 0x7F),
            ("a\u{85}b", 0x85),
            ("a\u{2028}b", 0x2028),
            ("a\u{202E}b", 0x202E),
            ("\u{FEFF}a", 0xFEFF),
        ] {
            assert_eq!(
                validate(text),
                Err(KeyError::ControlCharacter {
                    code,
                    in_comment: true
                }),
                "{code:x}"
            );
        }
    }
}
