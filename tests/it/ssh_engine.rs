//! The SSH engine against a real OpenSSH server: authentication, host-key pinning, and command
//! execution (cases EX-01, EX-02, EX-04, EX-05, EX-07, EX-08, HK-01, HK-04).

use crate::common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ClientKey, KeyKind, Sshd, TestHost};
use testum::secret::Secret;
use testum::ssh::{
    self, Credential, ExitStatus, HostKeyPolicy, Session, SshError, Stream, connect,
    parse_private_key, sudo_hint,
};
use tokio::sync::mpsc;

/// Run a command, collect both streams with a small channel (exercising back-pressure).
async fn run(
    session: &Session,
    command: &str,
    stdin: Option<&[u8]>,
    timeout: Option<Duration>,
) -> (ExitStatus, Vec<u8>, Vec<u8>) {
    let (tx, mut rx) = mpsc::channel::<(Stream, Bytes)>(4);
    let gather = async {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some((stream, chunk)) = rx.recv().await {
            match stream {
                Stream::Stdout => out.extend_from_slice(&chunk),
                Stream::Stderr => err.extend_from_slice(&chunk),
            }
        }
        (out, err)
    };
    let (status, (out, err)) = tokio::join!(session.exec(command, stdin, timeout, tx), gather);
    (status.expect("exec"), out, err)
}

async fn password_session(host: &TestHost) -> Session {
    connect(&host.password_params()).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_auth_keeps_streams_apart_and_reports_the_host_key() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    // Default preference is ed25519; the fingerprint matches `ssh-keygen -lf`.
    assert_eq!(session.host_key, host.sshd.host_key("ed25519"));
    let (status, out, err) = run(&session, "echo out; echo err >&2; exit 3", None, None).await;
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\n");
    assert_eq!(status.code, Some(3));
    assert!(!status.success());
    let (status, out, _) = run(&session, "id -un", None, None).await;
    assert!(status.success());
    assert_eq!(String::from_utf8_lossy(&out).trim(), host.user.name);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_auth_failed_and_secret_free() {
    let host = TestHost::start();
    let mut params = host.password_params();
    params.credential = Credential::Password(Secret::new("not-the-password-XYZZY"));
    let err = connect(&params).await.expect_err("must fail");
    assert!(matches!(err, SshError::AuthFailed), "{err:?}");
    let shown = format!("{err} {err:?} {params:?}");
    assert!(!shown.contains("XYZZY"), "{shown}");
    assert!(!shown.contains(&host.user.password), "{shown}");
}

async fn key_login(kind: KeyKind, extra_config: &str) -> (TestHost, ClientKey) {
    let host = TestHost::start_with_config(extra_config);
    let key = host.authorized_key(kind);
    let session = connect(&host.key_params(&key)).await.expect("key login");
    let (status, out, _) = run(&session, "echo ok", None, None).await;
    assert!(status.success());
    assert_eq!(out, b"ok\n");
    (host, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_ed25519() {
    key_login(KeyKind::Ed25519, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_ecdsa() {
    key_login(KeyKind::Ecdsa, "").await;
}

/// Regression (a `make test` run failed here): about one `ssh-keygen -t ecdsa` key in 256 has a
/// private scalar with a leading zero, which OpenSSH writes as a 31-byte mpint and the ssh-key
/// crate refuses. testum must still log in with such a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_ecdsa_with_a_short_private_scalar() {
    let key = (0..5000)
        .map(|_| ClientKey::generate(KeyKind::Ecdsa, None))
        .find(|key| russh::keys::decode_secret_key(&key.private_pem, None).is_err())
        .expect("no refused key in 5000: if ssh-key now parses them all, drop ssh::short_scalar");
    let host = TestHost::start();
    host.user.authorize(&key);
    let session = connect(&host.key_params(&key)).await.expect("key login");
    let (status, out, _) = run(&session, "echo ok", None, None).await;
    assert!(status.success());
    assert_eq!(out, b"ok\n");
}

/// HK-01: with `PubkeyAcceptedAlgorithms -ssh-rsa` an RSA key only works with rsa-sha2-*.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_auth_rsa_uses_sha2() {
    let (host, _) = key_login(KeyKind::Rsa, "PubkeyAcceptedAlgorithms -ssh-rsa").await;
    let log = host.sshd.log();
    assert!(
        log.contains("Accepted publickey") && log.contains("RSA SHA256:"),
        "{log}"
    );
    assert!(
        log.contains("rsa-sha2-512") || log.contains("rsa-sha2-256"),
        "server log shows no SHA-2 RSA signature:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_with_passphrase() {
    let host = TestHost::start();
    let key = ClientKey::generate(KeyKind::Ed25519, Some("correct horse battery"));
    host.user.authorize(&key);
    assert!(parse_private_key(&key.private_pem, Some("correct horse battery")).is_ok());

    let session = connect(&host.key_params(&key)).await.expect("login");
    let (status, _, _) = run(&session, "true", None, None).await;
    assert!(status.success());

    // Wrong or missing passphrase: a key error before any network traffic, without secrets.
    let wrong = parse_private_key(&key.private_pem, Some("Tr0ub4dor&3")).expect_err("wrong");
    assert!(wrong.to_string().contains("wrong passphrase"), "{wrong}");
    assert!(!wrong.to_string().contains("Tr0ub4dor"));
    let missing = parse_private_key(&key.private_pem, None).expect_err("missing");
    assert!(
        missing.to_string().contains("passphrase is required"),
        "{missing}"
    );
    let mut params = host.key_params(&key);
    params.credential = Credential::PrivateKey {
        private_key: Secret::new(key.private_pem.clone()),
        passphrase: Some(Secret::new("Tr0ub4dor&3")),
    };
    let err = connect(&params).await.expect_err("wrong passphrase");
    assert!(matches!(err, SshError::PrivateKey(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("PRIVATE KEY"));

    let public = ssh::private_key_public_line(&key.private_pem, key.passphrase.as_deref())
        .expect("public line");
    assert!(key.public_line.starts_with(&public), "{public}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_key_is_auth_failed() {
    let host = TestHost::start();
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let err = connect(&host.key_params(&key))
        .await
        .expect_err("not authorized");
    assert!(matches!(err, SshError::AuthFailed), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_key_change_is_refused_with_both_fingerprints() {
    let mut host = TestHost::start();
    let first = password_session(&host).await.host_key;
    let mut params = host.password_params();
    params.pinned = Some(first.clone());
    connect(&params).await.expect("pinned key accepted");

    host.sshd.restart_with_new_host_keys();
    let new = host.sshd.host_key("ed25519");
    assert_ne!(new.fingerprint, first.fingerprint);
    let err = connect(&params).await.expect_err("changed key refused");
    match &err {
        SshError::HostKeyMismatch { pinned, presented } => {
            assert_eq!(pinned, &first.fingerprint);
            assert_eq!(presented, &new);
        }
        other => panic!("expected HostKeyMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&first.fingerprint) && msg.contains(&new.fingerprint),
        "{msg}"
    );
    // Same under strict.
    params.policy = HostKeyPolicy::Strict;
    assert!(matches!(
        connect(&params).await,
        Err(SshError::HostKeyMismatch { .. })
    ));
    // The refusal happens before authentication: the server never saw a password attempt.
    assert!(
        !host.sshd.log().contains("Failed password"),
        "{}",
        host.sshd.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_without_pin_is_refused_and_with_pin_accepted() {
    let host = TestHost::start();
    let mut params = host.password_params();
    params.policy = HostKeyPolicy::Strict;
    let err = connect(&params).await.expect_err("strict without pin");
    match err {
        SshError::HostKeyNotPinned { presented } => {
            assert_eq!(presented, host.sshd.host_key("ed25519"));
        }
        other => panic!("expected HostKeyNotPinned, got {other:?}"),
    }
    params.pinned = Some(host.sshd.host_key("ed25519"));
    connect(&params).await.expect("strict with pin");
}

/// STACK.md: the presented key depends on the negotiated algorithm. A pin of another type than
/// the default makes the server present that type; RSA is recorded as `ssh-rsa` (HK-01).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_key_type_is_negotiated() {
    let host = TestHost::start();
    for kind in ["ecdsa", "rsa", "ed25519"] {
        let mut params = host.password_params();
        params.policy = HostKeyPolicy::Strict;
        params.pinned = Some(host.sshd.host_key(kind));
        let session = connect(&params)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(session.host_key, host.sshd.host_key(kind));
    }
    assert_eq!(host.sshd.host_key("rsa").key_type, "ssh-rsa");
}

/// HK-01 host side: the server only signs with rsa-sha2-512/256; the pin is the blob's SHA256 and
/// the type `ssh-rsa`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_only_host_key_algorithms() {
    let host = TestHost::start_with_config("HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256");
    let session = password_session(&host).await;
    assert_eq!(session.host_key, host.sshd.host_key("rsa"));
    assert_eq!(session.host_key.key_type, "ssh-rsa");
}

/// HK-04: pins are per (host, port); the key of one server never validates another port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_of_one_port_does_not_validate_another() {
    let host = TestHost::start();
    let other = Sshd::start();
    let mut params = host.password_params();
    params.pinned = Some(host.sshd.host_key("ed25519"));
    connect(&params).await.expect("own port");
    params.port = other.port();
    let err = connect(&params).await.expect_err("other port");
    assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_errors_and_timeout() {
    // Nothing listens: a fast connection error.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = probe.local_addr().expect("addr").port();
    drop(probe);
    let host_params = |port| ssh::ConnectParams {
        host: "127.0.0.1".into(),
        port,
        username: "nobody".into(),
        credential: Credential::Password(Secret::new("x")),
        policy: HostKeyPolicy::Tofu,
        pinned: None,
        connect_timeout: Duration::from_secs(1),
        keepalive_interval: Duration::from_secs(5),
    };
    let err = connect(&host_params(port)).await.expect_err("refused");
    assert!(matches!(err, SshError::Connect(_)), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // A listener that never sends a banner: the connect timeout fires.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let started = Instant::now();
    let err = connect(&host_params(port)).await.expect_err("timeout");
    assert!(matches!(err, SshError::ConnectTimeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

/// EX-01: stdin is sent then closed; without stdin, EOF at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_then_eof() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let input = b"Line1\nLine2\nLine3\n";
    let limit = Some(Duration::from_secs(20));

    let started = Instant::now();
    let (status, out, _) = run(&session, "cat", Some(input), limit).await;
    assert_eq!((status.code, out.as_slice()), (Some(0), &input[..]));
    let (status, out, _) = run(&session, "sort -r", Some(input), limit).await;
    assert_eq!(
        (status.code, out.as_slice()),
        (Some(0), &b"Line3\nLine2\nLine1\n"[..])
    );
    let (status, out, _) = run(&session, "cat", None, limit).await;
    assert_eq!((status.code, out.len()), (Some(0), 0));
    assert!(!status.timed_out);
    assert!(started.elapsed() < Duration::from_secs(10));

    let mib = vec![0u8; 1 << 20];
    let (status, out, _) = run(&session, "wc -c", Some(&mib), limit).await;
    assert_eq!(status.code, Some(0));
    assert_eq!(String::from_utf8_lossy(&out).trim(), "1048576");
    // Echoed back while still writing: reading and writing run together.
    let (status, out, _) = run(&session, "cat", Some(&mib), limit).await;
    assert_eq!((status.code, out.len()), (Some(0), 1 << 20));
}

/// EX-02: 10 MiB on each stream at once, and 2 million lines; consumer channel of 4 chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_on_both_streams() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let limit = Some(Duration::from_secs(120));
    let cmd = "bash -c 'head -c 10485760 /dev/zero | tr \"\\0\" o & head -c 10485760 /dev/zero | tr \"\\0\" e >&2; wait'";
    let (status, out, err) = run(&session, cmd, None, limit).await;
    assert_eq!(status.code, Some(0));
    assert_eq!(out.len(), 10_485_760);
    assert_eq!(err.len(), 10_485_760);
    assert!(out.iter().all(|&b| b == b'o'));
    assert!(err.iter().all(|&b| b == b'e'));

    let (status, out, _) = run(&session, "seq 1 2000000", None, limit).await;
    assert_eq!(status.code, Some(0));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2_000_000);
    assert!(out.ends_with(b"\n2000000\n"));
}

/// EX-04: raw bytes, exactly; exit status 3 despite invalid UTF-8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_utf8_output_is_byte_exact() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let cmd = r"printf 'caf\351 na\357ve \377\376 end\n'; printf 'stderr \200\n' >&2; exit 3";
    let (status, out, err) = run(&session, cmd, None, None).await;
    assert_eq!(out, b"caf\xe9 na\xefve \xff\xfe end\n");
    assert_eq!(err, b"stderr \x80\n");
    assert_eq!(status.code, Some(3));
}

/// EX-05: exit-status versus exit-signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_and_signal() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let (s, _, _) = run(&session, "exit 0", None, None).await;
    assert_eq!((s.code, s.signal.as_deref()), (Some(0), None));
    let (s, _, _) = run(&session, "exit 255", None, None).await;
    assert_eq!((s.code, s.compat_code()), (Some(255), Some(255)));
    let (s, _, _) = run(&session, "kill -TERM $$", None, None).await;
    assert_eq!((s.code, s.signal.as_deref()), (None, Some("TERM")));
    assert_eq!(s.compat_code(), Some(143));
    assert!(!s.success());
    let (s, _, _) = run(&session, "kill -KILL $$", None, None).await;
    assert_eq!(s.signal.as_deref(), Some("KILL"));
    assert_eq!(s.compat_code(), Some(137));
    let (s, _, _) = run(&session, "sh -c 'ulimit -c 0; kill -SEGV $$'", None, None).await;
    assert!(
        s.code == Some(139) || s.signal.as_deref() == Some("SEGV"),
        "SEGV: {s:?}"
    );
    assert!(!s.success());
    assert_eq!(s.compat_code(), Some(139));
}

/// EX-07: on timeout the remote command is really ended (TERM to its process group), not just
/// abandoned: the marker never appears and no `sleep` of the user survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_remote_process() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let started = Instant::now();
    let (status, _, _) = run(
        &session,
        "rm -f ~/ex07-marker; sleep 5; touch ~/ex07-marker",
        None,
        Some(Duration::from_secs(1)),
    )
    .await;
    let took = started.elapsed();
    assert!(status.timed_out, "{status:?}");
    assert!(status.terminated, "remote end not confirmed: {status:?}");
    assert!(!status.success());
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // The mechanism is the RFC 4254 `signal` request, delivered with killpg by OpenSSH.
    let log = host.sshd.log();
    assert!(log.contains("signal TERM, killpg"), "{log}");

    // Wait until the command would have finished, then check on the host.
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(started.elapsed())).await;
    assert!(!host.user.path("ex07-marker").exists(), "marker created");
    let (check, out, _) = run(
        &session,
        &format!(
            "test ! -e ~/ex07-marker && {}",
            no_live_sleep(&host.user.name)
        ),
        None,
        None,
    )
    .await;
    assert_eq!(
        check.code,
        Some(0),
        "left behind: {}",
        String::from_utf8_lossy(&out)
    );
}

/// A shell check that no live (non-zombie) `sleep` of `user` exists. Zombies are dead processes
/// whose parent is gone; a container's PID 1 may never reap them.
fn no_live_sleep(user: &str) -> String {
    format!("! ps -u {user} -o stat=,comm= | grep -v '^Z' | grep -q sleep")
}

/// A command that ignores TERM is killed with KILL after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_escalates_to_kill() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let (status, _, _) = run(
        &session,
        "trap '' TERM; sleep 30",
        None,
        Some(Duration::from_millis(500)),
    )
    .await;
    assert!(status.timed_out && status.terminated, "{status:?}");
    // KILL went to the whole process group; the shell's end is what testum saw, and its `sleep`
    // dies at the same moment but may take a moment longer to leave the process table.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (check, _, _) = run(&session, &no_live_sleep(&host.user.name), None, None).await;
        if check.code == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the ignored-TERM sleep survived KILL"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Several commands at once on one connection; a dropped consumer does not hang the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_execs_and_dropped_consumer() {
    let host = TestHost::start();
    let session = password_session(&host).await;
    let (a, b, c) = tokio::join!(
        run(&session, "sleep 1; echo a", None, None),
        run(&session, "sleep 1; echo b", None, None),
        run(&session, "sleep 1; echo c", None, None),
    );
    assert_eq!(
        (a.1, b.1, c.1),
        (b"a\n".to_vec(), b"b\n".to_vec(), b"c\n".to_vec())
    );

    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let status = session
        .exec("seq 1 100000", None, Some(Duration::from_secs(30)), tx)
        .await
        .expect("exec");
    assert_eq!(status.code, Some(0));
    let out = session
        .exec_collect("printf x; printf y >&2", None, None)
        .await
        .expect("collect");
    assert_eq!((out.stdout, out.stderr), (b"x".to_vec(), b"y".to_vec()));
}

/// EX-08: non-interactive `sudo -n` fails fast with a message testum recognises, both under
/// `requiretty` and when a password would be needed. Needs `sudo` on the test machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_failures_are_fast_and_recognised() {
    common::sshd::ensure_tool("/usr/bin/sudo", "sudo");
    let host = TestHost::start();
    let session = password_session(&host).await;
    let sudoers = std::path::PathBuf::from(format!("/etc/sudoers.d/{}", host.user.name));
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _guard = Remove(sudoers.clone());
    let write = |content: String| {
        std::fs::write(&sudoers, content).expect("write sudoers");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sudoers, std::fs::Permissions::from_mode(0o440)).expect("chmod");
    };
    let user = host.user.name.clone();
    let limit = Some(Duration::from_secs(5));

    write(format!(
        "Defaults:{user} requiretty\n{user} ALL=(ALL) ALL\n"
    ));
    let started = Instant::now();
    let (status, _, err) = run(&session, "sudo -n true", None, limit).await;
    assert_eq!(status.code, Some(1), "{}", String::from_utf8_lossy(&err));
    assert!(!status.timed_out && started.elapsed() < Duration::from_secs(5));
    assert!(
        sudo_hint(&err).is_some_and(|h| h.contains("TTY")),
        "{}",
        String::from_utf8_lossy(&err)
    );

    write(format!("{user} ALL=(ALL) ALL\n"));
    let (status, _, err) = run(&session, "sudo -n true", None, limit).await;
    assert_eq!(status.code, Some(1));
    assert!(
        sudo_hint(&err).is_some_and(|h| h.contains("password")),
        "{}",
        String::from_utf8_lossy(&err)
    );

    // With a password: sent on stdin to `sudo -S -p ''`, never on the command line.
    let password = host.user.password.clone();
    let stdin = format!("{password}\n");
    let (status, out, err) = run(
        &session,
        "sudo -S -p '' id -u",
        Some(stdin.as_bytes()),
        limit,
    )
    .await;
    assert_eq!(status.code, Some(0), "{}", String::from_utf8_lossy(&err));
    assert_eq!(out, b"0\n");
    assert!(!String::from_utf8_lossy(&err).contains(&password));
}

/// HK-02 (partly): a server that accepts RSA user keys only as `ssh-rsa` (SHA-1). A real pre-7.2
/// OpenSSH cannot be started here; OpenSSH 9.2 restricted to `PubkeyAcceptedAlgorithms ssh-rsa`
/// stands in. testum never falls back to SHA-1: the login fails with an error instead of a
/// silent downgrade, and the server never sees an `ssh-rsa` signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_key_never_downgrades_to_sha1() {
    let host = TestHost::start_with_config("PubkeyAcceptedAlgorithms ssh-rsa");
    let key = host.authorized_key(KeyKind::Rsa);
    let err = connect(&host.key_params(&key)).await.expect_err("no SHA-1");
    assert!(
        matches!(
            err,
            SshError::AuthFailed | SshError::UnsupportedAlgorithm(_)
        ),
        "{err:?}"
    );
    let log = host.sshd.log();
    assert!(!log.contains("Accepted publickey"), "{log}");
    assert!(
        log.contains("signature algorithm rsa-sha2-512 not in PubkeyAcceptedAlgorithms"),
        "{log}"
    );
    assert!(!log.contains("signature algorithm ssh-rsa"), "{log}");
}

/// OpenSSH refuses `signal` requests for root logins ("session signalling requires privilege
/// separation"), and fleets are often managed as root: the timeout must still end the command,
/// through the process group the wrapper reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_ends_the_command_of_a_root_login_too() {
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let keys_dir = tempfile::tempdir().unwrap();
    let keys_file = keys_dir.path().join("root_authorized_keys");
    std::fs::write(&keys_file, format!("{}\n", key.public_line)).unwrap();
    // Earlier keywords win in sshd_config: root may log in, with keys from our own file only.
    let sshd = Sshd::start_with_config(&format!(
        "PermitRootLogin prohibit-password\nAllowUsers root\nAuthorizedKeysFile {}\nStrictModes no",
        keys_file.display()
    ));
    let params = ssh::ConnectParams {
        host: "127.0.0.1".into(),
        port: sshd.port(),
        username: "root".into(),
        credential: key.credential(),
        policy: HostKeyPolicy::Tofu,
        pinned: None,
        connect_timeout: Duration::from_secs(10),
        keepalive_interval: Duration::from_secs(5),
    };
    let session = connect(&params).await.expect("root login");
    let marker = format!("testum-root-timeout-{}", std::process::id());
    let (status, _, err) = run(
        &session,
        &format!("exec sleep 300 # {marker}"),
        None,
        Some(Duration::from_secs(1)),
    )
    .await;
    assert!(status.timed_out && status.terminated, "{status:?}");
    // (This test sshd logs at DEBUG1, which root sessions echo on stderr; only our line must go.)
    let err = String::from_utf8_lossy(&err);
    assert!(
        !err.contains("testum-pgid"),
        "the wrapper's line leaked: {err:?}"
    );
    assert!(
        sshd.log()
            .contains("session signalling requires privilege separation"),
        "this sshd honoured the signal request, so the test proves nothing: {}",
        sshd.log()
    );
    let left = std::process::Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the root command survived its timeout"
    );
}
