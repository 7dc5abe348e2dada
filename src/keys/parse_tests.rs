//! Behaviour of [`PublicKey::parse`] as a whole: trimming, limits, refusals by kind, and the
//! helpers around it. The shared real-world cases are in `cases_tests.rs`; the comparison with
//! the real `ssh-keygen` is `tests/it/keys_matrix.rs`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi";

fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `ssh-rsa` line whose modulus has exactly `bits` bits.
fn rsa_line(bits: usize) -> String {
    let mut n = vec![0xC3u8; bits.div_ceil(8)];
    let top_bits = bits - (n.len() - 1) * 8;
    n[0] = 0xFF >> (8 - top_bits);
    n[0] |= 1 << (top_bits - 1);
    if n[0] & 0x80 != 0 {
        n.insert(0, 0);
    }
    let mut blob = Vec::new();
    string(&mut blob, b"ssh-rsa");
    string(&mut blob, &[1, 0, 1]);
    string(&mut blob, &n);
    format!("ssh-rsa {}", STANDARD.encode(blob))
}

#[test]
fn empty_and_blank_input() {
    for input in ["", "   ", "\r\n", "\t \n ", "\u{FEFF}"] {
        assert_eq!(PublicKey::parse(input), Err(KeyError::Empty), "{input:?}");
    }
}

#[test]
fn surrounding_whitespace_bom_and_one_trailing_newline_are_trimmed() {
    let key = PublicKey::parse(KEY).unwrap();
    for input in [
        format!("{KEY}\n"),
        format!("{KEY}\r\n"),
        format!("  {KEY}  \n"),
        format!("\u{FEFF}{KEY}"),
    ] {
        assert_eq!(PublicKey::parse(&input).as_ref(), Ok(&key), "{input:?}");
    }
    assert_eq!(key.comment, None);
    assert_eq!(key.line, KEY);
    assert_eq!(key.to_string(), KEY);
    assert_eq!(KEY.parse::<PublicKey>(), Ok(key));
}

#[test]
fn size_limit_but_private_keys_are_named_first() {
    let long = format!("{KEY} {}", "x".repeat(MAX_INPUT_LEN));
    assert!(matches!(
        PublicKey::parse(&long),
        Err(KeyError::TooLong {
            max: MAX_INPUT_LEN,
            ..
        })
    ));
    let private = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n",
        "A".repeat(MAX_INPUT_LEN)
    );
    assert_eq!(PublicKey::parse(&private), Err(KeyError::PrivateKey));
}

#[test]
fn rsa_size_is_counted_exactly() {
    assert_eq!(
        PublicKey::parse(&rsa_line(2047)),
        Err(KeyError::RsaTooSmall { bits: 2047 })
    );
    assert_eq!(
        PublicKey::parse(&rsa_line(1024)),
        Err(KeyError::RsaTooSmall { bits: 1024 })
    );
    assert_eq!(PublicKey::parse(&rsa_line(2048)).map(|k| k.bits), Ok(2048));
    assert_eq!(PublicKey::parse(&rsa_line(2049)).map(|k| k.bits), Ok(2049));
    assert_eq!(
        PublicKey::parse(&rsa_line(16384)).map(|k| k.bits),
        Ok(16384)
    );
    assert_eq!(
        PublicKey::parse(&rsa_line(16385)),
        Err(KeyError::RsaTooLarge { bits: 16385 })
    );
}

#[test]
fn unknown_algorithms_are_named_only_when_safe() {
    let mut blob = Vec::new();
    string(&mut blob, b"ssh-ed448");
    string(&mut blob, &[7; 57]);
    let line = format!("ssh-ed448 {}", STANDARD.encode(&blob));
    assert_eq!(
        PublicKey::parse(&line),
        Err(KeyError::UnsupportedAlgorithm {
            name: Some("ssh-ed448".into())
        })
    );
    let mut blob = Vec::new();
    string(&mut blob, b"x<script>");
    string(&mut blob, &[7; 8]);
    let line = format!("x<script> {}", STANDARD.encode(&blob));
    let error = PublicKey::parse(&line).unwrap_err();
    assert_eq!(error, KeyError::UnsupportedAlgorithm { name: None });
    assert!(!error.to_string().contains("script"));
}

#[test]
fn dsa_and_certificates_are_refused_by_name() {
    assert_eq!(
        PublicKey::parse("ssh-dss AAAAB3NzaC1kc3MAAACBAP x"),
        Err(KeyError::Dsa)
    );
    assert_eq!(
        PublicKey::parse(
            "ssh-rsa-cert-v01@openssh.com AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20AAAAg x"
        ),
        Err(KeyError::Certificate {
            name: Some("ssh-rsa-cert-v01@openssh.com".into())
        })
    );
}

#[test]
fn foreign_formats_are_named() {
    let error = PublicKey::parse("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----")
        .unwrap_err();
    assert!(matches!(error, KeyError::ForeignFormat { .. }));
    assert!(
        error.to_string().contains("ssh-keygen -i -m PKCS8"),
        "{error}"
    );
}

#[test]
fn with_comment_replaces_and_removes() {
    let key = PublicKey::parse(&format!("{KEY} old")).unwrap();
    let renamed = key.with_comment(Some(" new name ")).unwrap();
    assert_eq!(renamed.line, format!("{KEY} new name"));
    assert_eq!(renamed.comment.as_deref(), Some("new name"));
    assert_eq!(renamed.fingerprint, key.fingerprint);
    let bare = key.with_comment(None).unwrap();
    assert_eq!((bare.line.as_str(), bare.comment), (KEY, None));
    assert_eq!(key.with_comment(Some("  ")).unwrap().comment, None);
    assert_eq!(
        key.base64(),
        "AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi"
    );
    assert_eq!(
        key.with_comment(Some(KEY)),
        Err(KeyError::MultipleKeys { count: 2 })
    );
}

#[test]
fn base64_without_its_padding_is_refused_as_openssh_refuses_it() {
    let padded = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAlJYTjpKC8umBNZw3aqllLHOPYiOkUxaEYIPHnlDKN6EdPdU74TTuG1R4A00+u6yAydSOsGqdn8jM2mLogSVH4=";
    let key = PublicKey::parse(padded).unwrap();
    assert_eq!(key.bits, 256);
    // `ssh-keygen -l` and sshd refuse the same line without its `=` (b64_pton).
    assert_eq!(
        PublicKey::parse(padded.trim_end_matches('=')),
        Err(KeyError::BadBase64)
    );
}
