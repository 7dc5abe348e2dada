//! Validation matrix for `testum::keys::PublicKey::parse` against the real `ssh-keygen`.
//!
//! Keys are generated in a temporary directory with OpenSSH's `ssh-keygen`; for every accepted key
//! the fingerprint and size must equal what `ssh-keygen -lf` prints, and the RFC 4716 export
//! (`ssh-keygen -e`) must parse to the same key. Security-key (sk-*) public keys cannot be
//! generated without hardware, so their lines are built from software keys in the PROTOCOL.u2f
//! wire format and checked against `ssh-keygen -lf` too. The test fails (never skips) when
//! `ssh-keygen` is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;
use testum::keys::{KeyError, PublicKey};

/// `ssh-keygen` from PATH, else the usual location.
fn ssh_keygen() -> Command {
    let program = if Command::new("ssh-keygen").arg("-?").output().is_ok() {
        "ssh-keygen"
    } else {
        "/usr/bin/ssh-keygen"
    };
    Command::new(program)
}

/// Run ssh-keygen; panic (fail the test) with its stderr when it cannot run or fails.
fn run(args: &[&str]) -> String {
    let output = ssh_keygen().args(args).output().unwrap_or_else(|e| {
        panic!("ssh-keygen is required for this test and could not be run: {e}")
    });
    assert!(
        output.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("ssh-keygen output is UTF-8")
}

fn try_generate(dir: &Path, name: &str, key_type: &str, bits: Option<u32>) -> Option<PathBuf> {
    let path = dir.join(name);
    let bits = bits.map(|b| b.to_string());
    let comment = format!("matrix {name} <m@example> (test)");
    let mut args = vec!["-q", "-t", key_type, "-N", "", "-C", &comment, "-f"];
    let path_str = path.to_str().unwrap().to_owned();
    args.push(&path_str);
    if let Some(b) = &bits {
        args.extend(["-b", b]);
    }
    let status = ssh_keygen().args(&args).output().unwrap_or_else(|e| {
        panic!("ssh-keygen is required for this test and could not be run: {e}")
    });
    status.status.success().then(|| path.with_extension("pub"))
}

fn generate(dir: &Path, name: &str, key_type: &str, bits: Option<u32>) -> PathBuf {
    try_generate(dir, name, key_type, bits)
        .unwrap_or_else(|| panic!("ssh-keygen could not generate {name}"))
}

/// What `ssh-keygen -lf file` prints: `(bits, fingerprint, comment, TYPE)`.
fn keygen_l(path: &Path) -> (u32, String, String, String) {
    let out = run(&["-l", "-E", "sha256", "-f", path.to_str().unwrap()]);
    let line = out.trim_end();
    let (bits, rest) = line.split_once(' ').unwrap();
    let (fp, rest) = rest.split_once(' ').unwrap();
    let open = rest.rfind(" (").unwrap();
    let kind = rest[open + 2..].trim_end_matches(')');
    (
        bits.parse().unwrap(),
        fp.to_owned(),
        rest[..open].to_owned(),
        kind.to_owned(),
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Parse `path` and check it against `ssh-keygen -lf`, then its RFC 4716 export.
fn assert_matches_keygen(path: &Path, key_type: &str) -> PublicKey {
    let text = read(path);
    let key =
        PublicKey::parse(&text).unwrap_or_else(|e| panic!("{}: refused: {e}", path.display()));
    let (bits, fp, comment, _) = keygen_l(path);
    assert_eq!(key.key_type, key_type);
    assert_eq!(key.fingerprint, fp, "{}", path.display());
    assert_eq!(key.bits, bits, "{}", path.display());
    assert_eq!(key.comment.as_deref(), Some(comment.as_str()));
    assert_eq!(
        key.line,
        text.trim_end(),
        "normalised line equals the ssh-keygen .pub line"
    );

    let exported = run(&["-e", "-f", path.to_str().unwrap()]);
    assert!(exported.starts_with("---- BEGIN SSH2 PUBLIC KEY ----"));
    let from_rfc = PublicKey::parse(&exported)
        .unwrap_or_else(|e| panic!("RFC 4716 of {}: {e}", path.display()));
    assert_eq!(from_rfc.fingerprint, key.fingerprint);
    assert_eq!(from_rfc.bits, key.bits);
    assert_eq!(from_rfc.key_type, key.key_type);
    assert_eq!(from_rfc.base64(), key.base64());
    assert!(
        from_rfc.comment.is_some(),
        "ssh-keygen -e writes a Comment header"
    );
    key
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Split a blob into its SSH strings.
fn ssh_strings(mut blob: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    while !blob.is_empty() {
        let len = u32::from_be_bytes(blob[..4].try_into().unwrap()) as usize;
        parts.push(blob[4..4 + len].to_vec());
        blob = &blob[4 + len..];
    }
    parts
}

fn blob_of(path: &Path) -> Vec<u8> {
    let text = read(path);
    STANDARD.decode(text.split(' ').nth(1).unwrap()).unwrap()
}

#[test]
fn ssh_keygen_is_installed() {
    // Fails, not skips, when OpenSSH's ssh-keygen is missing.
    let output = ssh_keygen()
        .arg("-?")
        .output()
        .expect("ssh-keygen is required for the keys matrix");
    assert!(String::from_utf8_lossy(&output.stderr).contains("ssh-keygen"));
}

#[test]
fn accepted_types_match_ssh_keygen() {
    let dir = TempDir::new().unwrap();
    let cases: [(&str, &str, Option<u32>, &str); 7] = [
        ("ed25519", "ed25519", None, "ssh-ed25519"),
        ("ecdsa256", "ecdsa", Some(256), "ecdsa-sha2-nistp256"),
        ("ecdsa384", "ecdsa", Some(384), "ecdsa-sha2-nistp384"),
        ("ecdsa521", "ecdsa", Some(521), "ecdsa-sha2-nistp521"),
        ("rsa2048", "rsa", Some(2048), "ssh-rsa"),
        ("rsa3072", "rsa", Some(3072), "ssh-rsa"),
        ("rsa4096", "rsa", Some(4096), "ssh-rsa"),
    ];
    for (name, t, bits, key_type) in cases {
        let path = generate(dir.path(), name, t, bits);
        let key = assert_matches_keygen(&path, key_type);
        if let Some(bits) = bits {
            assert_eq!(key.bits, bits);
        }
    }
}

#[test]
fn rsa_1024_is_refused_with_its_size() {
    let dir = TempDir::new().unwrap();
    let path = generate(dir.path(), "rsa1024", "rsa", Some(1024));
    let (bits, ..) = keygen_l(&path);
    assert_eq!(bits, 1024);
    let error = PublicKey::parse(&read(&path)).unwrap_err();
    assert_eq!(error, KeyError::RsaTooSmall { bits });
    assert!(error.to_string().contains("1024 bits"), "{error}");
    let exported = run(&["-e", "-f", path.to_str().unwrap()]);
    assert_eq!(
        PublicKey::parse(&exported),
        Err(KeyError::RsaTooSmall { bits })
    );
}

/// An `ssh-dss` line built by hand (p, q, g, y), for when ssh-keygen cannot make DSA keys.
fn crafted_dsa_line() -> String {
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-dss");
    for (len, top) in [(129, 0x00), (21, 0x00), (128, 0x05), (128, 0x07)] {
        let mut n = vec![0xA5u8; len];
        n[0] = top;
        ssh_string(&mut blob, &n);
    }
    format!("ssh-dss {} crafted", STANDARD.encode(blob))
}

#[test]
fn dsa_is_refused() {
    let dir = TempDir::new().unwrap();
    let mut lines = vec![crafted_dsa_line()];
    // OpenSSH 9.8+ cannot generate DSA any more; when this one can, test its key as well.
    if let Some(path) = try_generate(dir.path(), "dsa", "dsa", None) {
        let (bits, _, _, kind) = keygen_l(&path);
        assert_eq!((bits, kind.as_str()), (1024, "DSA"));
        lines.push(read(&path));
        lines.push(run(&["-e", "-f", path.to_str().unwrap()]));
    }
    for line in lines {
        let error = PublicKey::parse(&line).unwrap_err();
        assert_eq!(error, KeyError::Dsa);
        assert!(error.to_string().contains("DSA"));
    }
}

#[test]
fn security_key_lines_match_ssh_keygen() {
    let dir = TempDir::new().unwrap();

    // sk-ssh-ed25519@openssh.com: string type, string key (32 bytes), string application.
    let ed = ssh_strings(&blob_of(&generate(dir.path(), "base-ed", "ed25519", None)));
    let mut sk_ed = Vec::new();
    ssh_string(&mut sk_ed, b"sk-ssh-ed25519@openssh.com");
    ssh_string(&mut sk_ed, &ed[1]);
    ssh_string(&mut sk_ed, b"ssh:");

    // sk-ecdsa-sha2-nistp256@openssh.com: string type, string curve, string Q, string application.
    let ec = ssh_strings(&blob_of(&generate(
        dir.path(),
        "base-ec",
        "ecdsa",
        Some(256),
    )));
    let mut sk_ec = Vec::new();
    ssh_string(&mut sk_ec, b"sk-ecdsa-sha2-nistp256@openssh.com");
    ssh_string(&mut sk_ec, &ec[1]);
    ssh_string(&mut sk_ec, &ec[2]);
    ssh_string(&mut sk_ec, b"ssh:");

    for (name, blob, key_type, kind) in [
        (
            "sk-ed.pub",
            sk_ed,
            "sk-ssh-ed25519@openssh.com",
            "ED25519-SK",
        ),
        (
            "sk-ec.pub",
            sk_ec,
            "sk-ecdsa-sha2-nistp256@openssh.com",
            "ECDSA-SK",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!("{key_type} {} token user@example\n", STANDARD.encode(blob)),
        )
        .unwrap();
        let (_, _, _, printed_kind) = keygen_l(&path);
        assert_eq!(printed_kind, kind);
        let key = assert_matches_keygen(&path, key_type);
        assert_eq!(key.bits, 256);
    }
}

#[test]
fn certificates_are_refused() {
    let dir = TempDir::new().unwrap();
    let ca = generate(dir.path(), "ca", "ed25519", None);
    let user = generate(dir.path(), "user", "ed25519", None);
    let ca_private = ca.with_extension("");
    run(&[
        "-q",
        "-s",
        ca_private.to_str().unwrap(),
        "-I",
        "matrix",
        "-n",
        "deploy",
        user.to_str().unwrap(),
    ]);
    let cert = dir.path().join("user-cert.pub");
    let error = PublicKey::parse(&read(&cert)).unwrap_err();
    assert_eq!(
        error,
        KeyError::Certificate {
            name: Some("ssh-ed25519-cert-v01@openssh.com".into())
        }
    );
    assert!(error.to_string().contains("cert-authority"));
}

#[test]
fn private_keys_and_pem_exports_are_recognised() {
    let dir = TempDir::new().unwrap();
    for (name, t, bits) in [
        ("p-ed", "ed25519", None),
        ("p-ec", "ecdsa", Some(256)),
        ("p-rsa", "rsa", Some(2048)),
    ] {
        let public = generate(dir.path(), name, t, bits);
        let private = read(&public.with_extension(""));
        let error = PublicKey::parse(&private).unwrap_err();
        assert_eq!(error, KeyError::PrivateKey, "{name}");
        let message = error.to_string();
        for line in private.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!message.contains(line), "message echoes the private key");
        }
        // Only the base64 body of the private key, without its frame.
        let body: String = private
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert_eq!(
            PublicKey::parse(&body),
            Err(KeyError::PrivateKey),
            "{name} body"
        );
    }

    let public = generate(dir.path(), "pem-rsa", "rsa", Some(2048));
    let path = public.to_str().unwrap();
    // An old-style PEM private key.
    let pem_private = public.with_extension("");
    run(&[
        "-q",
        "-p",
        "-N",
        "",
        "-m",
        "PEM",
        "-f",
        pem_private.to_str().unwrap(),
    ]);
    let pem = read(&pem_private);
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    assert_eq!(PublicKey::parse(&pem), Err(KeyError::PrivateKey));
    for format in ["PKCS8", "PEM"] {
        let exported = run(&["-e", "-m", format, "-f", path]);
        assert!(
            matches!(
                PublicKey::parse(&exported),
                Err(KeyError::ForeignFormat { .. })
            ),
            "{format}: {:?}",
            PublicKey::parse(&exported)
        );
    }
}
