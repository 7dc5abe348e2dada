//! The archive file: a plain tar (`tar tvf FILE` lists it) of the parts, each hashed with
//! SHA-256 as it is written, then `manifest.json` (it needs every part's hash), then
//! `manifest.mac` (the manifest's MAC under the master key, [`super::manifest::mac`]), then the
//! tar's two zero end blocks and nothing else. Reading ([`read`]) hashes every entry again;
//! [`Contents`] then checks the MAC and compares the hashes with the manifest. Nothing outside a
//! caller-given staging directory is ever written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use super::manifest::{
    MANIFEST, MANIFEST_MAC, MAX_MANIFEST_BYTES, Manifest, Part, check_mac, mac, part_name_ok,
};
use crate::crypto::{MasterKey, hex};

/// Size of a tar block; an archive ends with two zero blocks.
const BLOCK: u64 = 512;
/// Largest MAC entry accepted (64 hex digits, a newline at most): anything longer is refused,
/// not cut, so no byte of the entry escapes the comparison.
const MAX_MAC_BYTES: u64 = 65;

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn part(self, name: &str) -> Part {
        Part {
            name: name.to_string(),
            bytes: self.bytes,
            sha256: hex(&self.hasher.finalize()),
        }
    }
}

/// A tar header for a regular file of `size` bytes, mode 0600.
fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    header
}

/// An archive being written; the manifest is added by [`Writer::finish`].
pub struct Writer<W: Write> {
    tar: tar::Builder<W>,
    parts: Vec<Part>,
}

impl<W: Write> Writer<W> {
    /// Start an archive on `out`.
    pub fn new(out: W) -> Self {
        Writer {
            tar: tar::Builder::new(out),
            parts: Vec::new(),
        }
    }

    /// Add the `size` bytes of `content` as part `name`, hashing them.
    pub fn add(&mut self, name: &str, size: u64, content: impl Read) -> anyhow::Result<()> {
        let mut reader = Hashing::new(content);
        self.tar
            .append_data(&mut header(size), name, &mut reader)
            .with_context(|| format!("cannot write {name} into the archive"))?;
        if reader.bytes != size {
            bail!("{name} changed size while it was backed up");
        }
        self.parts.push(reader.part(name));
        Ok(())
    }

    /// Add the file at `path` as part `name`.
    pub fn add_file(&mut self, name: &str, path: &Path) -> anyhow::Result<()> {
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        let size = file.metadata()?.len();
        self.add(name, size, file)
    }

    /// The parts written so far.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Append `manifest` (whose `parts` are set to the parts written) and its MAC under `key`,
    /// and finish the tar; the manifest's bytes are returned (their hash identifies the backup).
    pub fn finish(
        mut self,
        mut manifest: Manifest,
        key: &MasterKey,
    ) -> anyhow::Result<(W, Vec<u8>)> {
        manifest.parts = std::mem::take(&mut self.parts);
        let bytes = serde_json::to_vec_pretty(&manifest)?;
        let tag = mac(key, &bytes);
        self.tar
            .append_data(&mut header(bytes.len() as u64), MANIFEST, bytes.as_slice())
            .context("cannot write the manifest")?;
        self.tar
            .append_data(&mut header(tag.len() as u64), MANIFEST_MAC, tag.as_bytes())
            .context("cannot write the manifest's MAC")?;
        let out = self.tar.into_inner().context("cannot finish the archive")?;
        Ok((out, bytes))
    }
}

/// The error for a file the tar reader cannot go through. The tar crate's own messages quote
/// header fields of the file (e.g. "numeric field was not a number: ... for <100 bytes of the
/// file>"), which for a file that is not an archive at all (a key or a password file given by
/// mistake) would print its content: only an operating-system error is passed on as it is.
fn not_a_tar(path: &Path, error: io::Error) -> anyhow::Error {
    let why = if error.raw_os_error().is_some() {
        error.to_string()
    } else if error.kind() == io::ErrorKind::UnexpectedEof
        || ["EOF", "entire block"]
            .iter()
            .any(|m| error.to_string().contains(m))
    {
        "it ends early (truncated, or not a tar file)".to_string()
    } else {
        "its tar headers are damaged, or it is not a tar file".to_string()
    };
    anyhow::anyhow!("{} is not a testum backup archive: {why}", path.display())
}

/// What [`read`] found in an archive: its manifest (parsed, not yet trusted), the manifest's
/// exact bytes and MAC, and the size and SHA-256 of every part.
pub struct Contents {
    /// The manifest as parsed ([`Manifest::parse`]); trust it after [`Contents::authenticate`].
    pub manifest: Manifest,
    manifest_bytes: Vec<u8>,
    mac: Option<Vec<u8>>,
    found: BTreeMap<String, Part>,
}

impl Contents {
    /// Check the manifest's MAC under `key` (whose id the caller has compared with the
    /// manifest's): refused when the archive has none or it does not match.
    pub fn authenticate(&self, key: &MasterKey) -> anyhow::Result<()> {
        check_mac(key, &self.manifest_bytes, self.mac.as_deref())
    }

    /// Compare every part's size and SHA-256 with the manifest's, with no part missing and none
    /// extra; the manifest is returned.
    pub fn check_parts(mut self) -> anyhow::Result<Manifest> {
        for part in &self.manifest.parts {
            let Some(got) = self.found.remove(&part.name) else {
                bail!("the archive lacks {} (listed in the manifest)", part.name);
            };
            if got.bytes != part.bytes || got.sha256 != part.sha256 {
                bail!(
                    "checksum mismatch: {} has {} bytes, SHA-256 {}; the manifest says {} bytes, \
                     SHA-256 {}",
                    part.name,
                    got.bytes,
                    got.sha256,
                    part.bytes,
                    part.sha256
                );
            }
        }
        if let Some(extra) = self.found.keys().next() {
            bail!("the archive holds {extra}, which the manifest does not list");
        }
        Ok(self.manifest)
    }
}

/// Refuse an archive whose tar data, which ends at byte `end`, is not followed by the two zero
/// end blocks (a truncated copy) or is followed by anything but zeros (data appended to it, which
/// no checksum covers).
fn check_end(path: &Path, end: u64) -> anyhow::Result<()> {
    use std::io::{Seek as _, SeekFrom};
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(end))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let (mut zeros, mut buf) = (0u64, [0u8; 8192]);
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            bail!(
                "{} is not a testum backup archive as written: it has data after the archive's \
                 end",
                path.display()
            );
        }
        zeros += n as u64;
    }
    if zeros < 2 * BLOCK {
        bail!(
            "{} is not a testum backup archive: it lacks the tar end blocks (truncated)",
            path.display()
        );
    }
    Ok(())
}

/// Read the archive at `path` and check its shape: every entry a regular file with an allowed
/// name, each part once, then the manifest (readable, [`Manifest::parse`]) and its MAC entry
/// last, then the tar end blocks and nothing after them ([`check_end`]). Parts are hashed as they
/// are read and, with `staging`, written below it (same relative names); on error the caller
/// removes `staging`. The MAC and the hashes are checked by [`Contents`].
pub fn read(path: &Path, staging: Option<&Path>) -> anyhow::Result<Contents> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let mut found: BTreeMap<String, Part> = BTreeMap::new();
    let mut manifest: Option<(Manifest, Vec<u8>)> = None;
    let mut tag: Option<Vec<u8>> = None;
    let mut end = 0;
    let not_ours = || format!("{} is not a testum backup archive", path.display());
    let damaged = |e| not_a_tar(path, e);
    for entry in tar.entries().map_err(damaged)? {
        let entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.display().to_string();
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive entry {name:?} is not a regular file");
        }
        end = entry.raw_file_position() + entry.size().div_ceil(BLOCK) * BLOCK;
        if tag.is_some() {
            bail!("the archive holds {name:?} after {MANIFEST_MAC}, which must be last");
        }
        if name == MANIFEST_MAC && manifest.is_some() {
            if entry.size() > MAX_MAC_BYTES {
                bail!(
                    "{MANIFEST_MAC} holds {} bytes, more than a MAC (64 hex digits)",
                    entry.size()
                );
            }
            let mut bytes = Vec::new();
            entry.take(MAX_MAC_BYTES).read_to_end(&mut bytes)?;
            tag = Some(bytes);
            continue;
        }
        if manifest.is_some() {
            bail!("the archive holds {name:?} after {MANIFEST}: only {MANIFEST_MAC} may follow it");
        }
        if name == MANIFEST {
            if entry.size() > MAX_MANIFEST_BYTES {
                bail!(
                    "{MANIFEST} holds {} bytes, more than the {MAX_MANIFEST_BYTES} read",
                    entry.size()
                );
            }
            let mut bytes = Vec::new();
            entry.take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes)?;
            manifest = Some((Manifest::parse(&bytes)?, bytes));
            continue;
        }
        if !part_name_ok(&name) {
            bail!("the archive holds an entry with a forbidden name {name:?}");
        }
        if found.contains_key(&name) {
            bail!("the archive holds {name} twice");
        }
        let mut reader = Hashing::new(entry);
        match staging {
            Some(dir) => {
                use std::os::unix::fs::DirBuilderExt as _;
                let staged = || format!("cannot stage {name} in {}", dir.display());
                let target = dir.join(&name);
                if let Some(parent) = target.parent() {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .with_context(staged)?;
                }
                let mut out = crate::config::new_private_file(&target).with_context(staged)?;
                io::copy(&mut reader, &mut out).with_context(staged)?;
                out.sync_all().with_context(staged)?;
            }
            None => {
                io::copy(&mut reader, &mut io::sink()).map_err(damaged)?;
            }
        }
        found.insert(name.clone(), reader.part(&name));
    }
    let (manifest, manifest_bytes) =
        manifest.with_context(|| format!("{}: no {MANIFEST} in it", not_ours()))?;
    check_end(path, end)?;
    Ok(Contents {
        manifest,
        manifest_bytes,
        mac: tag,
        found,
    })
}
