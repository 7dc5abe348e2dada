//! The manifest of a backup archive (`manifest.json`): what was backed up, from which
//! installation, and the size and SHA-256 of every other entry ("part"); and its MAC
//! (`manifest.mac`, the archive's last entry), which makes the checksums worth something: whoever
//! edits a part and rewrites its SHA-256 in the manifest cannot write the MAC without the master
//! key.

use anyhow::bail;
use hmac::Mac as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq as _;

use crate::crypto::{MasterKey, hex};

/// Archive format this binary writes and reads.
pub const FORMAT: u32 = 1;
/// Entry name of the manifest.
pub const MANIFEST: &str = "manifest.json";
/// Entry name of the manifest's MAC ([`mac`]), the entry after the manifest and the last one.
pub const MANIFEST_MAC: &str = "manifest.mac";
/// Purpose of the subkey of the master key ([`MasterKey::derive`]) that MACs manifests: no other
/// use of the master key shares it.
const MAC_PURPOSE: &str = "testum backup manifest mac v1";
/// Entry name of the SQLite snapshot.
pub const DATABASE: &str = "testum.db";
/// Entry name of the master key sealed under the passphrase ([`super::seal`]).
pub const SEALED_KEY: &str = "master.key.sealed";
/// Folder of the task-log objects (the local object store's files, same relative paths).
pub const TASK_LOGS: &str = "task-logs";
/// Largest manifest read (it lists one line per task-log object).
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// What `manifest.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Archive format ([`FORMAT`]).
    pub format: u32,
    /// Version of the testum that wrote the archive (`CARGO_PKG_VERSION`).
    pub testum_version: String,
    /// When the backup was made (RFC 3339, UTC).
    pub created_at: String,
    /// `sqlite` or `postgres`; a `postgres` archive holds no database (that is `pg_dump`'s job).
    pub backend: String,
    /// Schema version of the database backed up (its last migration).
    pub schema_version: i64,
    /// Key id (hex, see [`crate::crypto::MasterKey::key_id`]) of the master key that sealed the
    /// database's credentials.
    pub master_key_id: String,
    /// Whether [`SEALED_KEY`] is in the archive.
    pub master_key_included: bool,
    /// Rows per table of the database backed up.
    pub counts: BTreeMap<String, i64>,
    /// Every entry but the manifest, in archive order.
    pub parts: Vec<Part>,
    /// What the archive leaves to the operator (the PostgreSQL dump, an S3 bucket).
    pub notes: Vec<String>,
}

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Entry name (see [`part_name_ok`]).
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
}

/// Whether `name` is an entry a testum archive may hold: the database, the sealed key, or a
/// relative path under [`TASK_LOGS`] with no `..` and no control character (messages print
/// names). Restore writes nothing else, anywhere.
pub fn part_name_ok(name: &str) -> bool {
    if name.chars().any(char::is_control) {
        return false;
    }
    if name == DATABASE || name == SEALED_KEY {
        return true;
    }
    match name
        .strip_prefix(TASK_LOGS)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => rest.split('/').all(|s| !matches!(s, "" | "." | "..")),
        None => false,
    }
}

impl Manifest {
    /// Parse and check a manifest read from an archive: a known format, and only part names
    /// [`part_name_ok`] accepts. Errors name what is wrong, in one line.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| anyhow::anyhow!("{MANIFEST} is not a testum manifest: {e}"))?;
        if manifest.format != FORMAT {
            anyhow::bail!(
                "archive format {} is not one this testum reads (it reads format {FORMAT})",
                manifest.format
            );
        }
        // Before its MAC is checked the manifest is whoever made the archive's, and verify and
        // restore print its text: an escape sequence in it would reach the operator's terminal
        // (retitle it, clear it, write the clipboard). testum writes none.
        let control = [
            &manifest.testum_version,
            &manifest.created_at,
            &manifest.backend,
            &manifest.master_key_id,
        ]
        .into_iter()
        .chain(&manifest.notes)
        .chain(manifest.counts.keys())
        .chain(manifest.parts.iter().flat_map(|p| [&p.name, &p.sha256]))
        .any(|text| text.chars().any(char::is_control));
        if control {
            anyhow::bail!(
                "{MANIFEST} holds a control character (a terminal escape sequence?): not a \
                 manifest testum wrote"
            );
        }
        if let Some(bad) = manifest.parts.iter().find(|p| !part_name_ok(&p.name)) {
            anyhow::bail!(
                "{MANIFEST} lists a part with a forbidden name {:?}",
                bad.name
            );
        }
        Ok(manifest)
    }

    /// The part named `name`, if the archive holds it.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// The MAC of a manifest: lower-case hex of HMAC-SHA-256 of its exact bytes under the master
/// key's subkey for manifests (64 characters).
pub fn mac(key: &MasterKey, manifest: &[u8]) -> String {
    let mut mac = key.mac(MAC_PURPOSE);
    mac.update(manifest);
    hex(&mac.finalize().into_bytes())
}

/// Check the MAC read from an archive (`None`: it has no [`MANIFEST_MAC`] entry) against the
/// manifest's bytes, in constant time. The caller has checked that `key`'s id is the manifest's,
/// so a mismatch means the manifest (or the MAC) was altered. Errors are one line.
pub fn check_mac(key: &MasterKey, manifest: &[u8], found: Option<&[u8]>) -> anyhow::Result<()> {
    let Some(found) = found else {
        bail!(
            "the archive has no {MANIFEST_MAC}: its manifest is not authenticated, so it is \
             refused (make a new backup with this testum)"
        );
    };
    let expected = mac(key, manifest);
    let found = found.trim_ascii_end();
    if !bool::from(expected.as_bytes().ct_eq(found)) {
        bail!(
            "the manifest's MAC does not match under master key id {}: the archive was altered \
             after it was made",
            key.key_id()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_parts_and_paths_under_task_logs_are_accepted() {
        for good in [
            "testum.db",
            "master.key.sealed",
            "task-logs/tasks/a/b/1.seg",
        ] {
            assert!(part_name_ok(good), "{good}");
        }
        for bad in [
            "manifest.json",
            "manifest.mac",
            "task-logs",
            "task-logs/../etc/passwd",
            "/task-logs/x",
            "task-logs/./x",
            "task-logs/\u{1b}[2J",
            "other",
            "master.key",
        ] {
            assert!(!part_name_ok(bad), "{bad}");
        }
    }

    #[test]
    fn control_characters_anywhere_in_the_text_are_refused() {
        let manifest = |field: &str, value: &str| {
            let mut json = serde_json::json!({
                "format": FORMAT, "testum_version": "0.1.0", "created_at": "2026-01-01T00:00:00Z",
                "backend": "sqlite", "schema_version": 9, "master_key_id": "0123456789abcdef",
                "master_key_included": false, "counts": {"users": 1},
                "parts": [{"name": "testum.db", "bytes": 1, "sha256": "00"}], "notes": ["a note"],
            });
            match field {
                "notes" => json["notes"][0] = value.into(),
                "part" => json["parts"][0]["name"] = format!("task-logs/{value}").into(),
                "" => {}
                _ => json[field] = value.into(),
            }
            Manifest::parse(&serde_json::to_vec(&json).unwrap())
        };
        manifest("", "").unwrap();
        for field in ["testum_version", "master_key_id", "notes", "part"] {
            for bad in ["\u{1b}]52;c;ZWNobw==\u{7}", "x\u{1b}[2Jy", "two\nlines"] {
                let error = manifest(field, bad).unwrap_err().to_string();
                assert!(error.contains("control character"), "{field}: {error}");
                assert!(!error.contains('\u{1b}'), "{field}: {error}");
            }
        }
    }

    #[test]
    fn the_mac_depends_on_every_byte_and_on_the_key() {
        let key = MasterKey::generate();
        let tag = mac(&key, b"{\"a\":1}");
        assert_eq!(tag.len(), 64);
        check_mac(&key, b"{\"a\":1}", Some(tag.as_bytes())).unwrap();
        assert!(check_mac(&key, b"{\"a\":2}", Some(tag.as_bytes())).is_err());
        assert!(check_mac(&MasterKey::generate(), b"{\"a\":1}", Some(tag.as_bytes())).is_err());
        assert!(check_mac(&key, b"{\"a\":1}", None).is_err());
    }
}
