//! The peers testum is measured against, each a separate process doing the same fan-out: the
//! asyncssh client (`benches/asyncssh_peer.py`, Python, from PyPI) and OpenSSH's own `ssh`
//! through `xargs -P N`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::fleet::Fleet;

/// One round of a peer over the whole fleet.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// Wall time, connection setup included, in seconds.
    pub wall: f64,
    /// The peer's own CPU time over the round, in seconds, when it reports it.
    pub cpu: Option<f64>,
    /// Hosts whose command exited 0, and hosts.
    pub ok: usize,
    pub hosts: usize,
    /// stdout + stderr bytes read over all hosts, when the peer counts them.
    pub bytes: Option<u64>,
    /// A few failures.
    pub errors: Vec<String>,
}

/// Run `command` on every fleet host with asyncssh (`python` runs the peer script).
pub async fn asyncssh(fleet: &Fleet, python: &str, command: &str) -> anyhow::Result<PeerRun> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/asyncssh_peer.py");
    let mut child = Command::new(python);
    child
        .arg(script)
        .arg("--fleet-dir")
        .arg(&fleet.dir)
        .args(["--command", command]);
    let out = tokio::task::spawn_blocking(move || child.stderr(Stdio::inherit()).output())
        .await?
        .context("run the asyncssh peer")?;
    if !out.status.success() {
        bail!("the asyncssh peer failed ({})", out.status);
    }
    let json: Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the asyncssh peer's answer: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    let number = |k: &str| {
        json[k]
            .as_f64()
            .with_context(|| format!("asyncssh peer: no {k}"))
    };
    Ok(PeerRun {
        wall: number("wall_s")?,
        cpu: json["cpu_s"].as_f64(),
        ok: number("ok")? as usize,
        hosts: number("hosts")? as usize,
        bytes: json["bytes"].as_u64(),
        errors: json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e.as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Run `true` on every fleet host with OpenSSH's `ssh`, all at once through `xargs -P N`.
pub async fn openssh(fleet: &Fleet) -> anyhow::Result<PeerRun> {
    let ports: String = fleet
        .hosts
        .iter()
        .map(|h| format!("{}\n", h.port))
        .collect();
    let n = fleet.hosts.len();
    let mut command = Command::new("xargs");
    command
        .args(["-P", &n.to_string(), "-I{}", "ssh", "-F", "/dev/null", "-i"])
        .arg(fleet.client_key())
        .arg("-o")
        .arg(format!(
            "UserKnownHostsFile={}",
            fleet.dir.join("known_hosts").display()
        ))
        .args([
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-p",
            "{}",
            "root@127.0.0.1",
            "true",
        ])
        .stdin(Stdio::piped());
    let (wall, status) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let started = Instant::now();
        let mut child = command.spawn().context("run xargs ssh")?;
        child
            .stdin
            .take()
            .context("xargs stdin")?
            .write_all(ports.as_bytes())?;
        let status = child.wait()?;
        Ok((started.elapsed().as_secs_f64(), status))
    })
    .await??;
    // xargs only says whether every ssh succeeded.
    let ok = if status.success() { n } else { 0 };
    Ok(PeerRun {
        wall,
        cpu: None,
        ok,
        hosts: n,
        bytes: None,
        errors: if status.success() {
            Vec::new()
        } else {
            vec![format!("xargs: {status} (at least one ssh failed)")]
        },
    })
}
