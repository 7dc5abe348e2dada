//! The real-world cases in `shared/cases/` (KF-01, KF-02, KF-06, AK-08, AK-12) as tests of
//! [`PublicKey::parse`]. The files are read at test time; a missing file fails the test.

use super::*;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");

fn case(path: &str) -> String {
    let full = format!("{CASES}/{path}");
    std::fs::read_to_string(&full).unwrap_or_else(|e| {
        panic!("case file {full} is missing ({e}); tests/cases is part of the repository")
    })
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&case(path)).unwrap_or_else(|e| panic!("{path}: bad JSON: {e}"))
}

fn field<'a>(value: &'a serde_json::Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("field {name} missing"))
}

fn parse_ok(input: &str) -> PublicKey {
    PublicKey::parse(input).unwrap_or_else(|e| panic!("refused: {e}"))
}

fn parse_err(input: &str) -> KeyError {
    match PublicKey::parse(input) {
        Ok(k) => panic!("accepted: {}", k.line),
        Err(e) => e,
    }
}

/// The message must not carry the submitted text: no base64 run, no comment, no secret line.
fn assert_not_echoed(error: &KeyError, input: &str) {
    let message = error.to_string();
    for word in input.split_whitespace().filter(|w| w.len() >= 8) {
        assert!(
            !message.contains(word),
            "message {message:?} echoes input word {word:?}"
        );
    }
    for marker in ["AAAA", "alice", "dave", "REDACTED", "b3Blbn"] {
        assert!(
            !message.contains(marker),
            "message {message:?} contains {marker:?}"
        );
    }
}

/// `(fingerprint, bits, comment)` from lines of `ssh-keygen -lf` output: `256 SHA256:x comment (TYPE)`.
fn keygen_lines(text: &str) -> Vec<(String, u32, String)> {
    text.lines()
        .map(|l| {
            let (bits, rest) = l.split_once(' ').unwrap();
            let (fp, rest) = rest.split_once(' ').unwrap();
            let comment = &rest[..rest.rfind(" (").unwrap()];
            (fp.to_owned(), bits.parse().unwrap(), comment.to_owned())
        })
        .collect()
}

// ---- KF-01: security-key types ------------------------------------------------------------

#[test]
fn kf01_sk_keys_are_accepted_with_ssh_keygen_fingerprints() {
    let expected = keygen_lines(&case("KF-01-security-key-types/fingerprints.txt"));
    let files = [
        (
            "KF-01-security-key-types/sk_ed25519.pub",
            "sk-ssh-ed25519@openssh.com",
        ),
        (
            "KF-01-security-key-types/sk_ecdsa.pub",
            "sk-ecdsa-sha2-nistp256@openssh.com",
        ),
    ];
    for ((file, key_type), (fp, bits, comment)) in files.into_iter().zip(expected) {
        let text = case(file);
        let key = parse_ok(&text);
        assert_eq!(key.key_type, key_type);
        assert_eq!(key.fingerprint, fp, "{file}");
        assert_eq!(key.bits, bits);
        assert_eq!(key.comment.as_deref(), Some(comment.as_str()));
        assert_eq!(key.line, text.trim_end());
    }
}

#[test]
fn kf01_entries_with_sk_options_are_keys_behind_options() {
    let ed = parse_ok(&case("KF-01-security-key-types/sk_ed25519.pub"));
    let ec = parse_ok(&case("KF-01-security-key-types/sk_ecdsa.pub"));
    let request = json("KF-01-security-key-types/request.json");
    let entries: Vec<&str> = request["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(parse_ok(entries[0]).fingerprint, ed.fingerprint);
    // A registered key has no options; the assignment carries them.
    for (entry, key, options) in [
        (entries[1], &ec, "no-touch-required"),
        (entries[2], &ed, r#"verify-required,from="192.0.2.0/24""#),
    ] {
        let error = parse_err(entry);
        assert_eq!(error, KeyError::OptionsNotAllowed);
        assert!(error.to_string().contains("assignment"), "{error}");
        let (found_options, rest) = split_options(entry).unwrap();
        assert_eq!(found_options, options);
        assert_eq!(parse_ok(rest).fingerprint, key.fingerprint);
    }
    // Every line of the expected file holds one of the two keys.
    for line in case("KF-01-security-key-types/authorized_keys.expected").lines() {
        let key = match PublicKey::parse(line) {
            Ok(key) => key,
            Err(KeyError::OptionsNotAllowed) => parse_ok(split_options(line).unwrap().1),
            Err(e) => panic!("{e}"),
        };
        assert!(key.fingerprint == ed.fingerprint || key.fingerprint == ec.fingerprint);
    }
}

#[test]
fn kf01_alias_and_mismatched_type_are_refused_naming_the_blob_type() {
    let alias = case("KF-01-security-key-types/bad-alias.pub");
    let error = parse_err(&alias);
    assert_eq!(
        error,
        KeyError::TypeMismatch {
            text: Some("ed25519-sk".into()),
            blob: Some("sk-ssh-ed25519@openssh.com".into())
        }
    );
    assert!(
        error
            .to_string()
            .contains("use 'sk-ssh-ed25519@openssh.com'"),
        "{error}"
    );
    // Only the type token (a short safe name) is repeated, never the key data or comment.
    assert_not_echoed(&error, alias.split_once(' ').unwrap().1);

    let mismatch = case("KF-01-security-key-types/type-mismatch.pub");
    let error = parse_err(&mismatch);
    assert_eq!(
        error,
        KeyError::TypeMismatch {
            text: Some("ssh-ed25519".into()),
            blob: Some("sk-ssh-ed25519@openssh.com".into())
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("key type in text and blob differ")
    );
}

// ---- KF-02: RFC 4716 ----------------------------------------------------------------------

#[test]
fn kf02_rfc4716_blocks_become_one_line_keys() {
    for (input, expected, bits) in [
        (
            "KF-02-rfc4716-and-putty-public-keys/rsa.rfc4716.pub",
            "KF-02-rfc4716-and-putty-public-keys/rsa.expected.openssh",
            2048,
        ),
        (
            "KF-02-rfc4716-and-putty-public-keys/putty.rfc4716.pub",
            "KF-02-rfc4716-and-putty-public-keys/putty.expected.openssh",
            256,
        ),
    ] {
        let block = case(input);
        let expected = case(expected);
        let key = parse_ok(&block);
        assert_eq!(key.line, expected.trim_end(), "{input}");
        assert_eq!(key.bits, bits);
        assert!(!key.line.contains("----") && !key.line.contains('\n'));
        let one_line = parse_ok(&expected);
        assert_eq!(key, one_line);
        // CRLF line ends and surrounding blank lines change nothing.
        let crlf = format!("\r\n{}\r\n\r\n", block.replace('\n', "\r\n"));
        assert_eq!(parse_ok(&crlf), key);
    }
    let rsa = parse_ok(&case("KF-02-rfc4716-and-putty-public-keys/rsa.rfc4716.pub"));
    assert_eq!(
        rsa.comment.as_deref(),
        Some("2048-bit rsa, rsa-user@example, Tue Mar 20 2012 14:17:39 -0700")
    );
}

#[test]
fn kf02_truncated_blocks_are_refused() {
    let block = case("KF-02-rfc4716-and-putty-public-keys/rsa.rfc4716.pub");
    let no_end: String = block
        .lines()
        .filter(|l| !l.starts_with("---- END"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(matches!(parse_err(&no_end), KeyError::Rfc4716 { .. }));

    let lines: Vec<&str> = block.lines().collect();
    let mut short = lines.clone();
    short.remove(lines.len() - 2); // last base64 line
    let error = parse_err(&short.join("\n"));
    assert!(
        matches!(error, KeyError::BadBlob { .. } | KeyError::BadBase64),
        "{error:?}"
    );
    assert_not_echoed(&error, &block);
}

// ---- KF-06: private keys ------------------------------------------------------------------

#[test]
fn kf06_private_keys_are_refused_without_echo() {
    for file in [
        "KF-06-private-key-submitted/submitted.ppk",
        "KF-06-private-key-submitted/submitted.openssh-private",
    ] {
        let text = case(file);
        let error = parse_err(&text);
        assert_eq!(error, KeyError::PrivateKey, "{file}");
        assert_eq!(
            error.to_string(),
            "this is a private key; upload the public key (.pub)"
        );
        assert_not_echoed(&error, &text);
        // Also when surrounded by whitespace or preceded by a public key.
        let putty = case("KF-02-rfc4716-and-putty-public-keys/putty.expected.openssh");
        assert_eq!(parse_err(&format!("{putty}\n{text}")), KeyError::PrivateKey);
    }
    let public = parse_ok(&case(
        "KF-06-private-key-submitted/public-from-ppk.expected",
    ));
    assert_eq!(
        public,
        parse_ok(&case(
            "KF-02-rfc4716-and-putty-public-keys/putty.expected.openssh"
        ))
    );
}

// ---- AK-08: comments with spaces ----------------------------------------------------------

#[test]
fn ak08_comment_with_spaces_is_kept_verbatim() {
    let text = case("AK-08-comment-with-spaces/key.pub");
    let key = parse_ok(&text);
    assert_eq!(
        key.comment.as_deref(),
        Some("Alice Example <alice@example> (laptop, 2024)")
    );
    assert_eq!(
        key.line,
        case("AK-08-comment-with-spaces/authorized_keys.expected").trim_end()
    );
    let request = json("AK-08-comment-with-spaces/request.json");
    assert_eq!(parse_ok(field(&request, "entry")), key);
    // Inner runs of spaces are kept as given.
    let spaced = text.trim_end().replace("Alice Example", "Alice   Example");
    assert_eq!(
        parse_ok(&spaced).comment.as_deref(),
        Some("Alice   Example <alice@example> (laptop, 2024)")
    );
}

// ---- AK-12: newlines in submissions -------------------------------------------------------

const AK12: &str = "AK-12-newline-in-submitted-key";

#[test]
fn ak12_newline_in_comment_is_refused() {
    let submission = json(&format!("{AK12}/submit-comment-injection.json"));
    let key = parse_ok(field(&submission, "key"));
    let comment = field(&submission, "comment");
    let error = key.with_comment(Some(comment)).unwrap_err();
    assert_eq!(
        error,
        KeyError::ControlCharacter {
            code: 0x0A,
            in_comment: true
        }
    );
    assert!(error.to_string().contains("U+000A (line feed)"));
    assert_not_echoed(&error, comment);
    // Pasted as one text, it is two keys.
    let joined = format!("{} {comment}", field(&submission, "key"));
    assert_eq!(parse_err(&joined), KeyError::MultipleKeys { count: 2 });
    // The same with CR only, NUL, or a lone comment word after a break.
    assert_eq!(
        key.with_comment(Some("alice\rx")).unwrap_err(),
        KeyError::ControlCharacter {
            code: 0x0D,
            in_comment: true
        }
    );
    assert_eq!(
        parse_err(&format!("{} alice\0x", field(&submission, "key"))),
        KeyError::ControlCharacter {
            code: 0,
            in_comment: true
        }
    );
    // Options travel with the assignment, not the key; a key never accepts them.
    assert!(PublicKey::parse(field(&submission, "options")).is_err());
}

#[test]
fn ak12_two_keys_in_the_key_field_are_refused() {
    let submission = json(&format!("{AK12}/submit-key-injection.json"));
    let input = field(&submission, "key");
    let error = parse_err(input);
    assert_eq!(error, KeyError::MultipleKeys { count: 2 });
    assert_not_echoed(&error, input);
    assert_eq!(
        parse_err(&input.replace('\n', "\r\n")),
        KeyError::MultipleKeys { count: 2 }
    );
    assert_eq!(
        parse_err(&input.replace('\n', " ")),
        KeyError::MultipleKeys { count: 2 }
    );
}

#[test]
fn ak12_newline_in_options_is_refused() {
    let submission = json(&format!("{AK12}/submit-options-injection.json"));
    let key = field(&submission, "key");
    let options = field(&submission, "options");
    parse_ok(key);
    let error = parse_err(options);
    assert_eq!(error, KeyError::LineBreak);
    assert_not_echoed(&error, options);
    let error = parse_err(&format!("{options} {key}"));
    assert!(
        matches!(error, KeyError::LineBreak | KeyError::MultipleKeys { .. }),
        "{error:?}"
    );
}

#[test]
fn ak12_trailing_crlf_is_trimmed() {
    let submission = json(&format!("{AK12}/submit-trailing-newline.json"));
    let input = field(&submission, "key");
    assert!(input.ends_with("\r\n"));
    let key = parse_ok(input);
    assert_eq!(key.line, input.trim_end());
    assert_eq!(key.comment.as_deref(), Some("alice@example"));
    assert_eq!(parse_ok(&format!("  \t{input}")), key);
}

#[test]
fn ak12_wrapped_key_is_refused_with_a_hint() {
    let submission = json(&format!("{AK12}/submit-wrapped.json"));
    let input = field(&submission, "key");
    let error = parse_err(input);
    assert_eq!(error, KeyError::Wrapped);
    assert!(error.to_string().contains("must be on one line"));
    assert_not_echoed(&error, input);
    assert_eq!(parse_err(&input.replace('\n', "\r\n")), KeyError::Wrapped);
}

#[test]
fn ak12_existing_file_key_parses() {
    let key = parse_ok(&case(&format!("{AK12}/authorized_keys.before")));
    assert_eq!(key.comment.as_deref(), Some("bob@example"));
}
