//! The fleet of real sshd servers on 127.0.0.1 that every side of the benchmark talks to,
//! started with `../shared/tools/fleet.sh` when `$FLEET_DIR` has none (and then stopped again).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// One fleet host: `127.0.0.1:port`, its files in `dir` (`authorized_keys` among them).
pub struct Host {
    pub port: u16,
    pub dir: PathBuf,
}

/// The fleet in use; stops it on drop when this process started it.
pub struct Fleet {
    pub dir: PathBuf,
    pub hosts: Vec<Host>,
    started: bool,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/fleet.sh")
}

impl Fleet {
    /// The fleet in `$FLEET_DIR` (default /tmp/testum-fleet); when there is none, start one of
    /// `TESTUM_BENCH_HOSTS` hosts (default 200).
    pub fn open_or_start() -> anyhow::Result<Fleet> {
        let dir = PathBuf::from(
            std::env::var("FLEET_DIR").unwrap_or_else(|_| "/tmp/testum-fleet".into()),
        );
        let hosts_file = dir.join("hosts.txt");
        let mut started = false;
        if !hosts_file.exists() {
            let n = std::env::var("TESTUM_BENCH_HOSTS").unwrap_or_else(|_| "200".into());
            super::report::progress(&format!("starting a fleet of {n} sshd with fleet.sh"));
            let status = Command::new("bash")
                .arg(script())
                .args(["start", &n])
                .status()
                .context("run fleet.sh start")?;
            if !status.success() {
                // fleet.sh may have started some before failing: stop those.
                let _ = Command::new("bash").arg(script()).arg("stop").status();
                bail!("fleet.sh start failed ({status})");
            }
            started = true;
        }
        let mut fleet = Fleet {
            dir,
            hosts: Vec::new(),
            started,
        };
        let text = std::fs::read_to_string(&hosts_file).context("read hosts.txt")?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (port, dir) = line
                .split_once(' ')
                .context("hosts.txt: a line is not PORT DIR")?;
            fleet.hosts.push(Host {
                port: port.parse().context("hosts.txt: bad port")?,
                dir: PathBuf::from(dir),
            });
        }
        if fleet.hosts.is_empty() {
            bail!("{} lists no host", hosts_file.display());
        }
        Ok(fleet)
    }

    /// Restore every host's authorized_keys to just the client key (so deploy rounds start from
    /// the same files even after an interrupted run).
    pub fn reset_keys(&self) -> anyhow::Result<()> {
        let status = Command::new("bash")
            .arg(script())
            .arg("reset-keys")
            .env("FLEET_DIR", &self.dir)
            .status()
            .context("run fleet.sh reset-keys")?;
        if !status.success() {
            bail!("fleet.sh reset-keys failed ({status})");
        }
        Ok(())
    }

    /// The fleet's client private key (authorized on every host).
    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client_ed25519")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .env("FLEET_DIR", &self.dir)
                .status();
        }
    }
}
