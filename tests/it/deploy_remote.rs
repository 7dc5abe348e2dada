//! The remote authorized_keys writer against a real OpenSSH server, as a non-root login user
//! (cases AF-01, AF-02, AF-06, AF-07, AF-10).
//!
//! The content comes from the real managed-block engine (`authorized_keys::apply`); tests that
//! need to act between the read and the write pass it to [`sync_with`] themselves.

use crate::common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{ClientKey, KeyKind, TestHost, TestUser};
use testum::authorized_keys::{BEGIN_MARKER, END_MARKER, apply, managed_lines};
use testum::deploy::{
    SyncError, SyncOutcome, read_remote, sync_authorized_keys, sync_with, write_remote,
};
use testum::ssh::{Session, connect};

const AK: &str = ".ssh/authorized_keys";

/// Sync to exactly `desired`.
async fn sync(session: &Session, path: &str, desired: &[String]) -> Result<SyncOutcome, SyncError> {
    sync_authorized_keys(session, path, desired).await
}

/// Add `line` to whatever the managed block holds now (what a deploy of one more key does).
async fn add_line(session: &Session, path: &str, line: &str) -> Result<SyncOutcome, SyncError> {
    sync_with(session, path, |current| {
        let mut desired = managed_lines(current)?;
        if !desired.iter().any(|l| l == line) {
            desired.push(line.to_owned());
        }
        apply(current, &desired)
    })
    .await
}

/// A well-formed ed25519 key line, distinct per `n` (the engine checks the key data's shape).
fn key_line(n: usize, comment: &str) -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[n as u8; 32]);
    let data = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("ssh-ed25519 {data} {comment}")
}

async fn open(host: &TestHost) -> Session {
    connect(&host.password_params()).await.expect("connect")
}

fn temp_files(user: &TestUser, dir: &str) -> Vec<String> {
    user.list_dir(dir)
        .into_iter()
        .filter(|n| n.contains(".testum-"))
        .collect()
}

/// AF-02: a first deploy creates ~/.ssh 0700 and the file 0600 owned by the user, and the real
/// `ssh` client then logs in with the deployed key (sshd StrictModes accepts the result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_creates_ssh_dir_and_file_that_sshd_accepts() {
    let host = TestHost::start();
    assert!(!host.user.path(".ssh").exists());
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    assert!(!host.ssh_login_works(&key));

    let outcome = sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect("sync");
    assert!(outcome.changed);
    assert_eq!(outcome.added, vec![key.public_line.clone()]);
    assert_eq!(host.user.mode(".ssh"), 0o700);
    assert_eq!(host.user.mode(AK), 0o600);
    let meta = fs::metadata(host.user.path(AK)).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (host.user.uid, host.user.gid));
    assert_eq!(
        host.user.read_file(AK),
        format!("{BEGIN_MARKER}\n{}\n{END_MARKER}\n", key.public_line).into_bytes()
    );
    assert!(host.ssh_login_works(&key), "{}", host.sshd.log());
    assert!(temp_files(&host.user, ".ssh").is_empty());
    // And testum's own key login works with it.
    connect(&host.key_params(&key)).await.expect("key login");
}

/// Nothing desired and no file: nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_to_do_creates_nothing() {
    let host = TestHost::start();
    let session = open(&host).await;
    let outcome = sync(&session, AK, &[]).await.expect("sync");
    assert!(!outcome.changed);
    assert!(!host.user.path(".ssh").exists());
    assert_eq!(read_remote(&session, AK).await.expect("read").content, None);
}

/// Bytes outside the managed block survive byte for byte (BOM, CRLF, invalid UTF-8, no final
/// newline), and the read returns the exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmanaged_bytes_are_kept() {
    let host = TestHost::start();
    let original: &[u8] =
        b"\xef\xbb\xbf# my keys\r\nssh-ed25519 AAAAC3Nz odd   spacing\r\n\xff\xfe garbage\n\n  no-final-newline";
    host.user.write_file(AK, original, 0o600);
    let session = open(&host).await;
    assert_eq!(
        read_remote(&session, AK)
            .await
            .expect("read")
            .content
            .as_deref(),
        Some(original)
    );
    let key = ClientKey::generate(KeyKind::Ecdsa, None);
    sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect("sync");
    let now = host.user.read_file(AK);
    assert!(now.starts_with(original));
    assert_eq!(
        &now[original.len()..],
        format!("\n{BEGIN_MARKER}\n{}\n{END_MARKER}\n", key.public_line).as_bytes()
    );
}

/// Re-applying the same desired state does not touch the file (same inode, same mtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_is_idempotent_and_does_not_rewrite() {
    let host = TestHost::start();
    host.user
        .write_file(AK, b"ssh-ed25519 AAAA unmanaged\n", 0o600);
    let session = open(&host).await;
    let a = ClientKey::generate(KeyKind::Ed25519, None).public_line;
    let b = ClientKey::generate(KeyKind::Ed25519, None).public_line;
    let desired = vec![a.clone(), b.clone()];
    assert!(sync(&session, AK, &desired).await.expect("first").changed);
    let before = fs::metadata(host.user.path(AK)).expect("stat");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = sync(&session, AK, &desired).await.expect("second");
    assert!(!again.changed);
    let after = fs::metadata(host.user.path(AK)).expect("stat");
    assert_eq!(before.ino(), after.ino());
    assert_eq!(
        (before.mtime(), before.mtime_nsec()),
        (after.mtime(), after.mtime_nsec())
    );
    // Removing a key rewrites (new inode by rename) and keeps the unmanaged line.
    let removed = sync(&session, AK, std::slice::from_ref(&a))
        .await
        .expect("third");
    assert!(removed.changed);
    assert_eq!(removed.removed, vec![b]);
    let content = String::from_utf8(host.user.read_file(AK)).expect("utf8");
    assert!(content.starts_with("ssh-ed25519 AAAA unmanaged\n"));
    assert_ne!(
        fs::metadata(host.user.path(AK)).expect("stat").ino(),
        after.ino()
    );
}

/// AF-01: a symlinked authorized_keys (relative and absolute link targets) is written through;
/// the link survives, the target keeps its mode, and sshd accepts the key through the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinked_file_is_written_through() {
    let host = TestHost::start();
    let user = &host.user;
    user.mkdir(".ssh", 0o700);
    user.mkdir("keys", 0o755);
    user.write_file("keys/real_ak", b"# persistent keys\n", 0o644);
    std::os::unix::fs::symlink("../keys/real_ak", user.path(AK)).expect("symlink");
    user.chown(&user.path(AK));
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect("sync");
    let link = fs::symlink_metadata(user.path(AK)).expect("lstat");
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(
        fs::read_link(user.path(AK))
            .expect("readlink")
            .to_string_lossy(),
        "../keys/real_ak"
    );
    let target = String::from_utf8(user.read_file("keys/real_ak")).expect("utf8");
    assert!(target.starts_with("# persistent keys\n") && target.contains(&key.public_line));
    assert_eq!(user.mode("keys/real_ak"), 0o644);
    assert!(temp_files(user, "keys").is_empty() && temp_files(user, ".ssh").is_empty());
    assert!(host.ssh_login_works(&key), "{}", host.sshd.log());

    // Absolute link target, two levels of links, path given relative to $HOME.
    user.write_file("keys/abs_ak", b"", 0o600);
    std::os::unix::fs::symlink(user.path("keys/abs_ak"), user.path("keys/hop")).expect("symlink");
    std::os::unix::fs::symlink("keys/hop", user.path("ak_link")).expect("symlink");
    sync(&session, "ak_link", std::slice::from_ref(&key.public_line))
        .await
        .expect("sync abs");
    assert!(
        fs::symlink_metadata(user.path("ak_link"))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::symlink_metadata(user.path("keys/hop"))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert!(String::from_utf8_lossy(&user.read_file("keys/abs_ak")).contains(&key.public_line));
}

/// AF-02: an existing group-writable file is tightened (never loosened) and the group-writable
/// home is reported as a StrictModes problem instead of being chmod'ed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_modes_are_tightened_and_reported() {
    let host = TestHost::start();
    let user = &host.user;
    user.write_file(AK, b"", 0o664);
    fs::set_permissions(&user.home, fs::Permissions::from_mode(0o775)).expect("chmod home");
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let outcome = sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect("sync");
    assert_eq!(user.mode(AK), 0o644);
    assert_eq!(
        user.mode(""),
        0o775,
        "the home directory must not be chmod'ed"
    );
    let warnings = outcome.warnings.join("\n");
    assert!(
        warnings.contains("home directory") && warnings.contains("StrictModes"),
        "{warnings}"
    );
    assert!(warnings.contains("group- or world-writable"), "{warnings}");
    fs::set_permissions(&user.home, fs::Permissions::from_mode(0o755)).expect("chmod home");

    // A stricter existing mode is kept.
    user.write_file("strict_ak", b"", 0o400);
    sync(
        &session,
        "strict_ak",
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("sync 0400");
    assert_eq!(user.mode("strict_ak"), 0o400);
}

/// Absolute path whose directory does not exist: created 0700.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absolute_path_with_missing_directory() {
    let host = TestHost::start();
    let session = open(&host).await;
    let path = host.user.path("central/keys/authorized_keys");
    let key = ClientKey::generate(KeyKind::Rsa, None);
    sync(
        &session,
        &path.to_string_lossy(),
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("sync");
    assert_eq!(host.user.mode("central/keys"), 0o700);
    assert_eq!(host.user.mode("central/keys/authorized_keys"), 0o600);
}

/// AF-10 (permissions): ~/.ssh not writable by the login user: the sync fails with the reason,
/// the file is intact and no temporary file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_directory_fails_cleanly() {
    let host = TestHost::start();
    let original = b"ssh-ed25519 AAAA keep-me\n";
    host.user.write_file(AK, original, 0o600);
    fs::set_permissions(host.user.path(".ssh"), fs::Permissions::from_mode(0o500)).expect("chmod");
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect_err("must fail");
    let msg = err.to_string();
    eprintln!("read-only directory: {msg}");
    assert!(matches!(err, SyncError::Remote(_)), "{err:?}");
    assert!(msg.contains("Permission denied"), "{msg}");
    assert_eq!(host.user.read_file(AK), original);
    assert_eq!(
        host.user.list_dir(".ssh"),
        vec!["authorized_keys".to_owned()]
    );
}

/// AF-10 (filesystem): a read-only mount fails with "Read-only file system". Needs permission to
/// mount a tmpfs; reports and returns where that is impossible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_filesystem_fails_cleanly() {
    let mut host = TestHost::start();
    // CI runs as root on a machine that can mount a tmpfs; if it cannot, fail rather than skip.
    host.user
        .mount_tmpfs(".ssh", 256)
        .unwrap_or_else(|e| panic!("cannot mount a tmpfs for the read-only test: {e}"));
    let original = b"ssh-ed25519 AAAA keep-me\n";
    host.user.write_file(AK, original, 0o600);
    host.user.remount_ro(".ssh");
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = sync(&session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect_err("must fail");
    eprintln!("read-only filesystem: {err}");
    assert!(err.to_string().contains("Read-only file system"), "{err}");
    assert_eq!(host.user.read_file(AK), original);
    assert_eq!(
        host.user.list_dir(".ssh"),
        vec!["authorized_keys".to_owned()]
    );
    // An unchanged file still syncs fine (no write needed).
    let current = read_remote(&session, AK).await.expect("read");
    assert_eq!(current.content.as_deref(), Some(&original[..]));
}

/// AF-07: a full filesystem fails with "No space left on device", the file is byte-identical
/// and no temporary file is left. Needs permission to mount a tmpfs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_filesystem_fails_cleanly() {
    let mut host = TestHost::start();
    host.user
        .mount_tmpfs(".ssh", 64)
        .unwrap_or_else(|e| panic!("cannot mount a tmpfs for the disk-full test: {e}"));
    let original = b"ssh-ed25519 AAAA keep-me\n".repeat(8);
    host.user.write_file(AK, &original, 0o600);
    // Fill the filesystem.
    {
        use std::io::Write;
        let mut filler = fs::File::create(host.user.path(".ssh/filler")).expect("filler");
        let chunk = [b'x'; 1024];
        while filler.write_all(&chunk).is_ok() {}
        let _ = filler.flush();
    }
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let long = format!("{} {}", key.public_line, "c".repeat(4000));
    let err = sync(&session, AK, &[long]).await.expect_err("must fail");
    eprintln!("full filesystem: {err}");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert_eq!(host.user.read_file(AK), original);
    assert!(
        temp_files(&host.user, ".ssh").is_empty(),
        "{:?}",
        host.user.list_dir(".ssh")
    );
}

/// AF-06: an edit that lands between our read and our rename (a manual `>>` append) is detected
/// by the compare-and-swap; the sync is redone and the appended line is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edit_between_read_and_write_is_not_lost() {
    let host = TestHost::start();
    host.user.write_file(AK, b"ssh-ed25519 AAAA alice\n", 0o600);
    let session = open(&host).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None).public_line;
    let calls = AtomicUsize::new(0);
    let path = host.user.path(AK);
    let outcome = sync_with(&session, AK, |current| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            use std::io::Write;
            let mut f = fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("open");
            f.write_all(b"ssh-ed25519 AAAA dave\n").expect("append");
        }
        apply(current, std::slice::from_ref(&key))
    })
    .await
    .expect("sync");
    assert!(outcome.changed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the conflict must force a second round"
    );
    let content = String::from_utf8(host.user.read_file(AK)).expect("utf8");
    assert!(
        content.starts_with("ssh-ed25519 AAAA alice\nssh-ed25519 AAAA dave\n"),
        "{content}"
    );
    assert!(content.contains(&key));

    // The low-level write refuses a stale expectation and leaves no temporary file.
    let stale = write_remote(&session, AK, Some(b"something else"), b"new")
        .await
        .expect("write");
    assert_eq!(stale, testum::deploy::WriteResult::Conflict);
    let appeared = write_remote(&session, AK, None, b"new")
        .await
        .expect("write");
    assert_eq!(appeared, testum::deploy::WriteResult::Conflict);
    assert_eq!(host.user.read_file(AK), content.as_bytes());
    assert!(temp_files(&host.user, ".ssh").is_empty());
}

/// AF-06 stress: three deploys over three connections plus a manual append, all at once, for
/// several rounds: every line ends up in the file, and the file never disappears or empties.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_deploys_and_manual_append_lose_nothing() {
    let host = TestHost::start();
    host.user
        .write_file(AK, b"ssh-ed25519 AAAA existing\n", 0o600);
    let sessions = [open(&host).await, open(&host).await, open(&host).await];
    let manual = open(&host).await;
    let watcher_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = watcher_stop.clone();
        let path = host.user.path(AK);
        std::thread::spawn(move || {
            let mut bad = 0;
            while !stop.load(Ordering::SeqCst) {
                match fs::read(&path) {
                    Ok(c) if !c.is_empty() => {}
                    _ => bad += 1,
                }
            }
            bad
        })
    };
    let mut expected = vec!["ssh-ed25519 AAAA existing".to_owned()];
    for round in 0..4 {
        let keys: Vec<String> = (0..3)
            .map(|i| key_line(round * 3 + i, &format!("k{i}@r{round}")))
            .collect();
        let dave = format!("ssh-ed25519 AAAAdave{round} dave@r{round}");
        let append = format!("echo '{dave}' >> ~/{AK}");
        let (r0, r1, r2, m) = tokio::join!(
            add_line(&sessions[0], AK, &keys[0]),
            add_line(&sessions[1], AK, &keys[1]),
            add_line(&sessions[2], AK, &keys[2]),
            manual.exec_collect(&append, None, None),
        );
        for r in [r0, r1, r2] {
            r.expect("sync");
        }
        assert!(m.expect("append").status.success());
        expected.extend(keys);
        expected.push(dave);
    }
    watcher_stop.store(true, Ordering::SeqCst);
    assert_eq!(
        watcher.join().expect("watcher"),
        0,
        "file missing or empty at some point"
    );
    let content = String::from_utf8(host.user.read_file(AK)).expect("utf8");
    for line in &expected {
        assert!(content.contains(line.as_str()), "lost {line}:\n{content}");
    }
    assert!(temp_files(&host.user, ".ssh").is_empty());
}

/// The scripts run on a busybox userland (ash and busybox applets only, via sshd's `SetEnv
/// PATH`), and with bash as the login shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_with_busybox_userland_and_bash_login_shell() {
    let busybox = std::path::Path::new("/bin/busybox");
    common::sshd::ensure_tool("/bin/busybox", "busybox");
    let bin = tempfile::Builder::new()
        .prefix("testum-bb-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(bin.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = std::process::Command::new(busybox)
        .args(["--install", "-s"])
        .arg(bin.path())
        .output()
        .expect("busybox --install");
    assert!(out.status.success(), "{out:?}");
    let host = TestHost::start_with_config(&format!("SetEnv PATH={}", bin.path().display()));
    let session = open(&host).await;
    let probe = session
        .exec_collect(
            "readlink -f \"$(command -v sh)\"; readlink -f \"$(command -v dd)\"",
            None,
            None,
        )
        .await
        .expect("probe");
    let probe = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert!(
        probe.lines().all(|l| l.ends_with("busybox")),
        "not a busybox userland: {probe}"
    );
    exercise(&host, &session).await;

    let bash_host = TestHost {
        sshd: common::Sshd::start(),
        user: TestUser::create_with_shell("/bin/bash"),
    };
    let bash_session = open(&bash_host).await;
    exercise(&bash_host, &bash_session).await;
}

/// Create, update through a symlink, detect a conflict, and stay idempotent.
async fn exercise(host: &TestHost, session: &Session) {
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    sync(session, AK, std::slice::from_ref(&key.public_line))
        .await
        .expect("create");
    assert_eq!(host.user.mode(".ssh"), 0o700);
    assert_eq!(host.user.mode(AK), 0o600);
    assert!(host.ssh_login_works(&key), "{}", host.sshd.log());
    let before = fs::metadata(host.user.path(AK)).expect("stat").ino();
    assert!(
        !sync(session, AK, std::slice::from_ref(&key.public_line))
            .await
            .expect("idempotent")
            .changed
    );
    assert_eq!(
        fs::metadata(host.user.path(AK)).expect("stat").ino(),
        before
    );

    host.user.mkdir("keys", 0o755);
    host.user.write_file("keys/real", b"# real\n", 0o600);
    std::os::unix::fs::symlink("../keys/real", host.user.path(".ssh/linked")).expect("symlink");
    sync(
        session,
        ".ssh/linked",
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("through link");
    assert!(
        fs::symlink_metadata(host.user.path(".ssh/linked"))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    assert!(String::from_utf8_lossy(&host.user.read_file("keys/real")).contains(&key.public_line));

    let conflict = write_remote(session, AK, Some(b"stale"), b"x")
        .await
        .expect("write");
    assert_eq!(conflict, testum::deploy::WriteResult::Conflict);
    assert!(temp_files(&host.user, ".ssh").is_empty());
}

/// AF-05: a root-owned central key file (`/etc/ssh/keys/%u` style) that the login user may not
/// write: a clear permission error naming the directory, no fallback, nothing chmod'ed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_owned_central_file_is_not_touched() {
    let host = TestHost::start();
    let central = tempfile::Builder::new()
        .prefix("testum-central-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(central.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let keys = central.path().join("keys");
    fs::create_dir(&keys).expect("mkdir");
    fs::set_permissions(&keys, fs::Permissions::from_mode(0o755)).expect("chmod");
    let file = keys.join(&host.user.name);
    let original = b"ssh-ed25519 AAAA alice\n";
    fs::write(&file, original).expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).expect("chmod");
    let session = open(&host).await;
    let read = read_remote(&session, &file.to_string_lossy())
        .await
        .expect("read");
    assert_eq!(read.content.as_deref(), Some(&original[..]));
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = sync(&session, &file.to_string_lossy(), &[key.public_line])
        .await
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("Permission denied") && msg.contains(&keys.to_string_lossy().into_owned()),
        "{msg}"
    );
    assert_eq!(fs::read(&file).expect("read"), original);
    let mode = |p: &std::path::Path| fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
    assert_eq!((mode(&keys), mode(&file)), (0o755, 0o644));
    assert_eq!(fs::metadata(&file).expect("stat").uid(), 0);
    assert!(!host.user.path(".ssh").exists(), "no fallback to ~/.ssh");
}

/// An sshd that also lets root log in, with a key given through `AuthorizedKeysCommand` (root's
/// own authorized_keys files are left alone), and a throw-away user whose files root manages.
struct RootPlatform {
    host: TestHost,
    key: ClientKey,
    _keys_dir: tempfile::TempDir,
}

impl RootPlatform {
    fn start() -> RootPlatform {
        let keys_dir = tempfile::Builder::new()
            .prefix("testum-rootkeys-")
            .tempdir()
            .expect("tempdir");
        let key = ClientKey::generate(KeyKind::Ed25519, None);
        let keys = keys_dir.path().join("root_keys");
        fs::write(&keys, format!("{}\n", key.public_line)).expect("write keys");
        let cat = if std::path::Path::new("/usr/bin/cat").exists() {
            "/usr/bin/cat"
        } else {
            "/bin/cat"
        };
        let host = TestHost::start_with_config(&format!(
            "PermitRootLogin yes\nAllowUsers root\nAuthorizedKeysCommand {cat} {}\n\
             AuthorizedKeysCommandUser root",
            keys.display()
        ));
        RootPlatform {
            host,
            key,
            _keys_dir: keys_dir,
        }
    }

    async fn open_as_root(&self) -> Session {
        let mut params = self.host.key_params(&self.key);
        params.username = "root".into();
        connect(&params)
            .await
            .unwrap_or_else(|e| panic!("root login: {e}\n{}", self.host.sshd.log()))
    }

    /// The user's authorized_keys as root addresses it (absolute).
    fn user_ak(&self) -> String {
        self.host.user.path(AK).to_string_lossy().into_owned()
    }
}

/// Issue 13, finding 1: root manages a user's authorized_keys and the user replaced it with a
/// symlink to a file only root may write (a root-only directory under /root standing in for
/// `/root/.ssh/authorized_keys`, which the test must not risk). The deploy fails with the
/// reason, the root file is byte-identical, and the link is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_does_not_write_through_a_users_symlink() {
    let platform = RootPlatform::start();
    let user = &platform.host.user;
    let victim_dir = tempfile::Builder::new()
        .prefix("testum-victim-")
        .tempdir_in("/root")
        .expect("tempdir in /root");
    let victim = victim_dir.path().join("authorized_keys");
    let original = b"ssh-ed25519 AAAA root-only\n";
    fs::write(&victim, original).expect("write victim");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).expect("chmod");
    user.mkdir(".ssh", 0o700);
    std::os::unix::fs::symlink(&victim, user.path(AK)).expect("symlink");
    user.chown(&user.path(AK));

    let session = platform.open_as_root().await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = sync(&session, &platform.user_ak(), &[key.public_line])
        .await
        .expect_err("root must not follow the user's symlink");
    let msg = err.to_string();
    eprintln!("symlink to a root file: {msg}");
    assert!(matches!(err, SyncError::Remote(_)), "{err:?}");
    assert!(
        msg.contains(&victim_dir.path().to_string_lossy().into_owned())
            && msg.contains("belongs to uid 0")
            && msg.contains(&format!("not to uid {}", user.uid)),
        "{msg}"
    );
    assert_eq!(fs::read(&victim).expect("read victim"), original);
    assert_eq!(
        fs::read_dir(victim_dir.path()).expect("read_dir").count(),
        1,
        "nothing may be created next to the root file"
    );
    assert!(
        fs::symlink_metadata(user.path(AK))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
    // Reading through the link is refused too (a scan must not disclose root's files).
    let read = read_remote(&session, &platform.user_ak()).await;
    assert!(read.is_err(), "{read:?}");
}

/// Issue 13, finding 1: a group-writable ~/.ssh (sshd StrictModes ignores what is in it) is
/// refused when root writes for its owner; nothing is written and the modes stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_refuses_a_group_writable_ssh_directory() {
    let platform = RootPlatform::start();
    let user = &platform.host.user;
    let original = b"ssh-ed25519 AAAA alice\n";
    user.write_file(AK, original, 0o600);
    fs::set_permissions(user.path(".ssh"), fs::Permissions::from_mode(0o770)).expect("chmod");
    let session = platform.open_as_root().await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = sync(&session, &platform.user_ak(), &[key.public_line])
        .await
        .expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "{} is group- or world-writable",
            user.path(".ssh").display()
        )),
        "{msg}"
    );
    assert_eq!(user.read_file(AK), original);
    assert_eq!(user.mode(".ssh"), 0o770);
    assert_eq!(user.list_dir(".ssh"), vec!["authorized_keys".to_owned()]);
}

/// Issue 13, finding 1, the normal case: root creates a user's ~/.ssh and authorized_keys owned
/// by the user (0700 / 0600) and sshd accepts the key; a symlink that stays in the user's own
/// directories is still written through, as the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_writes_a_users_file_as_that_user() {
    let platform = RootPlatform::start();
    let user = &platform.host.user;
    assert!(!user.path(".ssh").exists());
    let session = platform.open_as_root().await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let outcome = sync(
        &session,
        &platform.user_ak(),
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("sync as root");
    assert!(outcome.changed);
    for (rel, mode) in [(".ssh", 0o700), (AK, 0o600), (".ssh/.testum.lock", 0o600)] {
        let meta = fs::symlink_metadata(user.path(rel)).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid), "{rel}");
        assert_eq!(user.mode(rel), mode, "{rel}");
    }
    assert!(
        platform.host.ssh_login_works(&key),
        "{}",
        platform.host.sshd.log()
    );

    // A link to another file of the user's own is followed, and the target stays the user's.
    user.mkdir("keys", 0o700);
    user.write_file("keys/real", b"# mine\n", 0o600);
    fs::remove_file(user.path(AK)).expect("rm");
    std::os::unix::fs::symlink("../keys/real", user.path(AK)).expect("symlink");
    user.chown(&user.path(AK));
    sync(
        &session,
        &platform.user_ak(),
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("sync through the user's own link");
    let target = String::from_utf8(user.read_file("keys/real")).expect("utf8");
    assert!(target.starts_with("# mine\n") && target.contains(&key.public_line));
    let meta = fs::metadata(user.path("keys/real")).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
    assert!(platform.host.ssh_login_works(&key));
}

/// Issue 13, finding 1: a login user other than root never reads or writes another user's file,
/// even one it could read: the target fails naming the owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_root_login_leaves_other_users_files_alone() {
    let host = TestHost::start();
    let other = TestUser::create();
    other.write_file("shared_ak", b"ssh-ed25519 AAAA other\n", 0o644);
    fs::set_permissions(&other.home, fs::Permissions::from_mode(0o755)).expect("chmod home");
    let session = open(&host).await;
    let path = other.path("shared_ak").to_string_lossy().into_owned();
    let err = read_remote(&session, &path)
        .await
        .expect_err("must refuse another user's file");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("belongs to uid {}", other.uid))
            && msg.contains("only when it logs in as root"),
        "{msg}"
    );
    assert_eq!(other.read_file("shared_ak"), b"ssh-ed25519 AAAA other\n");
}

/// Issue 13, finding 1: a central file owned by its user in a root-owned directory
/// (`AuthorizedKeysFile /etc/ssh/keys/%u` style) is still written by root, the owner kept: the
/// user owns the file but cannot touch its directory entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_writes_a_users_file_in_a_root_directory_as_root() {
    let platform = RootPlatform::start();
    let user = &platform.host.user;
    let central = tempfile::Builder::new()
        .prefix("testum-central-")
        .tempdir()
        .expect("tempdir");
    fs::set_permissions(central.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let file = central.path().join(&user.name);
    fs::write(&file, b"# alice's keys\n").expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    user.chown(&file);
    let session = platform.open_as_root().await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    sync(
        &session,
        &file.to_string_lossy(),
        std::slice::from_ref(&key.public_line),
    )
    .await
    .expect("sync");
    let content = String::from_utf8(fs::read(&file).expect("read")).expect("utf8");
    assert!(content.starts_with("# alice's keys\n") && content.contains(&key.public_line));
    let meta = fs::metadata(&file).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
}

/// A writer cut off between creating its temporary file and the rename (kill -9, a lost link:
/// its trap never runs) leaves the temporary file; the next write, under the lock, removes it.
/// Other files in the directory stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_files_left_by_a_cut_off_writer_are_removed_by_the_next_write() {
    let host = TestHost::start();
    let session = open(&host).await;
    sync(&session, AK, &[key_line(1, "first")])
        .await
        .expect("sync");
    for stale in [
        ".authorized_keys.testum-00000000deadbeef",
        ".authorized_keys.testum-00000000deadbeef.old",
    ] {
        host.user
            .write_file(&format!(".ssh/{stale}"), b"partial", 0o600);
    }
    host.user.write_file(".ssh/known_hosts", b"mine\n", 0o600);
    // Not a name testum gives its temporary files: someone's own backup stays.
    host.user
        .write_file(".ssh/.authorized_keys.testum-keepme.bak", b"mine\n", 0o600);
    let outcome = sync(&session, AK, &[key_line(2, "second")])
        .await
        .expect("sync");
    assert!(outcome.changed);
    assert_eq!(
        temp_files(&host.user, ".ssh"),
        vec![".authorized_keys.testum-keepme.bak"],
        "{:?}",
        host.user.list_dir(".ssh")
    );
    assert_eq!(host.user.read_file(".ssh/known_hosts"), b"mine\n");
}
