//! The peer vectors of kind `public_key` (`tests/cases/external/`, one key line or an RFC 4716
//! block each) as tests of [`PublicKey::parse`] against OpenSSH's verdict: a key OpenSSH reads
//! must parse to the same type, fingerprint, size and comment; a key OpenSSH refuses must be
//! refused. Where the registry differs on purpose, the vector is listed in [`DELIBERATE`] with
//! the reason. DSA needs no entry: OpenSSH 10 refuses `ssh-dss` too.

use serde_json::Value;

use super::*;
use crate::peer_vectors::{Deliberate, assert_documented, differs, load, verdict};

/// Vectors OpenSSH reads and the registry refuses or reads otherwise, on purpose.
const DELIBERATE: &[Deliberate<'_>] = &[
    Deliberate {
        reason: "RSA under 2048 bits: the registry's floor (blob::RSA_MIN_BITS); OpenSSH reads \
                 RSA from 1024 bits",
        says: "at least 2048 bits are required",
        ids: &[
            "golang-x-crypto/public_key/testdata-rsa-openssh-format",
            "node-sshpk/fingerprint/SSH_1024",
            "openssh-portable/hostkeys/rsa_1",
            "openssh-portable/hostkeys/rsa_2",
            "openssh-portable/hostkeys/rsa_3",
            "openssh-portable/hostkeys/rsa_4",
            "openssh-portable/hostkeys/rsa_5",
            "openssh-portable/hostkeys/rsa_6",
            "openssh-portable/sshkey/rsa_1",
            "openssh-portable/sshkey/rsa_1_sha1",
            "openssh-portable/sshkey/rsa_1_sha512",
            "paramiko/files/test_rsa.key.pub",
            "paramiko/pkey/PUB_RSA",
            "python-sshpubkeys/rfc4716/valid_rsa_1299_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1302_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1305_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1308_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1311_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1314_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1317_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1320_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1323_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1326_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1329_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1332_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_1611_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2013_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2016_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2019_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2022_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2025_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2028_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2031_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2034_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2037_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2040_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2043_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_2046_rfc4716",
            "python-sshpubkeys/valid_keys/valid_rsa_1299",
            "python-sshpubkeys/valid_keys/valid_rsa_1302",
            "python-sshpubkeys/valid_keys/valid_rsa_1305",
            "python-sshpubkeys/valid_keys/valid_rsa_1308",
            "python-sshpubkeys/valid_keys/valid_rsa_1311",
            "python-sshpubkeys/valid_keys/valid_rsa_1314",
            "python-sshpubkeys/valid_keys/valid_rsa_1317",
            "python-sshpubkeys/valid_keys/valid_rsa_1320",
            "python-sshpubkeys/valid_keys/valid_rsa_1323",
            "python-sshpubkeys/valid_keys/valid_rsa_1326",
            "python-sshpubkeys/valid_keys/valid_rsa_1329",
            "python-sshpubkeys/valid_keys/valid_rsa_1332",
            "python-sshpubkeys/valid_keys/valid_rsa_1611",
            "python-sshpubkeys/valid_keys/valid_rsa_2013",
            "python-sshpubkeys/valid_keys/valid_rsa_2016",
            "python-sshpubkeys/valid_keys/valid_rsa_2019",
            "python-sshpubkeys/valid_keys/valid_rsa_2022",
            "python-sshpubkeys/valid_keys/valid_rsa_2025",
            "python-sshpubkeys/valid_keys/valid_rsa_2028",
            "python-sshpubkeys/valid_keys/valid_rsa_2031",
            "python-sshpubkeys/valid_keys/valid_rsa_2034",
            "python-sshpubkeys/valid_keys/valid_rsa_2037",
            "python-sshpubkeys/valid_keys/valid_rsa_2040",
            "python-sshpubkeys/valid_keys/valid_rsa_2043",
            "python-sshpubkeys/valid_keys/valid_rsa_2046",
        ],
    },
    Deliberate {
        reason: "certificates are not registry keys: sshd trusts a certificate through its CA \
                 (cert-authority, TrustedUserCAKeys), so the plain key is what is registered",
        says: "certificates (",
        ids: &[
            "golang-x-crypto/public_key/rsa-user-testcertificate",
            "node-sshpk/assets/jim-openssh",
            "node-sshpk/assets/openssh-exts",
            "node-sshpk/assets/openssh-rsa256",
            "openssh-portable/authopt-cert/all_permit",
            "openssh-portable/authopt-cert/bad_sourceaddr",
            "openssh-portable/authopt-cert/force_command",
            "openssh-portable/authopt-cert/host",
            "openssh-portable/authopt-cert/no_agentfwd",
            "openssh-portable/authopt-cert/no_permit",
            "openssh-portable/authopt-cert/no_portfwd",
            "openssh-portable/authopt-cert/no_pty",
            "openssh-portable/authopt-cert/no_user_rc",
            "openssh-portable/authopt-cert/no_x11fwd",
            "openssh-portable/authopt-cert/only_agentfwd",
            "openssh-portable/authopt-cert/only_portfwd",
            "openssh-portable/authopt-cert/only_pty",
            "openssh-portable/authopt-cert/only_user_rc",
            "openssh-portable/authopt-cert/only_x11fwd",
            "openssh-portable/authopt-cert/sourceaddr",
            "openssh-portable/authopt-cert/unknown_critical",
            "openssh-portable/fuzz-harness/id_ecdsa-cert",
            "openssh-portable/fuzz-harness/id_ecdsa_sk-cert",
            "openssh-portable/fuzz-harness/id_ed25519-cert",
            "openssh-portable/fuzz-harness/id_ed25519_sk-cert",
            "openssh-portable/fuzz-harness/id_rsa-cert",
            "openssh-portable/sshkey/ecdsa_1-cert",
            "openssh-portable/sshkey/ecdsa_sk1-cert",
            "openssh-portable/sshkey/ed25519_1-cert",
            "openssh-portable/sshkey/ed25519_sk1-cert",
            "openssh-portable/sshkey/mldsa44_ed25519_1-cert",
            "openssh-portable/sshkey/rsa_1-cert",
            "openssh-portable/sshkey/rsa_1_sha1-cert",
            "openssh-portable/sshkey/rsa_1_sha512-cert",
            "paramiko/files/ecdsa-256.key-cert.pub",
            "paramiko/files/ed25519.key-cert.pub",
            "paramiko/files/rsa-missing.key-cert.pub",
            "paramiko/files/rsa.key-cert.pub",
            "rustcrypto-ssh-key/public_key/id_ecdsa_p256-cert",
            "rustcrypto-ssh-key/public_key/id_ed25519-cert",
            "rustcrypto-ssh-key/public_key/id_ed25519-cert-with-p256-ca",
            "rustcrypto-ssh-key/public_key/id_ed25519-cert-with-rsa-ca",
            "rustcrypto-ssh-key/public_key/id_rsa_4096-cert",
            "rustcrypto-ssh-key/public_key/id_sk_ecdsa_p256-cert",
            "rustcrypto-ssh-key/public_key/id_sk_ed25519-cert",
        ],
    },
    Deliberate {
        reason: "ssh-mldsa44-ed25519@openssh.com is new in OpenSSH HEAD (after 10.0); no other \
                 peer, ssh-keygen 9.2 nor the ssh-key crate reads it yet",
        says: "is not supported",
        ids: &[
            "openssh-portable/sshkey/mldsa44_ed25519_1",
            "openssh-portable/sshkey/mldsa44_ed25519_2",
        ],
    },
    Deliberate {
        reason: "RFC 4716: the registry keeps the Comment header as the key's comment (keys/mod.rs); \
                 ssh-keygen -i drops it",
        says: "comment Some(",
        ids: &[
            "python-sshpubkeys/rfc4716/valid_rsa_16383_rfc4716",
            "python-sshpubkeys/rfc4716/valid_rsa_16384_rfc4716",
        ],
    },
];

fn check(v: &Value) -> Result<(), String> {
    let input = v["input"].as_str().expect("input is a string");
    let expect = &v["expect"];
    match (PublicKey::parse(input), expect["valid"] == true) {
        (Err(_), false) => Ok(()),
        (Ok(key), false) => Err(format!(
            "accepted as {} {}; OpenSSH refuses it",
            key.key_type, key.fingerprint
        )),
        (Err(e), true) => Err(format!("refused ({e}); OpenSSH reads it")),
        (Ok(key), true) => {
            let bits = key.bits.to_string();
            let mut diffs: Vec<String> = [
                differs(expect, "key_type", Some(&key.key_type)),
                differs(expect, "fingerprint", Some(&key.fingerprint)),
                expect
                    .get("bits")
                    .filter(|b| b.as_u64() != Some(u64::from(key.bits)))
                    .map(|b| format!("bits {bits} != {b}")),
                differs(expect, "comment", key.comment.as_deref()),
            ]
            .into_iter()
            .flatten()
            .collect();
            // An RFC 4716 block: the one-line form `ssh-keygen -i` prints (type and base64).
            if let Some(line) = expect.get("openssh_line").and_then(Value::as_str) {
                let want: Vec<&str> = line.split(' ').take(2).collect();
                if want != [key.key_type.as_str(), key.base64()] {
                    diffs.push("the one-line form differs from ssh-keygen -i".into());
                }
            }
            verdict(diffs)
        }
    }
}

#[test]
fn public_key_vectors_agree_with_openssh_except_the_deliberate_list() {
    assert_documented(&load(&["public_key"]), 256, DELIBERATE, check);
}
