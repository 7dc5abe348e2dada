//! The saved session of `testum login`: `session.json` (mode 0600, its directory 0700) under
//! `$XDG_CONFIG_HOME/testum/`, or `~/.config/testum/` when `XDG_CONFIG_HOME` is unset or empty
//! (XDG Base Directory Specification).
//!
//! Shape: `{"url", "username", "access_token", "refresh_token"?}`. The file holds bearer tokens,
//! so it is created 0600 before anything is written to it, and an existing file is narrowed to
//! 0600 too.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use anyhow::{Context as _, anyhow};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A signed-in session as saved on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Base URL of the server, without a trailing slash.
    pub url: String,
    /// Who logged in.
    pub username: String,
    /// The current access token (a JWT).
    #[serde(serialize_with = "expose")]
    pub access_token: Secret,
    /// The refresh token, when the server issues one; used once after a 401.
    #[serde(default, serialize_with = "expose_option")]
    pub refresh_token: Option<Secret>,
}

fn expose<S: serde::Serializer>(secret: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.expose())
}

fn expose_option<S: serde::Serializer>(secret: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

/// The directory of the session file.
pub fn dir() -> anyhow::Result<PathBuf> {
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(config).join("testum"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            anyhow!("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the session")
        })?;
    Ok(PathBuf::from(home).join(".config").join("testum"))
}

/// The session file's path.
pub fn path() -> anyhow::Result<PathBuf> {
    Ok(dir()?.join("session.json"))
}

impl Session {
    /// The saved session; `None` when nobody logged in yet.
    pub fn load() -> anyhow::Result<Option<Session>> {
        let path = path()?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "{} is not a testum session: run testum login",
                path.display()
            )
        })
    }

    /// Save (replace) the session file, mode 0600; returns its path.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let dir = dir()?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("session.json");
        let json = serde_json::to_vec_pretty(self)?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            // `mode` applies only to a new file: narrow one that existed before.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        write().with_context(|| format!("cannot save the session to {}", path.display()))?;
        Ok(path)
    }
}
