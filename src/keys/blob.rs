//! The binary key blob: the base64-decoded second field of a key line.
//!
//! A blob is the SSH wire encoding of a public key: `string algorithm` followed by the key
//! material (RFC 4253 §6.6 for `ssh-rsa`: `mpint e, mpint n`; RFC 5656 §3.1 for
//! `ecdsa-sha2-*`: `string curve, string Q`; RFC 8709 for `ssh-ed25519`: `string key`; OpenSSH
//! PROTOCOL.u2f for the `sk-*` types, which append `string application`). Decoding goes through
//! the `ssh-key` crate (re-exported by russh); on top of it this module applies the registry's
//! policy and the checks `ssh-keygen -l` makes: no trailing bytes, padded base64,
//! uncompressed EC points, RSA between 2048 and 16384 bits, no DSA, no certificates.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use russh::keys::ssh_key::encoding::{Decode, Encode};
use russh::keys::ssh_key::public::KeyData;
use sha2::{Digest, Sha256};

use super::error::{KeyError, safe_name};

/// Algorithms the registry accepts, as written in key lines and blobs.
pub const SUPPORTED: [&str; 7] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Smallest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: u32 = 2048;
/// Largest RSA modulus accepted, in bits (OpenSSH's `SSH_RSA_MAXIMUM_MODULUS_SIZE`).
pub const RSA_MAX_BITS: u32 = 16384;

const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

/// A decoded, policy-checked key blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Algorithm name from the blob, one of [`SUPPORTED`].
    pub key_type: &'static str,
    /// The blob bytes in canonical SSH encoding (re-encoded: an integer written with needless
    /// leading zero bytes loses them, as OpenSSH does before it fingerprints a key).
    pub bytes: Vec<u8>,
    /// Key size as `ssh-keygen -l` prints it.
    pub bits: u32,
}

impl Decoded {
    /// Standard padded base64 of the blob, as in an OpenSSH key line.
    pub fn base64(&self) -> String {
        STANDARD.encode(&self.bytes)
    }

    /// `SHA256:` + unpadded base64 of SHA-256 over the blob: what `ssh-keygen -lf` prints
    /// (OpenSSH `sshkey_fingerprint` with `SSH_FP_BASE64`).
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.bytes)
    }
}

/// Decode the base64 key data field; `None` when it is not base64 or decodes to nothing.
///
/// Standard alphabet with its `=` padding, as OpenSSH reads it (`b64_pton` via
/// `sshbuf_b64tod`): a field whose padding is missing, or whose last character carries bits
/// beyond the data, is refused, as sshd and `ssh-keygen -l` refuse it.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok().filter(|bytes| !bytes.is_empty())
}

/// The leading `string algorithm` of a blob, when it is present and UTF-8.
pub fn algorithm_name(blob: &[u8]) -> Option<&str> {
    let (name, _) = split_string(blob)?;
    std::str::from_utf8(name).ok().filter(|n| !n.is_empty())
}

/// Whether `type_token data_token` look like one key: the data is base64 of a blob whose own
/// algorithm name equals the type token. Used to count keys and to spot options before a key.
pub fn is_key_pair(type_token: &str, data_token: &str) -> bool {
    decode_base64(data_token).is_some_and(|blob| algorithm_name(&blob) == Some(type_token))
}

/// Whether `name` is an OpenSSH certificate type (`*-cert-v01@openssh.com`).
pub fn is_certificate_name(name: &str) -> bool {
    name.ends_with(CERT_SUFFIX)
}

/// Whether `name` is a key type OpenSSH knows: one of [`SUPPORTED`], `ssh-dss` or a certificate
/// type. Such a name in the first field means the user meant a key line, whatever else is wrong.
pub fn is_known_name(name: &str) -> bool {
    SUPPORTED.contains(&name) || name == "ssh-dss" || is_certificate_name(name)
}

/// Refusals that follow from an algorithm name alone (text or blob).
///
/// # Errors
/// [`KeyError::Dsa`] for `ssh-dss`, [`KeyError::Certificate`] for `*-cert-v01@openssh.com`,
/// [`KeyError::UnsupportedAlgorithm`] for anything not in [`SUPPORTED`].
pub fn check_algorithm(name: &str) -> Result<&'static str, KeyError> {
    if name == "ssh-dss" {
        return Err(KeyError::Dsa);
    }
    if is_certificate_name(name) {
        return Err(KeyError::Certificate {
            name: safe_name(name),
        });
    }
    SUPPORTED
        .iter()
        .copied()
        .find(|s| *s == name)
        .ok_or_else(|| KeyError::UnsupportedAlgorithm {
            name: safe_name(name),
        })
}

/// Decode and check a blob.
///
/// # Errors
/// - [`KeyError::BadBlob`]: no algorithm string, truncated or invalid key material, trailing
///   bytes, compressed or identity EC point;
/// - [`KeyError::Dsa`], [`KeyError::Certificate`], [`KeyError::UnsupportedAlgorithm`] from
///   [`check_algorithm`];
/// - [`KeyError::RsaTooSmall`] / [`KeyError::RsaTooLarge`] outside 2048..=16384 bits.
pub fn decode(blob: &[u8]) -> Result<Decoded, KeyError> {
    let name = algorithm_name(blob).ok_or(KeyError::BadBlob {
        reason: "it does not start with a key type",
    })?;
    let key_type = check_algorithm(name)?;
    let key = read_key_data(blob)?;
    if key.algorithm().as_str() != key_type {
        return Err(KeyError::BadBlob {
            reason: "the key material does not match its type",
        });
    }
    let canonical = key.encode_vec().map_err(|_| KeyError::BadBlob {
        reason: "it cannot be re-encoded",
    })?;
    if canonical != *minimal_integers(blob) {
        return Err(KeyError::BadBlob {
            reason: "it is not in canonical SSH encoding",
        });
    }
    let bits = bits(&key)?;
    check_rsa_bits(&key, bits, RSA_MIN_BITS)?;
    Ok(Decoded {
        key_type,
        bytes: canonical,
        bits,
    })
}

/// Smallest RSA modulus sshd itself accepts, in bits (OpenSSH `SSH_RSA_MINIMUM_MODULUS_SIZE`);
/// a line with a smaller key is skipped by sshd.
pub const SSHD_RSA_MIN_BITS: u32 = 1024;

/// A key as sshd reads it from an authorized_keys line, without the registry's policy: DSA,
/// certificates and RSA keys of 1024..2048 bits are described, not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Algorithm of the plain key (for a certificate: of the certified key), e.g. `ssh-rsa`
    /// also for a blob named `rsa-sha2-256`.
    pub key_type: String,
    /// `SHA256:` + unpadded base64 of SHA-256 over the canonical plain key, as `ssh-keygen -l`
    /// prints it (OpenSSH fingerprints a certificate by its plain key).
    pub fingerprint: String,
    /// Key size as `ssh-keygen -l` prints it (DSA: bits of `p`).
    pub bits: u32,
}

/// Read a blob the way sshd's `sshkey_from_blob` does when it reads an authorized_keys line:
/// any key type OpenSSH knows, certificates included (their signature is not verified), RSA
/// between [`SSHD_RSA_MIN_BITS`] and [`RSA_MAX_BITS`], uncompressed EC points, no trailing
/// bytes. Non-canonical integers are accepted, as sshd accepts them; the fingerprint is taken
/// over the canonical re-encoding, as OpenSSH computes it.
///
/// # Errors
/// [`KeyError::BadBlob`], [`KeyError::UnsupportedAlgorithm`], [`KeyError::RsaTooSmall`] (under
/// 1024 bits) or [`KeyError::RsaTooLarge`]; the messages never echo the blob.
pub fn inspect(blob: &[u8]) -> Result<Inspected, KeyError> {
    let key = read_key_data(blob)?;
    let plain = key.certificate().map_or(&key, |cert| cert.public_key());
    let bits = bits(plain)?;
    check_rsa_bits(plain, bits, SSHD_RSA_MIN_BITS)?;
    let canonical = plain.encode_vec().map_err(|_| KeyError::BadBlob {
        reason: "it cannot be re-encoded",
    })?;
    Ok(Inspected {
        key_type: plain.algorithm().as_str().to_owned(),
        fingerprint: fingerprint_of(&canonical),
        bits,
    })
}

/// The SSH wire-format key of `blob`, which must hold exactly one key. Integers written with
/// needless leading zero bytes are read (see [`minimal_integers`]).
fn read_key_data(blob: &[u8]) -> Result<KeyData, KeyError> {
    let minimal = minimal_integers(blob);
    let mut reader: &[u8] = &minimal;
    let key = KeyData::decode(&mut reader).map_err(|e| KeyError::BadBlob {
        reason: decode_reason(&e),
    })?;
    if !reader.is_empty() {
        return Err(KeyError::BadBlob {
            reason: "there are extra bytes after the key",
        });
    }
    Ok(key)
}

/// `blob` with the needless leading zero bytes of its integers removed (`ssh-rsa`: `e`, `n`;
/// `ssh-dss`: `p`, `q`, `g`, `y`), as OpenSSH's `sshbuf_get_bignum2` reads an mpint: OpenSSH
/// accepts such a key and fingerprints its re-encoding. Any other blob, or one too short to hold
/// its integers, is returned as it is (decoding then says what is wrong).
fn minimal_integers(blob: &[u8]) -> Cow<'_, [u8]> {
    let integers = match algorithm_name(blob) {
        Some("ssh-rsa") => 2,
        Some("ssh-dss") => 4,
        _ => return Cow::Borrowed(blob),
    };
    let Some((_, mut rest)) = split_string(blob) else {
        return Cow::Borrowed(blob);
    };
    let mut out = blob[..blob.len() - rest.len()].to_vec();
    for _ in 0..integers {
        let Some((mut value, after)) = split_string(rest) else {
            return Cow::Borrowed(blob);
        };
        // A leading zero byte is needed only before a byte whose top bit is set.
        while let [0, next @ ..] = value
            && next.first().is_none_or(|b| *b < 0x80)
        {
            value = next;
        }
        let Ok(len) = u32::try_from(value.len()) else {
            return Cow::Borrowed(blob);
        };
        out.extend(len.to_be_bytes());
        out.extend(value);
        rest = after;
    }
    out.extend(rest);
    if out == blob {
        Cow::Borrowed(blob)
    } else {
        Cow::Owned(out)
    }
}

/// An SSH `string` (u32 length, bytes) at the start of `bytes`, and what follows it.
fn split_string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let len_bytes: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
    let end = 4usize.checked_add(len)?;
    Some((bytes.get(4..end)?, bytes.get(end..)?))
}

/// `SHA256:` + unpadded base64 of SHA-256 over `bytes`.
fn fingerprint_of(bytes: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(bytes)))
}

/// RSA size limits: at least `min` bits, at most [`RSA_MAX_BITS`].
fn check_rsa_bits(key: &KeyData, bits: u32, min: u32) -> Result<(), KeyError> {
    if !key.is_rsa() {
        Ok(())
    } else if bits < min {
        Err(KeyError::RsaTooSmall { bits })
    } else if bits > RSA_MAX_BITS {
        Err(KeyError::RsaTooLarge { bits })
    } else {
        Ok(())
    }
}

fn decode_reason(error: &russh::keys::ssh_key::Error) -> &'static str {
    use russh::keys::ssh_key::{Error, encoding};
    match error {
        Error::Encoding(encoding::Error::Length) => "it ends too early",
        _ => "the key material is invalid",
    }
}

/// Key size as `ssh-keygen -l` prints it (no size policy: see [`check_rsa_bits`]).
fn bits(key: &KeyData) -> Result<u32, KeyError> {
    const UNCOMPRESSED: u8 = 0x04;
    const NOT_UNCOMPRESSED: KeyError = KeyError::BadBlob {
        reason: "the EC point is not in uncompressed form",
    };
    const NEGATIVE: KeyError = KeyError::BadBlob {
        reason: "an integer of the key is negative",
    };
    match key {
        KeyData::Ed25519(_) | KeyData::SkEd25519(_) => Ok(256),
        KeyData::Ecdsa(ec) => {
            // OpenSSH (sshbuf_get_ec) only accepts uncompressed points.
            if ec.as_sec1_bytes().first() != Some(&UNCOMPRESSED) {
                return Err(NOT_UNCOMPRESSED);
            }
            Ok(match ec.curve() {
                russh::keys::EcdsaCurve::NistP256 => 256,
                russh::keys::EcdsaCurve::NistP384 => 384,
                russh::keys::EcdsaCurve::NistP521 => 521,
            })
        }
        KeyData::SkEcdsaSha2NistP256(sk) => {
            if sk.ec_point().as_bytes().first() != Some(&UNCOMPRESSED) {
                return Err(NOT_UNCOMPRESSED);
            }
            Ok(256)
        }
        KeyData::Rsa(rsa) => Ok(modulus_bits(rsa.n().as_positive_bytes().ok_or(NEGATIVE)?)),
        KeyData::Dsa(dsa) => Ok(modulus_bits(dsa.p().as_positive_bytes().ok_or(NEGATIVE)?)),
        KeyData::Certificate(_) => Err(KeyError::Certificate { name: None }),
        _ => Err(KeyError::UnsupportedAlgorithm { name: None }),
    }
}

/// Number of significant bits of a big-endian unsigned integer (OpenSSL `BN_num_bits`).
fn modulus_bits(be: &[u8]) -> u32 {
    let mut digits = be.iter().skip_while(|b| **b == 0);
    let Some(first) = digits.next() else { return 0 };
    let rest = u32::try_from(digits.count()).unwrap_or(u32::MAX / 8);
    rest.saturating_mul(8)
        .saturating_add(8 - first.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi";

    fn string(bytes: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn modulus_bits_counts_like_bn_num_bits() {
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
        assert_eq!(modulus_bits(&[1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x7f; 256]), 2047);
    }

    #[test]
    fn algorithm_name_reads_the_leading_string() {
        let blob = decode_base64(ED25519).unwrap();
        assert_eq!(algorithm_name(&blob), Some("ssh-ed25519"));
        assert_eq!(algorithm_name(&[0, 0, 0]), None);
        assert_eq!(algorithm_name(&[0xff, 0xff, 0xff, 0xff, b'a']), None);
        assert_eq!(algorithm_name(&[0, 0, 0, 0]), None);
    }

    #[test]
    fn decodes_ed25519_and_refuses_damage() {
        let blob = decode_base64(ED25519).unwrap();
        let d = decode(&blob).unwrap();
        assert_eq!((d.key_type, d.bits), ("ssh-ed25519", 256));
        assert_eq!(d.base64(), ED25519);

        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(
            decode(&longer),
            Err(KeyError::BadBlob {
                reason: "there are extra bytes after the key"
            })
        );
        assert_eq!(
            decode(&blob[..blob.len() - 1]),
            Err(KeyError::BadBlob {
                reason: "it ends too early"
            })
        );
    }

    #[test]
    fn inspect_reads_what_sshd_reads_and_decode_keeps_the_policy() {
        let blob = decode_base64(ED25519).unwrap();
        let i = inspect(&blob).unwrap();
        assert_eq!(i.fingerprint, decode(&blob).unwrap().fingerprint());
        assert_eq!((i.key_type.as_str(), i.bits), ("ssh-ed25519", 256));
        // A 1024-bit RSA key: sshd reads it, the registry refuses it.
        let rsa = decode_base64(
            "AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+3W3B5W2dieQ0J1Q6MNIVBw5VXXgTh1NeJixq47sNdMw6cJCoKUyn\
             FEtFJJRPV3Nwt6J0KQb1wuMZ4ABU0xPRDshaRjh1slw07ijtEeB11y+H8aFEnfbm5dEQDDwmhvyCXmEBAgE9\
             9518AtRnOTsyXElCwn6yGdlEK8lncK25ZQ==",
        )
        .unwrap();
        assert_eq!(inspect(&rsa).unwrap().bits, 1024);
        assert_eq!(decode(&rsa), Err(KeyError::RsaTooSmall { bits: 1024 }));
        let mut longer = blob.clone();
        longer.push(0);
        assert!(matches!(inspect(&longer), Err(KeyError::BadBlob { .. })));
    }

    #[test]
    fn refuses_by_name() {
        assert_eq!(check_algorithm("ssh-dss"), Err(KeyError::Dsa));
        assert_eq!(
            check_algorithm("ssh-ed25519-cert-v01@openssh.com"),
            Err(KeyError::Certificate {
                name: Some("ssh-ed25519-cert-v01@openssh.com".into())
            })
        );
        assert_eq!(
            check_algorithm("ssh-ed448"),
            Err(KeyError::UnsupportedAlgorithm {
                name: Some("ssh-ed448".into())
            })
        );
        let mut blob = string(b"ssh-ed448");
        blob.extend(string(&[7; 57]));
        assert_eq!(
            decode(&blob),
            Err(KeyError::UnsupportedAlgorithm {
                name: Some("ssh-ed448".into())
            })
        );
    }

    #[test]
    fn re_encodes_needless_leading_zeros_and_refuses_compressed_points() {
        // An exponent mpint with a needless leading zero byte: OpenSSH reads it and fingerprints
        // the re-encoded key, so the registry keeps the re-encoding.
        let mut modulus = vec![0x00];
        modulus.extend([0xc1; 256]);
        let canonical = [string(b"ssh-rsa"), string(&[1, 0, 1]), string(&modulus)].concat();
        let padded = [string(b"ssh-rsa"), string(&[0, 1, 0, 1]), string(&modulus)].concat();
        let d = decode(&padded).unwrap();
        assert_eq!((d.bits, &d.bytes), (2048, &canonical));
        assert_eq!(d.fingerprint(), decode(&canonical).unwrap().fingerprint());
        assert_eq!(inspect(&padded).unwrap().fingerprint, d.fingerprint());

        let mut blob = string(b"ecdsa-sha2-nistp256");
        blob.extend(string(b"nistp256"));
        let mut point = vec![0x02];
        point.extend([0x11; 32]);
        blob.extend(string(&point));
        assert!(
            matches!(decode(&blob), Err(KeyError::BadBlob { .. })),
            "{:?}",
            decode(&blob)
        );
    }
}
