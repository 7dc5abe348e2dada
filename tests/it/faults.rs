//! Fault injection, counted (issue 13): real deploys and revokes through real `testum` processes
//! against a real OpenSSH sshd, with one fault injected at a random point of each remote write,
//! then the invariants a user relies on checked on the host's file.
//!
//! The platform: an sshd in a network namespace of its own (a veth pair, 10.213.X.1/30 on the
//! host side, .2 in the namespace), a throw-away user whose `~/.ssh` is a small tmpfs (so it can
//! be filled and remounted read-only) and whose login shell is a wrapper that notes the pid of
//! every `testum-write` script (and its parent, the sshd session process) in `~/faults/writes`
//! before it runs `/bin/sh`. A fault lands a random delay after the write script started,
//! uniform in [0, the longest clean write measured at the start]. The faults, in turn:
//!
//! - `worker-kill`: SIGKILL of the process whose worker runs the target (a `testum worker` on
//!   PostgreSQL; on SQLite the one `testum serve`, the README's SQLite setup), restarted after
//!   the check; another run of the target comes once its lease (5 s) expires;
//! - `session-kill`: SIGKILL of the sshd session process that runs the write script;
//! - `disk-full`: the tmpfs filled to the last byte by a root-owned file;
//! - `read-only`: `mount -o remount,ro` of the tmpfs, retried until the kernel allows it (it
//!   refuses with EBUSY while any file on it is open for writing, and the write script holds
//!   its lock file open for writing from before its temporary file exists until it exits);
//! - `appender`: another writer appending 5 lines to the file (`open(O_APPEND)`, write, close,
//!   as a shell's `>>` does) during the write;
//! - `net-cut`: the namespace's veth taken down for a random 0.2 to 3 s.
//!
//! After each fault, once the task and every write script of it ended: the managed block is the
//! old one or the new one (never a mix), the file is not empty, every line outside the block is
//! there (the appended ones too) and no other line is, and no temporary file
//! (`.authorized_keys.testum-*`) is left. Then the fault is undone and a `sync` task of the
//! platform runs: it must succeed, with the new block and every line outside it.
//!
//! `TESTUM_FAULTS` sets the number of faults (default 36, six of each kind; `make faults` runs
//! 1000), `TESTUM_FAULTS_SEED` the seed of the random choices (printed, so a failure can be
//! replayed). The test prints `faults injected: N, files intact: N, lines lost: 0, converged: N`.

use crate::app::TestApp;
use crate::cluster::{Cluster, Proc, free_port};
use crate::common::{ClientKey, KeyKind, Sshd, TestUser};

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testum::authorized_keys::{BEGIN_MARKER, END_MARKER};

const AK: &str = ".ssh/authorized_keys";
/// Faults of a `make test` run.
const DEFAULT_FAULTS: usize = 36;
/// Keys the campaign deploys and revokes.
const KEYS: usize = 5;
/// Lease of the test's processes: how long a killed worker's target waits for another run.
const LEASE: [(&str, &str); 1] = [("TESTUM_LEASE_SECS", "5")];
/// Lines the concurrent writer appends per fault.
const APPENDS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    WorkerKill,
    SessionKill,
    DiskFull,
    ReadOnly,
    Appender,
    NetCut,
}

const FAULTS: [Fault; 6] = [
    Fault::WorkerKill,
    Fault::SessionKill,
    Fault::DiskFull,
    Fault::ReadOnly,
    Fault::Appender,
    Fault::NetCut,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::WorkerKill => "worker-kill",
            Fault::SessionKill => "session-kill",
            Fault::DiskFull => "disk-full",
            Fault::ReadOnly => "read-only",
            Fault::Appender => "appender",
            Fault::NetCut => "net-cut",
        }
    }
}

/// Run `ip` with `args`; panics with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace joined to the host by a veth pair; deleted (with the pair) on drop.
struct Netns {
    name: String,
    host_if: String,
    ns_if: String,
    /// The namespace side's address (where its sshd listens).
    address: String,
}

impl Netns {
    fn create() -> Netns {
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let octet = rand::random::<u8>();
        let netns = Netns {
            name: format!("tf{tag}"),
            host_if: format!("tfh{tag}"),
            ns_if: format!("tfn{tag}"),
            address: format!("10.213.{octet}.2"),
        };
        ip(&["netns", "add", &netns.name]);
        ip(&[
            "link",
            "add",
            &netns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &netns.ns_if,
        ]);
        ip(&["link", "set", &netns.ns_if, "netns", &netns.name]);
        let host_cidr = format!("10.213.{octet}.1/30");
        ip(&["addr", "add", &host_cidr, "dev", &netns.host_if]);
        ip(&["link", "set", &netns.host_if, "up"]);
        let ns_cidr = format!("{}/30", netns.address);
        ip(&[
            "-n",
            &netns.name,
            "addr",
            "add",
            &ns_cidr,
            "dev",
            &netns.ns_if,
        ]);
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        netns.set_link(true);
        netns
    }

    /// Take the namespace's end of the veth up or down.
    fn set_link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.name, "link", "set", &self.ns_if, state]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The login shell of the platform's user: notes `$$ $PPID` of each write script, then `sh`.
const WRAPPER: &str = "#!/bin/sh\n\
case \"$2\" in *testum-write*) echo \"$$ $PPID\" >>\"$HOME/faults/writes\" ;; esac\n\
exec /bin/sh \"$@\"\n";

/// The host side: sshd in a network namespace, a user with the wrapper shell and a tmpfs
/// `~/.ssh`. Field order is drop order: sshd, then the user (tmpfs unmounted, userdel), the
/// shell's directory, the namespace.
struct Platform {
    sshd: Sshd,
    user: TestUser,
    _shell: tempfile::TempDir,
    netns: Netns,
}

impl Platform {
    fn start() -> Platform {
        crate::common::sshd::ensure_tool("/usr/sbin/ip", "iproute2");
        let netns = Netns::create();
        let shell = tempfile::Builder::new()
            .prefix("testum-faults-shell-")
            .tempdir()
            .expect("tempdir");
        fs::set_permissions(shell.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let wrapper = shell.path().join("sh");
        fs::write(&wrapper, WRAPPER).expect("write the wrapper shell");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod");
        let mut user = TestUser::create_with_shell(&wrapper.to_string_lossy());
        user.mkdir("faults", 0o700);
        user.mount_tmpfs(".ssh", 256)
            .unwrap_or_else(|e| panic!("cannot mount a tmpfs on ~/.ssh: {e}"));
        let sshd = Sshd::start_in_netns(&netns.name, &netns.address);
        Platform {
            sshd,
            user,
            _shell: shell,
            netns,
        }
    }

    fn ssh_dir(&self) -> PathBuf {
        self.user.path(".ssh")
    }

    /// The write scripts noted since the last [`Platform::forget_writes`]: (pid, sshd session pid).
    fn writes(&self) -> Vec<(i32, i32)> {
        let text = fs::read_to_string(self.user.path("faults/writes")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let (pid, ppid) = l.split_once(' ')?;
                Some((pid.parse().ok()?, ppid.parse().ok()?))
            })
            .collect()
    }

    fn forget_writes(&self) {
        let _ = fs::remove_file(self.user.path("faults/writes"));
    }

    /// Wait until every noted write script has exited.
    async fn wait_writes_ended(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self
            .writes()
            .iter()
            .any(|(pid, _)| Path::new(&format!("/proc/{pid}")).exists())
        {
            assert!(Instant::now() < deadline, "a write script did not end");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Wait until sshd accepts TCP connections from the test's network namespace.
    async fn wait_reachable(&self) {
        let address = format!("{}:{}", self.netns.address, self.sshd.port());
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(&address).await.is_err() {
            assert!(Instant::now() < deadline, "{address} unreachable for 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Temporary files of the writer left in `~/.ssh` (its lock file is not one).
    fn temp_files(&self) -> Vec<String> {
        self.user
            .list_dir(".ssh")
            .into_iter()
            .filter(|n| n.contains(".testum-"))
            .collect()
    }

    /// Fill the tmpfs to its last byte with a root-owned file.
    fn fill(&self) {
        let mut filler = fs::File::create(self.ssh_dir().join("filler")).expect("filler");
        let page = [b'x'; 4096];
        while filler.write_all(&page).is_ok() {}
        while filler.write_all(b"x").is_ok() {}
    }

    fn unfill(&self) {
        fs::remove_file(self.ssh_dir().join("filler")).expect("remove the filler");
    }

    /// `mount -o remount,MODE` of the tmpfs; `false` when the kernel refused (EBUSY).
    fn remount(&self, mode: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(self.ssh_dir())
            .output()
            .expect("run mount")
            .status
            .success()
    }

    /// Append `lines` one `open(O_APPEND)`/write/close each, `gap` apart.
    fn append(path: PathBuf, lines: Vec<String>, gap: Duration) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for line in lines {
                let mut file = fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("open for append");
                file.write_all(format!("{line}\n").as_bytes())
                    .expect("append");
                drop(file);
                std::thread::sleep(gap);
            }
        })
    }
}

/// The service: an API server and the process whose worker runs the targets (a separate
/// `testum worker` on PostgreSQL; on SQLite the server's own worker).
struct Service {
    cluster: Cluster,
    server: Proc,
    worker: Option<Proc>,
    api: TestApp,
    /// When `api` logged in: its access token lives 15 minutes, a long campaign outlives it.
    logged_in: Instant,
    port: u16,
    restarts: usize,
}

impl Service {
    async fn start() -> Service {
        let cluster = Cluster::on_test_backend().await;
        let port = free_port();
        let workers = if cluster.is_postgres() { "0" } else { "1" };
        let (server, api) = cluster.server_on("server-0", workers, port, &LEASE).await;
        let worker = cluster
            .is_postgres()
            .then(|| cluster.spawn_with("worker-0", &["worker"], &LEASE));
        Service {
            cluster,
            server,
            worker,
            api,
            logged_in: Instant::now(),
            port,
            restarts: 0,
        }
    }

    fn kill_worker(&mut self) {
        match &mut self.worker {
            Some(worker) => worker.kill9(),
            None => self.server.kill9(),
        }
    }

    async fn restart_worker(&mut self) {
        self.restarts += 1;
        let name = format!("worker-{}", self.restarts);
        if self.cluster.is_postgres() {
            self.worker = Some(self.cluster.spawn_with(&name, &["worker"], &LEASE));
        } else {
            let (server, api) = self.cluster.server_on(&name, "1", self.port, &LEASE).await;
            self.server = server;
            self.api = api;
            self.logged_in = Instant::now();
        }
    }

    /// Log in again when the access token is older than 10 minutes.
    async fn keep_logged_in(&mut self) {
        if self.logged_in.elapsed() > Duration::from_secs(600) {
            self.api = TestApp::attach(self.api.base.clone()).await;
            self.logged_in = Instant::now();
        }
    }
}

/// The key blob (second field) of an authorized_keys line.
fn blob(line: &str) -> String {
    line.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// A file split into the lines outside the managed block and the blobs inside it; `None` when
/// the markers are not one well-formed block.
fn split(content: &[u8]) -> Option<(Vec<String>, Vec<String>)> {
    let text = String::from_utf8(content.to_vec()).ok()?;
    let mut outside = Vec::new();
    let mut inside = Vec::new();
    let mut state = 0; // 0 before the block, 1 in it, 2 after it
    for line in text.lines() {
        match (state, line) {
            (0, BEGIN_MARKER) => state = 1,
            (1, END_MARKER) => state = 2,
            (_, BEGIN_MARKER | END_MARKER) => return None,
            (1, l) => inside.push(blob(l)),
            // The engine may put a blank line before the block; blank lines are not counted.
            (_, "") => {}
            (_, l) => outside.push(l.to_owned()),
        }
    }
    (state != 1).then_some((outside, inside))
}

/// Lines of `want` missing from `have` (as multisets).
fn lost_lines(want: &[String], have: &[String]) -> usize {
    let mut have = have.to_vec();
    want.iter()
        .filter(|l| match have.iter().position(|h| h == *l) {
            Some(i) => {
                have.remove(i);
                false
            }
            None => true,
        })
        .count()
}

/// `lines` with each run of one fault's appended lines sorted: when the write script puts a
/// file back that grew during its rename, what the appender wrote to the new file is carried
/// over after what it wrote to the old one, so a racing appender's own lines may come out
/// reordered among themselves (none lost); every other line must keep its place.
fn in_appender_order(lines: &[String]) -> Vec<String> {
    let fault_of = |line: &str| {
        line.strip_prefix("# appended during fault ")
            .and_then(|rest| rest.split_once(','))
            .map(|(n, _)| n.to_owned())
    };
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        let fault = fault_of(line);
        if fault.is_none() || fault != lines.get(i + 1).and_then(|next| fault_of(next)) {
            let mut run = lines[start..=i].to_vec();
            if fault.is_some() {
                run.sort();
            }
            out.extend(run);
            start = i + 1;
        }
    }
    out
}

/// What one check of the file found.
struct Check {
    intact: bool,
    lost: usize,
    why: String,
    /// The lines outside the block now.
    outside: Vec<String>,
}

/// Check the file against the lines that must be outside the block and the allowed blocks.
fn check(platform: &Platform, outside: &[String], blocks: &[&BTreeSet<String>]) -> Check {
    let content = fs::read(platform.user.path(AK)).unwrap_or_default();
    let temps = platform.temp_files();
    let Some((now_outside, now_inside)) = split(&content) else {
        return Check {
            intact: false,
            lost: outside.len(),
            why: format!("broken file: {:?}", String::from_utf8_lossy(&content)),
            outside: Vec::new(),
        };
    };
    let lost = lost_lines(outside, &now_outside);
    let block: BTreeSet<String> = now_inside.iter().cloned().collect();
    let mut why = Vec::new();
    if content.is_empty() {
        why.push("empty file".to_owned());
    }
    if lost > 0 || in_appender_order(&now_outside) != in_appender_order(outside) {
        why.push(format!(
            "outside the block: {now_outside:?}, want {outside:?}"
        ));
    }
    if block.len() != now_inside.len() || !blocks.contains(&&block) {
        why.push(format!("block {now_inside:?}, want one of {blocks:?}"));
    }
    if !temps.is_empty() {
        why.push(format!("temporary files left: {temps:?}"));
    }
    Check {
        intact: why.is_empty(),
        lost,
        why: why.join("; "),
        outside: now_outside,
    }
}

/// The campaign's state: the platform, the service, the keys and what the file holds.
struct Campaign {
    platform: Platform,
    service: Service,
    platform_id: String,
    /// (key id, blob)
    keys: Vec<(String, String)>,
    /// Indexes of the keys in the block.
    deployed: BTreeSet<usize>,
    /// Lines outside the block.
    outside: Vec<String>,
    /// Longest clean write script measured.
    window: Duration,
}

/// One fault's deploy or revoke.
struct Op {
    key: usize,
    deploy: bool,
}

impl Op {
    fn path(&self, platform: &str) -> String {
        let what = if self.deploy { "deploy" } else { "revoke" };
        format!("/api/platforms/{platform}/{what}_keys")
    }
}

impl Campaign {
    async fn start() -> Campaign {
        let platform = Platform::start();
        let service = Service::start().await;
        let unmanaged = ClientKey::generate(KeyKind::Ed25519, None);
        let outside = vec![
            "# keys kept by hand".to_owned(),
            unmanaged.public_line.clone(),
        ];
        platform
            .user
            .write_file(AK, format!("{}\n", outside.join("\n")).as_bytes(), 0o600);
        let (status, created) = service
            .api
            .post(
                "/api/platforms",
                json!({"name": "faulty", "host": platform.netns.address,
                       "port": platform.sshd.port(), "username": platform.user.name,
                       "auth_method": "password", "password": platform.user.password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let platform_id = created["id"].as_str().unwrap().to_owned();
        let mut keys = Vec::new();
        for n in 0..KEYS {
            let key = ClientKey::generate(KeyKind::Ed25519, None);
            let id = service
                .api
                .add_key(&format!("k{n}"), &key.public_line)
                .await;
            keys.push((id, blob(&key.public_line)));
        }
        Campaign {
            platform,
            service,
            platform_id,
            keys,
            deployed: BTreeSet::new(),
            outside,
            window: Duration::ZERO,
        }
    }

    fn blobs(&self, deployed: &BTreeSet<usize>) -> BTreeSet<String> {
        deployed.iter().map(|k| self.keys[*k].1.clone()).collect()
    }

    async fn queue(&self, op: &Op) -> String {
        let body = json!({"key_ids": [self.keys[op.key].0]});
        self.service
            .api
            .queue(&op.path(&self.platform_id), body)
            .await
    }

    /// Wait for the first write script of `task`: (its pid, its sshd session's pid). Panics when
    /// the task ends without one.
    async fn first_write(&self, task: &str) -> (i32, i32) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut polls = 0u32;
        loop {
            if let Some(first) = self.platform.writes().first() {
                return *first;
            }
            polls += 1;
            if polls.is_multiple_of(200) {
                let t = self.service.api.get(&format!("/api/tasks/{task}")).await;
                assert!(
                    !["succeeded", "failed", "cancelled"].contains(&t["status"].as_str().unwrap()),
                    "the task ended without writing: {t}"
                );
            }
            assert!(Instant::now() < deadline, "no write script started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A clean deploy of key `key`, measuring its write script; panics unless it succeeds.
    async fn calibrate(&mut self, key: usize) {
        self.platform.forget_writes();
        let op = Op { key, deploy: true };
        let task = self.queue(&op).await;
        let (pid, _) = self.first_write(&task).await;
        let started = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.window = self.window.max(started.elapsed());
        let ended = self.service.api.wait_task(&task).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
        self.deployed.insert(key);
        let after = self.blobs(&self.deployed);
        let c = check(&self.platform, &self.outside, &[&after]);
        assert!(c.intact, "calibration deploy: {}", c.why);
    }

    fn choose(&self, rng: &mut StdRng) -> Op {
        let absent: Vec<usize> = (0..KEYS).filter(|k| !self.deployed.contains(k)).collect();
        let present: Vec<usize> = self.deployed.iter().copied().collect();
        let deploy = present.is_empty() || (!absent.is_empty() && rng.random_bool(0.5));
        let from = if deploy { &absent } else { &present };
        Op {
            key: *from.choose(rng).expect("a key"),
            deploy,
        }
    }

    /// Inject one fault during a deploy or revoke, check, undo, converge.
    async fn fault(&mut self, n: usize, fault: Fault, rng: &mut StdRng, tally: &mut Tally) {
        self.service.keep_logged_in().await;
        let op = self.choose(rng);
        let before = self.blobs(&self.deployed);
        let mut next = self.deployed.clone();
        if op.deploy {
            next.insert(op.key);
        } else {
            next.remove(&op.key);
        }
        let after = self.blobs(&next);
        self.platform.forget_writes();
        let task = self.queue(&op).await;
        let (_, session) = self.first_write(&task).await;
        let delay = self.window.mul_f64(rng.random::<f64>());
        tokio::time::sleep(delay).await;

        let mut appended = Vec::new();
        let mut appender = None;
        let mut note = String::new();
        match fault {
            Fault::WorkerKill => self.service.kill_worker(),
            Fault::SessionKill => {
                let pid = rustix::process::Pid::from_raw(session).expect("pid");
                if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::KILL) {
                    note = format!("(session already gone: {e})");
                }
            }
            Fault::DiskFull => self.platform.fill(),
            Fault::ReadOnly => {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !self.platform.remount("ro") {
                    assert!(Instant::now() < deadline, "the tmpfs stayed busy for 60 s");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let running = self
                    .platform
                    .writes()
                    .iter()
                    .any(|(pid, _)| Path::new(&format!("/proc/{pid}")).exists());
                note = format!("(landed after +{:?})", delay);
                if running {
                    note.push_str(" while a write script ran");
                }
            }
            Fault::Appender => {
                appended = (0..APPENDS)
                    .map(|j| format!("# appended during fault {n}, line {j}"))
                    .collect();
                let gap = self.window.mul_f64(rng.random::<f64>()) / APPENDS as u32;
                appender = Some(Platform::append(
                    self.platform.user.path(AK),
                    appended.clone(),
                    gap,
                ));
            }
            Fault::NetCut => {
                self.platform.netns.set_link(false);
                let cut = Duration::from_millis(rng.random_range(200..3000));
                tokio::time::sleep(cut).await;
                self.platform.netns.set_link(true);
                note = format!("(cut {cut:?})");
            }
        }
        if let Some(appender) = appender {
            appender.join().expect("the appender");
        }
        let ended = if fault == Fault::WorkerKill {
            Value::Null
        } else {
            self.service.api.wait_task(&task).await
        };
        self.platform.wait_writes_ended().await;
        self.outside.extend(appended);

        let c = check(&self.platform, &self.outside, &[&before, &after]);
        tally.injected += 1;
        tally.lost += c.lost;
        if c.lost > 0 {
            // Count a loss once: the next faults are checked against what is left.
            self.outside = c.outside.clone();
        }
        let state = if !c.intact {
            println!("fault {n}: {}", c.why);
            "BROKEN"
        } else if self.blobs_now() == before {
            "old"
        } else {
            "new"
        };
        if c.intact {
            tally.intact += 1;
        } else {
            tally.failures.push(format!(
                "fault {n} ({}, {} k{} at +{delay:?}): {}",
                fault.name(),
                if op.deploy { "deploy" } else { "revoke" },
                op.key,
                c.why
            ));
        }

        // Undo the fault, let a faulted task end, and sync again.
        match fault {
            Fault::WorkerKill => {
                self.service.restart_worker().await;
                self.service.api.wait_task(&task).await;
            }
            Fault::DiskFull => self.platform.unfill(),
            Fault::ReadOnly => assert!(self.platform.remount("rw"), "remount rw"),
            // The link is up again, but connecting fails ("No route to host") until the host
            // answers ARP again: the network is back once its sshd answers.
            Fault::NetCut => self.platform.wait_reachable().await,
            _ => {}
        }
        let converged = self.sync().await;
        let c = check(&self.platform, &self.outside, &[&after]);
        tally.lost += c.lost;
        if c.lost > 0 {
            self.outside = c.outside.clone();
        }
        if converged["status"] == "succeeded" && c.intact {
            tally.converged += 1;
        } else {
            tally.failures.push(format!(
                "fault {n} ({}): no convergence: {} {} {}",
                fault.name(),
                converged["status"],
                converged["targets"][0]["error"],
                c.why
            ));
            println!("{}", tally.failures.last().unwrap());
            // Go on from a known state: the platform's assignments are `next` now.
            let again = self.sync().await;
            assert_eq!(again["status"], "succeeded", "seed {}: {again}", tally.seed);
        }
        self.deployed = next;
        let error = ended["targets"][0]["error"].as_str().unwrap_or_default();
        println!(
            "fault {n:4} {:12} {} k{} at +{:>9.3?}: task {} {error} {note}; file {state}; \
             resync {}",
            fault.name(),
            if op.deploy { "deploy" } else { "revoke" },
            op.key,
            delay,
            ended["status"].as_str().unwrap_or("(worker killed)"),
            converged["status"]
        );
    }

    /// Run a `sync` task of the platform (converge it on its assignments) and every write script
    /// of it; the task's JSON.
    async fn sync(&self) -> Value {
        self.platform.forget_writes();
        let task = self
            .service
            .api
            .queue(
                "/api/tasks",
                json!({"kind": "sync", "platform_ids": [self.platform_id]}),
            )
            .await;
        let ended = self.service.api.wait_task(&task).await;
        self.platform.wait_writes_ended().await;
        ended
    }

    /// The blobs in the file's block now.
    fn blobs_now(&self) -> BTreeSet<String> {
        let content = fs::read(self.platform.user.path(AK)).unwrap_or_default();
        split(&content)
            .map(|(_, inside)| inside.into_iter().collect())
            .unwrap_or_default()
    }
}

impl Tally {
    fn summary(&self) -> String {
        format!(
            "faults injected: {}, files intact: {}, lines lost: {}, converged: {}",
            self.injected, self.intact, self.lost, self.converged
        )
    }
}

#[derive(Default)]
struct Tally {
    seed: u64,
    injected: usize,
    intact: usize,
    lost: usize,
    converged: usize,
    failures: Vec<String>,
}

/// Issue 13: faults injected during real deploys and revokes never break the file, lose a line
/// or leave a temporary file, and the next sync converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_during_deploys_and_revokes_leave_the_file_intact() {
    let count = std::env::var("TESTUM_FAULTS")
        .ok()
        .map(|v| {
            v.parse::<usize>()
                .expect("TESTUM_FAULTS: a number of faults")
        })
        .unwrap_or(DEFAULT_FAULTS);
    let seed = std::env::var("TESTUM_FAULTS_SEED")
        .ok()
        .map(|v| v.parse::<u64>().expect("TESTUM_FAULTS_SEED: a number"))
        .unwrap_or_else(rand::random);
    println!("fault injection: {count} faults, seed {seed} (TESTUM_FAULTS_SEED={seed} replays)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut campaign = Campaign::start().await;
    for key in 0..2 {
        campaign.calibrate(key).await;
    }
    println!("longest clean write script: {:?}", campaign.window);
    let mut tally = Tally {
        seed,
        ..Tally::default()
    };
    for n in 0..count {
        campaign
            .fault(n, FAULTS[n % FAULTS.len()], &mut rng, &mut tally)
            .await;
        if (n + 1) % 100 == 0 && n + 1 < count {
            println!("so far: {}", tally.summary());
        }
    }
    println!("{} (seed {seed})", tally.summary());
    assert!(
        tally.failures.is_empty(),
        "seed {seed}:\n{}",
        tally.failures.join("\n")
    );
    assert_eq!(
        (tally.injected, tally.intact, tally.lost, tally.converged),
        (count, count, 0, count)
    );
}
