//! Finding where authorized_keys options end, the way sshd does.
//!
//! A registered key never carries options (they belong to an assignment), but the key parser must
//! recognise `from="..." ssh-ed25519 AAAA...` to say so clearly, and callers that hold a whole
//! authorized_keys entry need to split it. sshd (auth2-pubkeyfile.c) first tries to read the line
//! as a key; when that fails it skips an options field with `sshkey_advance_past_options`: the
//! field ends at the first space or tab outside double quotes, and `\"` inside quotes does not end
//! the quoted part. An unterminated quote makes the line invalid.

/// Split an authorized_keys entry into its options field and the rest (key type onwards).
///
/// Shape: `Some((options, rest))` with `options` non-empty and `rest` starting at the first
/// non-blank after the options; `None` when a quote is left open or nothing follows the options.
/// The options text is returned raw (not validated); callers that keep it must check it.
pub fn split_options(entry: &str) -> Option<(&str, &str)> {
    let bytes = entry.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if !quoted && (b == b' ' || b == b'\t') {
            break;
        }
        if b == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 1;
        } else if b == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted || i == 0 {
        return None;
    }
    let (options, rest) = entry.split_at(i);
    let rest = rest.trim_start_matches([' ', '\t']);
    (!rest.is_empty()).then_some((options, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_keep_spaces_and_commas() {
        assert_eq!(
            split_options(
                r#"from="192.0.2.1,198.51.100.0/24",command="echo \"hi there\"" ssh-ed25519 AAAA c"#
            ),
            Some((
                r#"from="192.0.2.1,198.51.100.0/24",command="echo \"hi there\"""#,
                "ssh-ed25519 AAAA c"
            ))
        );
        assert_eq!(
            split_options("no-touch-required\t sk-x AAAA"),
            Some(("no-touch-required", "sk-x AAAA"))
        );
    }

    #[test]
    fn open_quote_or_nothing_after_is_none() {
        assert_eq!(split_options(r#"from="x ssh-ed25519 AAAA"#), None);
        assert_eq!(split_options("restrict"), None);
        assert_eq!(split_options(" x"), None);
    }
}
