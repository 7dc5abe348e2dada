//! Quoting for a POSIX shell: what testum sends as a remote command line (`sh -c` on a
//! platform) and what the CLI prints for a user to paste.
//!
//! Layering: a leaf. It depends on nothing in the crate; the SSH engine (`ssh`), the deploy
//! scripts (`deploy`) and the CLI client (`client`) all use it.

/// Quote `s` as one word for a POSIX shell: `'...'`, with each `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
