//! Task logs in a local directory are private whatever the process umask and whatever mode the
//! operator gave the archive directory: every directory testum creates or writes into below it
//! is mode 0700 and every object file 0600 (issue 13, finding 5). `object_store`'s
//! `LocalFileSystem` creates both with the umask's defaults (0755 / 0644 under umask 022), so
//! [`prepare`] makes the directories before a PUT and [`seal`] sets the file's mode after it;
//! the file is never visible to others meanwhile, its directory being 0700 already.

use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// Mode of every directory below the archive root.
const DIR_MODE: u32 = 0o700;
/// Mode of every object file.
const FILE_MODE: u32 = 0o600;

/// Create the directories of object `key` (`a/b/c.seg`: `root/a`, `root/a/b`) mode 0700, and
/// set 0700 on those that exist already; returns the object's file path. Errors: the I/O
/// error of the first directory that cannot be created or changed.
pub(super) async fn prepare(root: &Path, key: &str) -> io::Result<PathBuf> {
    let mut path = root.to_path_buf();
    let mut parts = key.split('/').peekable();
    while let Some(part) = parts.next() {
        path.push(part);
        if parts.peek().is_none() {
            break;
        }
        match tokio::fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&path)
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(DIR_MODE)).await?;
    }
    Ok(path)
}

/// Give the object file at `path` mode 0600.
pub(super) async fn seal(path: &Path) -> io::Result<()> {
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE)).await
}
