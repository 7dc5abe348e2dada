//! `testum doctor` (the real binary) on a running installation: all checks pass on a healthy
//! one (leaving nothing in the object store), and each real fault (a wrong master key, an object store path that is a file, a database
//! from a newer testum, an unusable database URL, too little free disk) fails its own check, one
//! line each, exit status 1. SQLite, and PostgreSQL with `TESTUM_TEST_DATABASE_URL`.
//!
//! Not caused for real: a clock skew against PostgreSQL (it would mean setting the machine's
//! clock); the healthy run checks the skew is measured and within bounds. Too little free disk is
//! caused by raising `--min-free-mib` above what the disk has.

use crate::app;

use std::collections::BTreeMap;
use std::process::Output;

use app::TestApp;
use testum::crypto::MasterKey;

/// Run `testum doctor` with `args` and `env` against `app`: exit code and status by check name.
async fn doctor(
    app: &TestApp,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, BTreeMap<String, String>, Output) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    // On PostgreSQL the object store is opt-in: point it at the app's own directory.
    let logs = format!("file://{}", app.data_dir.path().join("task-logs").display());
    if app.database_url.is_some() && !env.iter().any(|(k, _)| *k == "TESTUM_OBJECT_STORE_URL") {
        env.push(("TESTUM_OBJECT_STORE_URL", &logs));
    }
    let out = app.admin_command(&all, &env).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut checks = BTreeMap::new();
    for line in stdout.lines() {
        let (status, rest) = line.split_once(' ').unwrap();
        let (name, _) = rest.trim_start().split_once(": ").unwrap();
        checks.insert(name.to_string(), format!("{status} {}", rest.trim_start()));
    }
    assert_eq!(checks.len(), 6, "one line per check: {stdout}");
    (out.status.code().unwrap(), checks, out)
}

fn status(checks: &BTreeMap<String, String>, name: &str) -> String {
    checks[name].split(' ').next().unwrap().to_string()
}

#[tokio::test]
async fn a_healthy_installation_passes_every_check() {
    let app = TestApp::start().await;
    let (code, checks, out) = doctor(&app, &[], &[]).await;
    assert_eq!(
        code,
        0,
        "{checks:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "configuration",
        "disk",
        "database",
        "master key",
        "object store",
    ] {
        assert_eq!(status(&checks, name), "ok", "{checks:?}");
    }
    assert!(checks["database"].contains("(current)"), "{checks:?}");
    assert!(
        checks["object store"].contains("written, read and deleted"),
        "{checks:?}"
    );
    // The probe left nothing in the store, not even the folder it was written in.
    let logs = app.data_dir.path().join("task-logs");
    let left: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!left.iter().any(|name| name == "doctor"), "{left:?}");
    match app.database_url {
        None => assert_eq!(status(&checks, "clock"), "skip", "{checks:?}"),
        Some(_) => assert_eq!(status(&checks, "clock"), "ok", "{checks:?}"),
    }
}

#[tokio::test]
async fn the_master_key_file_setting_is_the_key_in_force() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (right, wrong) = (dir.path().join("right"), dir.path().join("wrong"));
    std::fs::copy(app.data_dir.path().join("master.key"), &right).unwrap();
    std::fs::write(&wrong, MasterKey::generate().to_base64().as_bytes()).unwrap();
    for (file, code, outcome) in [(&right, 0, "ok"), (&wrong, 1, "FAIL")] {
        let env = [("TESTUM_MASTER_KEY_FILE", file.to_str().unwrap())];
        let (got, checks, _) = doctor(&app, &[], &env).await;
        assert_eq!(
            (got, status(&checks, "master key")),
            (code, outcome.to_string()),
            "{checks:?}"
        );
    }
}

#[tokio::test]
async fn each_broken_part_fails_its_own_check() {
    let app = TestApp::start().await;
    let original = MasterKey::load(&app.data_dir.path().join("master.key"))
        .unwrap()
        .unwrap();

    let other = MasterKey::generate();
    let other_text = other.to_base64();
    let (code, checks, _) = doctor(&app, &[], &[("TESTUM_MASTER_KEY", &other_text)]).await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "master key"), "FAIL", "{checks:?}");
    assert!(
        checks["master key"].contains(&other.key_id())
            && checks["master key"].contains(&original.key_id()),
        "{checks:?}"
    );
    assert_eq!(status(&checks, "database"), "ok", "{checks:?}");

    let (code, checks, _) = doctor(
        &app,
        &[],
        &[("TESTUM_OBJECT_STORE_URL", "file:///etc/hostname")],
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "object store"), "FAIL", "{checks:?}");
    assert_eq!(status(&checks, "master key"), "ok", "{checks:?}");

    // A store whose probe directory is taken by a file: the object store's error (which repeats
    // its cause in its own message) is told once.
    let blocked = tempfile::tempdir().unwrap();
    std::fs::write(blocked.path().join("doctor"), b"").unwrap();
    let blocked_url = format!("file://{}", blocked.path().display());
    let (code, checks, _) = doctor(&app, &[], &[("TESTUM_OBJECT_STORE_URL", &blocked_url)]).await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "object store"), "FAIL", "{checks:?}");
    assert_eq!(
        checks["object store"].matches("Not a directory").count(),
        1,
        "{checks:?}"
    );

    let (code, checks, _) = doctor(&app, &["--min-free-mib", "1000000000"], &[]).await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "disk"), "FAIL", "{checks:?}");

    let (code, checks, _) =
        doctor(&app, &[], &[("TESTUM_DATABASE_URL", "mysql://db/testum")]).await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "configuration"), "FAIL", "{checks:?}");
    assert_eq!(status(&checks, "database"), "skip", "{checks:?}");

    app.mark_migrated_by_newer_testum(99999).await;
    let (code, checks, out) = doctor(&app, &[], &[]).await;
    assert_eq!(code, 1);
    assert_eq!(status(&checks, "database"), "FAIL", "{checks:?}");
    assert!(checks["database"].contains("newer"), "{checks:?}");
    assert_eq!(status(&checks, "master key"), "skip", "{checks:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), "testum: 1 check(s) failed");
}
