//! `PublicKey::parse` on any text: OpenSSH one-line keys, RFC 4716 blocks, private keys, PuTTY
//! files and garbage, as a user may paste them into the `public_key` field.
//!
//! Invariants: it never panics; an accepted key's normalised `line` is one line that parses back
//! to the same key; dropping the comment keeps the key and its fingerprint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testum::keys::PublicKey;

fuzz_target!(|text: &str| {
    let Ok(key) = PublicKey::parse(text) else {
        return;
    };
    assert!(
        !key.line.contains(['\r', '\n']),
        "normalised line spans several lines"
    );
    let again = PublicKey::parse(&key.line);
    assert_eq!(
        again.as_ref(),
        Ok(&key),
        "normalised line does not parse back to the key"
    );
    let bare = key
        .with_comment(None)
        .expect("removing the comment is always possible");
    assert_eq!(bare.fingerprint, key.fingerprint);
    assert_eq!(bare.line, format!("{} {}", key.key_type, key.base64()));
});
