//! A real OpenSSH `sshd` per test, and a throw-away unix user to log in as.
//!
//! - [`Sshd`]: `/usr/sbin/sshd -D -e` as a child process on a free 127.0.0.1 port (or on an
//!   address inside a network namespace, [`Sshd::start_in_netns`]), with its own
//!   ed25519, ECDSA P-256 and RSA host keys and `sshd_config` in a temporary directory
//!   (`StrictModes yes`, no PAM, password and public-key auth, `AllowUsers tt_*`). Readiness is
//!   detected by reading the `SSH-2.0-` banner; the child is killed on drop.
//! - [`TestUser`]: `useradd -m` of a `tt_<8 hex>` user with a random password (`chpasswd`),
//!   removed with `userdel -r` on drop (tmpfs mounts under its home are unmounted first).
//! - [`TestHost`]: both together, plus [`ConnectParams`] builders and the real `ssh` client.
//!
//! Needs root (useradd, sshd). A missing `sshd` fails the test loudly; it never skips.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use testum::secret::Secret;
use testum::ssh::{ConnectParams, Credential, HostKey, HostKeyPolicy};

/// Path of the OpenSSH server binary.
pub const SSHD: &str = "/usr/sbin/sshd";

/// Serialises useradd/userdel/chpasswd (they lock /etc/passwd and fail when it is busy).
static ACCOUNTS: Mutex<()> = Mutex::new(());

/// Run `cmd` to its end; panics naming it, with its output, when it cannot run or fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect()
}

fn assert_root() {
    // SAFETY-free check: `id -u` avoids a libc dependency.
    let out = run(Command::new("id").arg("-u"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the sshd integration tests must run as root (they add unix users and start sshd)"
    );
}

/// Serialises package installs.
static PACKAGES: Mutex<()> = Mutex::new(());

/// Make sure `binary` exists, installing Debian package `package` with apt-get when it does not
/// (tests run as root in CI). Panics when it still does not exist: a test never skips silently.
pub fn ensure_tool(binary: &str, package: &str) {
    let _guard = PACKAGES.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new(binary).exists() {
        return;
    }
    let out = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    assert!(
        Path::new(binary).exists(),
        "{binary} is missing and `apt-get install -y {package}` did not provide it: {out:?}"
    );
}

/// Host-key types the test server has.
pub const HOST_KEY_TYPES: [&str; 3] = ["ed25519", "ecdsa", "rsa"];

/// A running OpenSSH server.
pub struct Sshd {
    dir: TempDir,
    port: u16,
    /// The address it listens on.
    address: String,
    /// The network namespace (`ip netns` name) it runs in; `None`: the test's own.
    netns: Option<String>,
    extra_config: String,
    child: Option<Child>,
}

impl Sshd {
    /// Start an sshd with the default test configuration.
    pub fn start() -> Sshd {
        Sshd::start_with_config("")
    }

    /// Start an sshd with `extra` appended to the test `sshd_config` (OpenSSH uses the first
    /// value of a keyword, so `extra` can only add keywords the base config does not set).
    pub fn start_with_config(extra: &str) -> Sshd {
        Sshd::start_at("127.0.0.1", None, extra)
    }

    /// Start an sshd with the default test configuration inside the network namespace `netns`
    /// (made with `ip netns add`), listening on `address` there (an address of the namespace
    /// that the test reaches, e.g. through a veth pair). Only the network is the namespace's:
    /// users, files and mounts are the test's.
    pub fn start_in_netns(netns: &str, address: &str) -> Sshd {
        Sshd::start_at(address, Some(netns), "")
    }

    fn start_at(address: &str, netns: Option<&str>, extra: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (apt-get install -y openssh-server)"
        );
        assert_root();
        // Privilege separation directory that Debian's sshd insists on.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("testum-sshd-")
            .tempdir()
            .expect("tempdir");
        let mut sshd = Sshd {
            dir,
            port: 0,
            address: address.to_owned(),
            netns: netns.map(str::to_owned),
            extra_config: extra.to_owned(),
            child: None,
        };
        sshd.generate_host_keys();
        sshd.spawn_on_free_port();
        sshd
    }

    /// The TCP port (on 127.0.0.1 unless started in a network namespace).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary directory (config, host keys, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshd's log so far (stderr of `sshd -D -e`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The host key of one type (`ed25519`, `ecdsa`, `rsa`) as testum pins it; the fingerprint
    /// comes from `ssh-keygen -lf`, independent of testum's own code.
    pub fn host_key(&self, kind: &str) -> HostKey {
        let public = self.dir.path().join(format!("ssh_host_{kind}_key.pub"));
        let line = fs::read_to_string(&public).expect("read host key");
        let key_type = line.split_whitespace().next().expect("key type").to_owned();
        let out = run(Command::new("ssh-keygen").arg("-lf").arg(&public));
        let text = String::from_utf8_lossy(&out.stdout);
        let fingerprint = text
            .split_whitespace()
            .nth(1)
            .expect("fingerprint")
            .to_owned();
        HostKey {
            key_type,
            fingerprint,
        }
    }

    /// The OpenSSH public line of one host key.
    pub fn host_key_line(&self, kind: &str) -> String {
        fs::read_to_string(self.dir.path().join(format!("ssh_host_{kind}_key.pub")))
            .expect("read host key")
            .trim()
            .to_owned()
    }

    /// Stop the server, replace all host keys with new ones, start it again on the same port.
    pub fn restart_with_new_host_keys(&mut self) {
        self.stop();
        self.generate_host_keys();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.try_spawn() {
                Ok(()) => return,
                Err(log) if Instant::now() < deadline && log.contains("Address already in use") => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(log) => panic!("sshd did not restart on port {}:\n{log}", self.port),
            }
        }
    }

    fn generate_host_keys(&self) {
        for kind in HOST_KEY_TYPES {
            let path = self.dir.path().join(format!("ssh_host_{kind}_key"));
            let _ = fs::remove_file(&path);
            let _ = fs::remove_file(path.with_extension("pub"));
            let mut cmd = Command::new("ssh-keygen");
            cmd.args(["-q", "-N", "", "-C", "testum-test-host", "-t", kind]);
            if kind == "rsa" {
                cmd.args(["-b", "3072"]);
            }
            run(cmd.arg("-f").arg(&path));
        }
    }

    fn write_config(&self) -> PathBuf {
        let d = self.dir.path().display();
        let config = format!(
            "Port {port}\n\
             ListenAddress {address}\n\
             HostKey {d}/ssh_host_ed25519_key\n\
             HostKey {d}/ssh_host_ecdsa_key\n\
             HostKey {d}/ssh_host_rsa_key\n\
             PidFile {d}/sshd.pid\n\
             {extra}\n\
             AuthorizedKeysFile .ssh/authorized_keys\n\
             PasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\n\
             UsePAM no\n\
             PermitRootLogin no\n\
             StrictModes yes\n\
             AllowUsers tt_*\n\
             LogLevel DEBUG1\n\
             MaxStartups 200\n\
             MaxSessions 50\n\
             MaxAuthTries 10\n\
             Subsystem sftp internal-sftp\n",
            port = self.port,
            address = self.address,
            extra = self.extra_config,
        );
        let path = self.dir.path().join("sshd_config");
        fs::write(&path, config).expect("write sshd_config");
        path
    }

    fn spawn_on_free_port(&mut self) {
        let mut last = String::new();
        for _ in 0..10 {
            let probe = TcpListener::bind("127.0.0.1:0").expect("bind probe");
            self.port = probe.local_addr().expect("addr").port();
            drop(probe);
            match self.try_spawn() {
                Ok(()) => return,
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("sshd failed to start:\n{log}"),
            }
        }
        panic!("sshd found no free port:\n{last}");
    }

    /// Start sshd and wait for its banner. `Err(log)` when it exited.
    fn try_spawn(&mut self) -> Result<(), String> {
        let config = self.write_config();
        let log_path = self.dir.path().join("sshd.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open sshd.log");
        let mut command = match &self.netns {
            Some(netns) => {
                let mut nsenter = Command::new("nsenter");
                nsenter.arg(format!("--net=/run/netns/{netns}")).arg(SSHD);
                nsenter
            }
            None => Command::new(SSHD),
        };
        let mut child = command
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SSHD}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Err(format!("sshd exited with {status}:\n{}", self.log()));
            }
            if banner_ready(&self.address, self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sshd did not answer within 15 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn banner_ready(address: &str, port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((address, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 8];
    let ok = stream.read_exact(&mut buf).is_ok() && &buf == b"SSH-2.0-";
    let _ = stream.write_all(b"SSH-2.0-probe\r\n");
    ok
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kinds of client keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `ssh-ed25519`
    Ed25519,
    /// `ecdsa-sha2-nistp256`
    Ecdsa,
    /// `ssh-rsa` (3072 bits), signing with rsa-sha2-*.
    Rsa,
}

impl KeyKind {
    fn keygen_args(self) -> &'static [&'static str] {
        match self {
            KeyKind::Ed25519 => &["-t", "ed25519"],
            KeyKind::Ecdsa => &["-t", "ecdsa", "-b", "256"],
            KeyKind::Rsa => &["-t", "rsa", "-b", "3072"],
        }
    }
}

/// A client key pair made with `ssh-keygen`.
pub struct ClientKey {
    /// The kind.
    pub kind: KeyKind,
    /// Private key file (mode 0600, owned by root, for the real `ssh` client).
    pub private_path: PathBuf,
    /// Private key text (OpenSSH format).
    pub private_pem: String,
    /// Public line `type base64 comment`.
    pub public_line: String,
    /// Passphrase, when encrypted.
    pub passphrase: Option<String>,
    _dir: TempDir,
}

impl ClientKey {
    /// Generate a key; `passphrase` encrypts it.
    pub fn generate(kind: KeyKind, passphrase: Option<&str>) -> ClientKey {
        let dir = tempfile::Builder::new()
            .prefix("testum-key-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().join("id");
        let comment = format!("testum-{}@test", random_hex(6));
        run(Command::new("ssh-keygen")
            .args(["-q", "-C", &comment, "-N", passphrase.unwrap_or("")])
            .args(kind.keygen_args())
            .arg("-f")
            .arg(&path));
        ClientKey {
            kind,
            private_pem: fs::read_to_string(&path).expect("read private key"),
            public_line: fs::read_to_string(path.with_extension("pub"))
                .expect("read public key")
                .trim()
                .to_owned(),
            private_path: path,
            passphrase: passphrase.map(str::to_owned),
            _dir: dir,
        }
    }

    /// The testum credential for this key.
    pub fn credential(&self) -> Credential {
        Credential::PrivateKey {
            private_key: Secret::new(self.private_pem.clone()),
            passphrase: self.passphrase.clone().map(Secret::new),
        }
    }
}

/// A throw-away unix user (not root).
pub struct TestUser {
    /// Login name, `tt_<8 hex>`.
    pub name: String,
    /// Password set with chpasswd.
    pub password: String,
    /// Home directory.
    pub home: PathBuf,
    /// uid
    pub uid: u32,
    /// gid
    pub gid: u32,
    mounts: Vec<PathBuf>,
}

impl TestUser {
    /// Create a user with login shell `/bin/sh`.
    pub fn create() -> TestUser {
        TestUser::create_with_shell("/bin/sh")
    }

    /// Create a user with the given login shell.
    pub fn create_with_shell(shell: &str) -> TestUser {
        assert_root();
        let name = format!("tt_{}", random_hex(8));
        let password = format!("pw-{}", random_hex(16));
        {
            let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            retry(|| {
                Command::new("useradd")
                    .args(["-m", "-s", shell, &name])
                    .output()
            });
            retry(|| {
                let mut child = Command::new("chpasswd")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(format!("{name}:{password}\n").as_bytes())?;
                child.wait_with_output()
            });
        }
        let home = PathBuf::from(format!("/home/{name}"));
        let meta = fs::metadata(&home).expect("home exists");
        TestUser {
            name,
            password,
            uid: meta.uid(),
            gid: meta.gid(),
            home,
            mounts: Vec::new(),
        }
    }

    /// Absolute path of `rel` under the home directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.join(rel)
    }

    /// Create a directory (and parents) owned by the user with `mode`.
    pub fn mkdir(&self, rel: &str, mode: u32) {
        let path = self.path(rel);
        fs::create_dir_all(&path).expect("mkdir");
        self.chown(&path);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Write a file owned by the user with `mode` (parents created 0700).
    pub fn write_file(&self, rel: &str, content: &[u8], mode: u32) {
        let path = self.path(rel);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs::create_dir_all(parent).expect("mkdir parent");
            self.chown(parent);
            fs::set_permissions(parent, fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        fs::write(&path, content).expect("write file");
        self.chown(&path);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Read a file under the home directory.
    pub fn read_file(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Give `path` to the user.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }

    /// Mode bits (`& 0o7777`) of a path under the home directory (not following symlinks).
    pub fn mode(&self, rel: &str) -> u32 {
        fs::symlink_metadata(self.path(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    }

    /// Append `key`'s public line to `~/.ssh/authorized_keys` (0700 / 0600).
    pub fn authorize(&self, key: &ClientKey) {
        let rel = ".ssh/authorized_keys";
        let mut content = fs::read(self.path(rel)).unwrap_or_default();
        content.extend_from_slice(key.public_line.as_bytes());
        content.push(b'\n');
        self.write_file(rel, &content, 0o600);
        fs::set_permissions(self.path(".ssh"), fs::Permissions::from_mode(0o700)).expect("chmod");
    }

    /// Names of the entries of a directory under home, sorted.
    pub fn list_dir(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.path(rel))
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Mount a tmpfs of `size_kib` KiB owned by the user (mode 0700) on `rel` (created if
    /// needed); unmounted on drop. `Err` when mounting is not permitted (e.g. a container
    /// without CAP_SYS_ADMIN).
    pub fn mount_tmpfs(&mut self, rel: &str, size_kib: u32) -> Result<PathBuf, String> {
        let path = self.path(rel);
        fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!(
                "size={size_kib}k,mode=0700,uid={},gid={}",
                self.uid, self.gid
            ))
            .arg("tmpfs")
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        self.mounts.push(path.clone());
        Ok(path)
    }

    /// Remount a tmpfs made by [`TestUser::mount_tmpfs`] read-only.
    pub fn remount_ro(&self, rel: &str) {
        run(Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path(rel)));
    }
}

/// Run an account command, retrying while /etc/passwd is locked by someone else.
fn retry(mut f: impl FnMut() -> std::io::Result<Output>) {
    let mut last = String::new();
    for attempt in 0..50 {
        match f() {
            Ok(out) if out.status.success() => return,
            Ok(out) => last = String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(20 * (attempt + 1)));
    }
    panic!("account command failed: {last}");
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for mount in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(mount).output();
        }
        let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..50 {
            match Command::new("userdel")
                .args(["-r", "-f", &self.name])
                .output()
            {
                Ok(out) if out.status.success() || out.status.code() == Some(6) => return,
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let _ = fs::remove_dir_all(&self.home);
    }
}

/// An sshd and a user on it. Field order matters: sshd stops before the user is removed.
pub struct TestHost {
    /// The server.
    pub sshd: Sshd,
    /// The login user.
    pub user: TestUser,
}

impl TestHost {
    /// Start an sshd and create a user.
    pub fn start() -> TestHost {
        TestHost {
            sshd: Sshd::start(),
            user: TestUser::create(),
        }
    }

    /// Start an sshd with extra config and create a user.
    pub fn start_with_config(extra: &str) -> TestHost {
        TestHost {
            sshd: Sshd::start_with_config(extra),
            user: TestUser::create(),
        }
    }

    /// Connect parameters (policy tofu, no pin, 10 s connect timeout, 5 s keepalive).
    pub fn params(&self, credential: Credential) -> ConnectParams {
        ConnectParams {
            host: "127.0.0.1".into(),
            port: self.sshd.port(),
            username: self.user.name.clone(),
            credential,
            policy: HostKeyPolicy::Tofu,
            pinned: None,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(5),
        }
    }

    /// Parameters for password login.
    pub fn password_params(&self) -> ConnectParams {
        self.params(Credential::Password(Secret::new(
            self.user.password.clone(),
        )))
    }

    /// Generate a key of `kind`, authorize it for the user, return it.
    pub fn authorized_key(&self, kind: KeyKind) -> ClientKey {
        let key = ClientKey::generate(kind, None);
        self.user.authorize(&key);
        key
    }

    /// Parameters for key login with `key`.
    pub fn key_params(&self, key: &ClientKey) -> ConnectParams {
        self.params(key.credential())
    }

    /// Run `command` with the real OpenSSH client and `key` (BatchMode, no password, fresh
    /// known_hosts accepting the first key).
    pub fn ssh(&self, key: &ClientKey, command: &str) -> Output {
        let known_hosts = self
            .sshd
            .dir()
            .join(format!("known_hosts-{}", random_hex(6)));
        Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(&key.private_path)
            .args(["-p", &self.sshd.port().to_string()])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "ConnectTimeout=10",
            ])
            .arg(format!("{}@127.0.0.1", self.user.name))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// `true` when the real `ssh` client logs in with `key` (runs `true`).
    pub fn ssh_login_works(&self, key: &ClientKey) -> bool {
        self.ssh(key, "true").status.success()
    }
}
