//! Checks of user input that are not about keys: names, hosts, usernames, paths, tags and
//! fingerprints. Each returns the normalised value or a reason (a message that completes
//! "FIELD: ..."), and never echoes control characters back.

use std::net::IpAddr;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// Refuse control characters and Unicode format characters (general category Cf: U+200B zero
/// width space, U+202E right-to-left override, U+FEFF, ...), which make two names that look
/// the same, or a name that reads backwards.
fn visible(text: &str) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    match text
        .chars()
        .find(|c| c.general_category() == GeneralCategory::Format)
    {
        Some(c) => Err(format!(
            "must not contain invisible or bidirectional formatting characters (U+{:04X})",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// A display name (key, platform, API token): 1 to 100 characters, no control or format
/// characters (see [`visible`]).
pub fn name(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > 100 {
        return Err("must be at most 100 characters".into());
    }
    visible(text)?;
    Ok(text.to_string())
}

/// A key's name: a [`name`] that does not start like a fingerprint (`SHA256:`, `MD5:`, any
/// case), since wherever a key is named (the CLI's `--key`, searches) a fingerprint is taken as
/// one: a key named `SHA256:abc` would stand for another key's fingerprint.
pub fn key_name(text: &str) -> Result<String, String> {
    let name = name(text)?;
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("sha256:") || lower.starts_with("md5:") {
        return Err("must not start with SHA256: or MD5: (it would read as a fingerprint)".into());
    }
    Ok(name)
}

/// An optional free-text field such as a key's owner: at most 200 characters, no control or
/// format characters; empty means none.
pub fn optional_text(text: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > 200 {
        return Err("must be at most 200 characters".into());
    }
    visible(text)?;
    Ok(Some(text.to_string()))
}

/// A host: an IPv4 or IPv6 address (brackets allowed) or a DNS name (RFC 1123 labels; `_`
/// tolerated as some internal zones use it). Never empty, never with whitespace, never starting
/// with `-` (it would read as an option to ssh tools).
pub fn host(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    if text.starts_with('-') {
        return Err("must not start with '-'".into());
    }
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    if text.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !text.trim_end_matches('.').split('.').all(valid_label) {
        return Err("must be an IP address or a DNS host name (letters, digits, '-', '.')".into());
    }
    Ok(text.to_ascii_lowercase())
}

/// A TCP port, 1 to 65535.
pub fn port(value: i64) -> Result<u16, String> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| "must be from 1 to 65535".to_string())
}

/// A login name as POSIX and shadow-utils accept it: 1 to 32 of letters, digits, `.`, `_`, `-`,
/// not starting with `-`.
pub fn username(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.len() > 32 {
        return Err("must be at most 32 characters".into());
    }
    if text.starts_with('-') {
        return Err("must not start with '-'".into());
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("may contain only letters, digits, '.', '_' and '-'".into());
    }
    Ok(text.to_string())
}

/// Default authorized_keys path, relative to the login user's home (OpenSSH's default
/// `AuthorizedKeysFile .ssh/authorized_keys`).
pub const DEFAULT_AUTHORIZED_KEYS_PATH: &str = ".ssh/authorized_keys";

/// An authorized_keys path: relative to the login user's home (a leading `~/` is dropped) or
/// absolute; no `..` component, no control characters, at most 4096 bytes. Returned in one
/// spelling per file: empty and `.` components are dropped (`a//./b` is `a/b`), so the unique
/// index on a platform's file (host, port, user, path) cannot be passed by another spelling.
pub fn authorized_keys_path(text: &str) -> Result<String, String> {
    let text = text.strip_prefix("~/").unwrap_or(text);
    if text.is_empty() || text == "/" {
        return Err("must name a file".into());
    }
    if text.len() > 4096 {
        return Err("must be at most 4096 bytes".into());
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    if text.ends_with('/') {
        return Err("must name a file, not a directory".into());
    }
    if text.split('/').any(|part| part == "..") {
        return Err("must not contain '..'".into());
    }
    if text.starts_with('~') {
        return Err("may start with '~/' only for the login user's own home".into());
    }
    let parts: Vec<&str> = text
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    if parts.is_empty() {
        return Err("must name a file".into());
    }
    let root = if text.starts_with('/') { "/" } else { "" };
    Ok(format!("{root}{}", parts.join("/")))
}

/// Tags: each 1 to 64 of letters, digits, `.`, `_`, `-`, `:`, `=`, `/`, and a `key=value` tag
/// has a key (selectors read a bare `key=value` word as that tag, so `=x` could never be picked);
/// at most 50; duplicates dropped, order kept. An error quotes the tag it is about.
pub fn tags(values: &[String]) -> Result<Vec<String>, String> {
    if values.len() > 50 {
        return Err("at most 50 tags".into());
    }
    let mut out: Vec<String> = Vec::new();
    for tag in values {
        let valid = !tag.is_empty()
            && tag.len() <= 64
            && tag.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '=' | '/')
            });
        let shown: String = tag.chars().take(70).collect();
        if !valid {
            return Err(format!(
                "tag {shown:?} must be 1 to 64 of letters, digits, '.', '_', '-', ':', '=', '/'"
            ));
        }
        if tag.starts_with('=') {
            return Err(format!(
                "tag {shown:?} needs a key before '=' (key=value, like env=prod)"
            ));
        }
        if !out.contains(tag) {
            out.push(tag.clone());
        }
    }
    Ok(out)
}

/// A SHA-256 fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 unpadded base64
/// characters.
pub fn fingerprint(text: &str) -> Result<String, String> {
    let text = text.trim();
    let valid = text.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
    });
    if valid {
        Ok(text.to_string())
    } else {
        Err(
            "must be a SHA256 fingerprint as ssh-keygen -l prints it (SHA256: and 43 base64 \
             characters)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_cannot_read_as_a_fingerprint() {
        assert!(key_name("SHA256:abcdef").is_err());
        assert!(key_name("md5:12:34").is_err());
        assert_eq!(
            key_name("alice sha256 laptop").unwrap(),
            "alice sha256 laptop"
        );
    }

    #[test]
    fn names_refuse_invisible_and_bidirectional_characters() {
        assert_eq!(name(" web 1 ").unwrap(), "web 1");
        assert_eq!(name("Zoë 🔑 ключ").unwrap(), "Zoë 🔑 ключ");
        for (bad, code) in [
            ("web\u{200B}1", "U+200B"),
            ("\u{202E}1bew", "U+202E"),
            ("\u{FEFF}web", "U+FEFF"),
            ("a\u{2066}b", "U+2066"),
            ("a\u{00AD}b", "U+00AD"),
        ] {
            let err = name(bad).unwrap_err();
            assert!(err.contains(code), "{bad:?}: {err}");
            assert!(optional_text(Some(bad)).is_err(), "{bad:?}");
        }
        assert!(name("a\u{7}b").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(host("Web-1.Example.org").unwrap(), "web-1.example.org");
        assert_eq!(host("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(host("[::1]").unwrap(), "::1");
        for bad in [
            "",
            " a",
            "a b",
            "-oProxyCommand=x",
            "a..b",
            "a\nb",
            "ex ample",
            "é.com",
        ] {
            assert!(host(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ports() {
        assert_eq!(port(22).unwrap(), 22);
        assert_eq!(port(65535).unwrap(), 65535);
        for bad in [0, -1, 65536, i64::MAX] {
            assert!(port(bad).is_err());
        }
    }

    #[test]
    fn usernames() {
        assert!(username("deploy").is_ok());
        assert!(username("a.b_c-d").is_ok());
        for bad in ["", "-x", "a b", "root;rm", &"a".repeat(33), "ü"] {
            assert!(username(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            authorized_keys_path("~/.ssh/authorized_keys").unwrap(),
            ".ssh/authorized_keys"
        );
        assert_eq!(
            authorized_keys_path("/etc/ssh/keys/u").unwrap(),
            "/etc/ssh/keys/u"
        );
        // One spelling per file (a fresh reviewer's finding: `//` and `/./` made a second
        // platform on one file, whose deploy then wiped the first one's keys).
        for (spelling, canonical) in [
            (
                "/tmp/fleet//h0/./authorized_keys",
                "/tmp/fleet/h0/authorized_keys",
            ),
            ("./.ssh/authorized_keys", ".ssh/authorized_keys"),
            ("~/.ssh//authorized_keys", ".ssh/authorized_keys"),
            ("//etc/ssh/keys/u", "/etc/ssh/keys/u"),
        ] {
            assert_eq!(authorized_keys_path(spelling).unwrap(), canonical);
        }
        for bad in [
            "", "/", "a/../b", "..", "x\n", ".ssh/", "~bob/x", ".", "/./", "~/.",
        ] {
            assert!(authorized_keys_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tag_lists() {
        assert_eq!(
            tags(&["a".into(), "env=prod".into(), "a".into()]).unwrap(),
            ["a", "env=prod"]
        );
        assert!(tags(&["".into()]).is_err());
        assert_eq!(
            tags(&["web".into(), "a b".into()]).unwrap_err(),
            "tag \"a b\" must be 1 to 64 of letters, digits, '.', '_', '-', ':', '=', '/'"
        );
        assert!(tags(&["=x".into()]).unwrap_err().contains("needs a key"));
        assert_eq!(
            tags(&["role=db:primary".into()]).unwrap(),
            ["role=db:primary"]
        );
    }

    #[test]
    fn fingerprints() {
        assert!(fingerprint("SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").is_ok());
        assert!(fingerprint("SHA256:short").is_err());
        assert!(fingerprint("MD5:aa:bb").is_err());
    }
}
