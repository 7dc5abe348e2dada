//! `testum platforms import` and `testum keys import`: the real binary against a real service
//! (in-process TestApp). A refused row prints its line and field, exits 1 and imports nothing;
//! a good file prints counts and only the rows worth reading.

use crate::app;

use std::path::Path;
use std::process::{Command, Output};

use app::TestApp;
use serde_json::Value;

/// `testum ARGS` as the admin of `app` (`TESTUM_URL`, `TESTUM_TOKEN`), in `dir`.
async fn testum(app: &TestApp, dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
    command
        .env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("TESTUM_URL", &app.base)
        .env("TESTUM_TOKEN", &app.token)
        .current_dir(dir)
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("run testum"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn count(app: &TestApp, path: &str) -> usize {
    let page: Value = app.get(path).await;
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn platforms_import_refuses_by_line_then_imports_and_updates() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    let mut hosts = String::from("[web]\n");
    for i in 1..=50 {
        hosts.push_str(&format!("web{i} ansible_host=10.0.0.{i}\n"));
    }
    hosts.push_str("bad ansible_port=70000\n");
    std::fs::write(dir.path().join("hosts.ini"), &hosts).unwrap();
    let out = testum(
        &app,
        dir.path(),
        &[
            "platforms",
            "import",
            "hosts.ini",
            "--username",
            "ops",
            "--password-file",
            "pw",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(
            "dry run: 50 to create, 0 to update, 0 unchanged, 1 refused (ansible_ini)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 52  bad  refused  rows[52].port: must be a number"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().count(),
        2,
        "only the refused row is listed: {stdout}"
    );
    assert!(text(&out.stderr).contains("nothing was imported"));
    assert_eq!(count(&app, "/api/platforms").await, 0);

    // Without the bad row it imports; a second file updates one host and adds one.
    hosts.truncate(hosts.rfind("bad ").unwrap());
    std::fs::write(dir.path().join("hosts.ini"), &hosts).unwrap();
    let args = [
        "platforms",
        "import",
        "hosts.ini",
        "--username",
        "ops",
        "--password-file",
        "pw",
    ];
    let out = testum(&app, dir.path(), &args).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.trim(),
        "50 created, 0 updated, 0 unchanged, 0 refused (ansible_ini)"
    );
    std::fs::write(
        dir.path().join("more.csv"),
        "name,host,port\nweb1,10.0.9.1,2222\nnew,10.0.9.2,\n",
    )
    .unwrap();
    let out = testum(
        &app,
        dir.path(),
        &["platforms", "import", "more.csv", "--dry-run"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("dry run: 0 to create"),
        "the new row lacks a username: {stdout}"
    );
    assert!(
        stdout.contains("line 3  new  refused  rows[3].username"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2  web1  update  host, port"),
        "{stdout}"
    );
    // Creating needs a credential: the server says so, the CLI names the flags.
    let out = testum(
        &app,
        dir.path(),
        &["platforms", "import", "more.csv", "--username", "ops"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--password-file"),
        "{}",
        text(&out.stderr)
    );
    let out = testum(
        &app,
        dir.path(),
        &[
            "platforms",
            "import",
            "more.csv",
            "--username",
            "ops",
            "--password-file",
            "pw",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(count(&app, "/api/platforms?limit=500").await, 51);
    // A file whose format cannot be told is a usage error.
    std::fs::write(dir.path().join("mystery"), "hello\n").unwrap();
    let out = testum(&app, dir.path(), &["platforms", "import", "mystery"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--format"));
}

#[tokio::test]
async fn keys_import_reads_several_files_and_names_file_and_line() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (name, kind, bits) in [
        ("a", "ed25519", "256"),
        ("b", "ecdsa", "256"),
        ("weak", "rsa", "1024"),
    ] {
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-N",
                "",
                "-C",
                &format!("{name}@host"),
                "-t",
                kind,
                "-b",
                bits,
                "-f",
            ])
            .arg(dir.path().join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let b = std::fs::read_to_string(dir.path().join("b.pub")).unwrap();
    std::fs::write(
        dir.path().join("authorized_keys"),
        format!("# mine\ncommand=\"x\" {b}"),
    )
    .unwrap();
    let out = testum(
        &app,
        dir.path(),
        &[
            "keys",
            "import",
            "a.pub",
            "authorized_keys",
            "weak.pub",
            "--owner",
            "ops",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(
            "dry run: 2 to register, 0 already registered, 1 refused, 1 blank or comment lines"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("weak.pub:1  refused  the RSA key has 1024 bits"),
        "{stdout}"
    );
    assert!(stdout.contains("authorized_keys:2  create  create b@host: authorized_keys options ignored: command=\"x\""), "{stdout}");
    assert_eq!(count(&app, "/api/keys").await, 0);
    let out = testum(
        &app,
        dir.path(),
        &[
            "keys",
            "import",
            "a.pub",
            "authorized_keys",
            "--owner",
            "ops",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("2 registered, 0 already registered"),
        "{}",
        text(&out.stdout)
    );
    let keys: Value = app.get("/api/keys").await;
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["owner"] == "ops")
    );
}
