//! The archive file: a plain tar (`tar tvf FILE` lists it) of the parts, each hashed with
//! SHA-256 as it is written, and `manifest.json` last (it needs every part's hash). Reading
//! ([`read_checked`]) hashes every entry again and compares with the manifest; nothing outside a
//! caller-given staging directory is ever written.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use super::manifest::{MANIFEST, MAX_MANIFEST_BYTES, Manifest, Part, part_name_ok};
use crate::crypto::hex;

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

    /// Append `manifest` (whose `parts` are set to the parts written) and finish the tar; the
    /// manifest's bytes are returned (their hash identifies the backup).
    pub fn finish(mut self, mut manifest: Manifest) -> anyhow::Result<(W, Vec<u8>)> {
        manifest.parts = std::mem::take(&mut self.parts);
        let bytes = serde_json::to_vec_pretty(&manifest)?;
        self.tar
            .append_data(&mut header(bytes.len() as u64), MANIFEST, bytes.as_slice())
            .context("cannot write the manifest")?;
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

/// Read the archive at `path` and check it: every entry a regular file with an allowed name,
/// the manifest present and readable, and each part's size and SHA-256 equal to the manifest's,
/// with no part missing and none extra. With `staging`, parts are written below it (same
/// relative names) as they are read; on error the caller removes `staging`.
pub fn read_checked(path: &Path, staging: Option<&Path>) -> anyhow::Result<Manifest> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let mut found: BTreeMap<String, Part> = BTreeMap::new();
    let mut manifest = None;
    let not_ours = || format!("{} is not a testum backup archive", path.display());
    let damaged = |e| not_a_tar(path, e);
    for entry in tar.entries().map_err(damaged)? {
        let entry = entry.map_err(damaged)?;
        let name = entry.path().map_err(damaged)?.display().to_string();
        if entry.header().entry_type() != tar::EntryType::Regular {
            bail!("the archive entry {name:?} is not a regular file");
        }
        if name == MANIFEST {
            let mut bytes = Vec::new();
            entry.take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes)?;
            manifest = Some(Manifest::parse(&bytes)?);
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
    let manifest = manifest.with_context(|| format!("{}: no {MANIFEST} in it", not_ours()))?;
    for part in &manifest.parts {
        let Some(got) = found.remove(&part.name) else {
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
    if let Some(extra) = found.keys().next() {
        bail!("the archive holds {extra}, which the manifest does not list");
    }
    Ok(manifest)
}
