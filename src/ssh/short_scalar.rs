//! Repair for one OpenSSH private-key encoding that the `ssh-key` crate (0.7.0-rc.11, used
//! through russh) refuses: an `ecdsa-sha2-nistp256` key whose private scalar has a leading zero
//! byte.
//!
//! OpenSSH writes the scalar as an RFC 4251 `mpint`, which drops leading zero bytes, so about one
//! P-256 key in 256 made by `ssh-keygen` has a 31-byte scalar. `ssh-key` accepts 32 or 33 bytes
//! only (`MIN_SIZE = 32` in `private/ecdsa.rs`) and calls such a key invalid. [`pad`] rewrites
//! an unencrypted `openssh-key-v1` key with the scalar padded back to 32 bytes; the key itself is
//! unchanged. Encrypted keys cannot be repaired before they are decrypted inside the crate.
//!
//! Format: OpenSSH's `PROTOCOL.key`: magic `openssh-key-v1\0`, cipher, kdf, kdf options,
//! key count, public key blob, then the private section (two check integers, the key fields,
//! a comment, padding 1, 2, 3, ... to a multiple of 8 bytes).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"openssh-key-v1\0";
const BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END: &str = "-----END OPENSSH PRIVATE KEY-----";
const P256: &[u8] = b"ecdsa-sha2-nistp256";
/// Bytes of a P-256 scalar.
const SCALAR_LEN: usize = 32;
/// Block size of the unencrypted private section (cipher `none`).
const BLOCK: usize = 8;

/// The same key re-encoded with its P-256 scalar padded to 32 bytes, or `None` when `pem` is not
/// an unencrypted OpenSSH P-256 key with a short scalar (nothing to repair).
pub(crate) fn pad(pem: &str) -> Option<Zeroizing<String>> {
    let body: String = pem
        .trim()
        .strip_prefix(BEGIN)?
        .strip_suffix(END)?
        .split_whitespace()
        .collect();
    let blob = Zeroizing::new(B64.decode(body.as_bytes()).ok()?);
    let mut reader = Reader(blob.strip_prefix(MAGIC)?);
    let cipher = reader.string()?;
    let kdf = reader.string()?;
    let kdf_options = reader.string()?;
    if cipher != b"none" || reader.u32()? != 1 {
        return None;
    }
    let public = reader.string()?;
    let mut private = Reader(reader.string()?);
    let check = private.take(8)?;
    let key_type = private.string()?;
    if key_type != P256 {
        return None;
    }
    let curve = private.string()?;
    let point = private.string()?;
    let scalar = private.string()?;
    let comment = private.string()?;
    if scalar.is_empty() || scalar.len() >= SCALAR_LEN {
        return None;
    }
    let mut section = Zeroizing::new(Vec::with_capacity(128));
    section.extend_from_slice(check);
    for field in [key_type, curve, point] {
        put_string(&mut section, field);
    }
    let mut padded = Zeroizing::new(vec![0u8; SCALAR_LEN - scalar.len()]);
    padded.extend_from_slice(scalar);
    put_string(&mut section, &padded);
    put_string(&mut section, comment);
    for i in 1..=((BLOCK - section.len() % BLOCK) % BLOCK) {
        section.push(i as u8);
    }
    let mut out = Zeroizing::new(MAGIC.to_vec());
    for field in [cipher, kdf, kdf_options] {
        put_string(&mut out, field);
    }
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, public);
    put_string(&mut out, &section);
    let encoded = Zeroizing::new(B64.encode(&*out));
    let mut armored = Zeroizing::new(String::with_capacity(encoded.len() + 100));
    armored.push_str(BEGIN);
    armored.push('\n');
    for line in encoded.as_bytes().chunks(70) {
        armored.push_str(std::str::from_utf8(line).ok()?);
        armored.push('\n');
    }
    armored.push_str(END);
    armored.push('\n');
    Some(armored)
}

/// Append an SSH `string` (u32 big-endian length, then the bytes).
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor over SSH wire encoding; every read is `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that need no repair come back as `None`: other formats, other key types, garbage.
    #[test]
    fn only_short_p256_scalars_are_rewritten() {
        assert!(pad("").is_none());
        assert!(
            pad("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----").is_none()
        );
        assert!(pad(&format!("{BEGIN}\n!!!not base64\n{END}")).is_none());
        let truncated = B64.encode(b"openssh-key-v1\0\0\0\0\x04none");
        assert!(pad(&format!("{BEGIN}\n{truncated}\n{END}")).is_none());
    }
}
