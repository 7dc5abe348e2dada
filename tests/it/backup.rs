//! `testum backup` and `testum restore` (the real binary): a backup taken while a task streams
//! output restores into a new data dir (or, on PostgreSQL, beside a database restored from
//! `pg_dump`), where a real deploy logs in with the restored credentials and archived output reads
//! back byte for byte; restore refuses a non-empty target, a wrong master key (naming both key
//! ids), a newer schema and a tampered archive, and `backup verify` finds the tampering; an
//! archive whose part was edited (an admin user added to the database) with its checksum
//! rewritten fails the manifest's MAC, as does one without a MAC; data after the tar's end or a
//! cut-off end is refused. SQLite, and PostgreSQL with `TESTUM_TEST_DATABASE_URL`.

use crate::app;
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use app::TestApp;
use common::{KeyKind, TestHost};
use serde_json::{Value, json};
use sha2::Digest as _;
use testum::crypto::MasterKey;
use testum::store::{AuditFilter, OutputLocation, PageRequest, PoolConfig, Store};

const PASSPHRASE: &str = "restore drill passphrase";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// The one line a refused command prints, after checking it failed.
fn refused(output: &Output) -> String {
    assert!(!output.status.success(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

/// Where a restore goes: a new data dir and, on PostgreSQL, a new database (filled from a
/// `pg_dump` of `app`'s database, as the README says).
struct Target {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Target {
    async fn new(app: &TestApp) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match &app.database_url {
            None => Store::sqlite_url(&dir.path().join("testum.db")),
            Some(source) => {
                let server = std::env::var("TESTUM_TEST_DATABASE_URL").unwrap();
                let target = app::new_postgres_database(&server).await;
                pg_copy(source, &target).await;
                target
            }
        };
        Target { dir, database_url }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `testum restore --from archive` into this target, with `env` added.
    async fn restore(&self, app: &TestApp, archive: &Path, env: &[(&str, &str)]) -> Output {
        let data_dir = self.data_dir();
        let mut all = vec![
            ("TESTUM_DATA_DIR", data_dir.to_str().unwrap()),
            ("TESTUM_DATABASE_URL", self.database_url.as_str()),
        ];
        all.extend_from_slice(env);
        app.admin_command(&["restore", "--from", archive.to_str().unwrap()], &all)
            .await
    }
}

/// `pg_dump --format=custom` of `source`, `pg_restore --no-owner` into `target`.
async fn pg_copy(source: &str, target: &str) {
    common::sshd::ensure_tool("/usr/bin/pg_dump", "postgresql-client");
    let dump = tempfile::NamedTempFile::new().unwrap();
    let dump_path = dump.path().to_str().unwrap().to_string();
    let (source, target) = (source.to_string(), target.to_string());
    tokio::task::spawn_blocking(move || {
        let dumped = std::process::Command::new("pg_dump")
            .args(["--format=custom", "--file", &dump_path, &source])
            .output()
            .unwrap();
        ok(&dumped);
        let restored = std::process::Command::new("pg_restore")
            .args(["--no-owner", "--dbname", &target, &dump_path])
            .output()
            .unwrap();
        ok(&restored);
    })
    .await
    .unwrap();
}

/// Wait (bounded: 30 s) until `task`'s output is archived in the object store.
async fn wait_archived(app: &TestApp, task: &str) {
    let id = task.parse().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let location = app.store().output_location(id).await.unwrap();
        if matches!(location, OutputLocation::Archived { .. }) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never archived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A service with one password platform on a real sshd and one finished `run_command` task with
/// output (archived to the data dir's task logs on SQLite): (app, host, platform, task).
async fn installation() -> (TestApp, TestHost, String, String) {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = app
        .add_password_platform(
            "web1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "seq 1 20000; printf 'no final newline \\001\\377'; echo err >&2"}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let task = task["id"].as_str().unwrap().to_string();
    wait_archived(&app, &task).await;
    (app, host, platform, task)
}

/// `testum backup --to <dir>/name` with `args` and `env`; the archive's path and the output.
async fn backup(
    app: &TestApp,
    dir: &Path,
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (PathBuf, Output) {
    let file = dir.join(name);
    let path = file.to_str().unwrap();
    let mut all = vec!["backup", "--to", path];
    all.extend_from_slice(args);
    let output = app.admin_command(&all, env).await;
    (file.clone(), output)
}

#[tokio::test]
async fn backup_while_output_streams_restores_credentials_and_output_byte_for_byte() {
    let (app, host, platform, finished) = installation().await;
    let before_stdout = app.raw_output(&finished, &platform, "stdout").await;
    let before_stderr = app.raw_output(&finished, &platform, "stderr").await;
    assert!(before_stdout.ends_with(b"no final newline \x01\xff"));

    // A task streams output while the backup runs.
    let streaming = app
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "for i in $(seq 1 100); do echo line $i; sleep 0.05; done"}),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !app
        .raw_output(&streaming, &platform, "stdout")
        .await
        .starts_with(b"line 1\n")
    {
        assert!(tokio::time::Instant::now() < deadline, "no output streamed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // On PostgreSQL the database is dumped first (then everything it references is in the archive).
    let target = Target::new(&app).await;
    let work = tempfile::tempdir().unwrap();
    let pass_file = work.path().join("backup-pass");
    std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    let (archive, made) = backup(
        &app,
        work.path(),
        "testum.tar",
        &["--include-master-key"],
        &[("TESTUM_BACKUP_PASSPHRASE_FILE", pass_file.to_str().unwrap())],
    )
    .await;
    let said = ok(&made);
    assert!(said.contains("included, sealed"), "{said}");
    if app.database_url.is_some() {
        assert!(said.contains("pg_dump"), "{said}");
    }
    app.wait_task(&streaming).await;
    assert!(!said.contains(" 0 task-log objects"), "{said}");

    let verified = ok(&verify(&app, &archive, &[]).await);
    assert!(
        verified.contains("intact (manifest MAC checked"),
        "{verified}"
    );
    let audit = app.get("/api/audit?action=backup.create").await;
    assert_eq!(audit["items"][0]["details"]["master_key_included"], true);

    // Restore into a new data dir, the master key from the archive.
    let restored = target
        .restore(&app, &archive, &[("TESTUM_BACKUP_PASSPHRASE", PASSPHRASE)])
        .await;
    let said = ok(&restored);
    assert!(said.contains("key file written"), "{said}");
    let key_file = target.data_dir().join("master.key");
    let original = MasterKey::load(&app.data_dir.path().join("master.key"))
        .unwrap()
        .unwrap();
    assert_eq!(
        MasterKey::load(&key_file).unwrap().unwrap().key_id(),
        original.key_id()
    );

    let (dir, url) = (target.data_dir(), target.database_url.clone());
    let after = TestApp::start_with(|config| {
        config.settings.data_dir = dir;
        config.settings.database_url = Some(url);
    })
    .await;
    assert_eq!(
        after.raw_output(&finished, &platform, "stdout").await,
        before_stdout
    );
    assert_eq!(
        after.raw_output(&finished, &platform, "stderr").await,
        before_stderr
    );
    // What the streaming task had written by the snapshot came along, exactly.
    let partial = after.raw_output(&streaming, &platform, "stdout").await;
    let whole = app.raw_output(&streaming, &platform, "stdout").await;
    assert!(whole.starts_with(&partial), "{}", text(&partial));
    // The restored credential logs in for a real deploy.
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = after.add_key("alice", &client.public_line).await;
    let task = after
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(host.ssh_login_works(&client));
    let audit: Value = after.get("/api/audit?action=backup.restore").await;
    assert_eq!(
        audit["items"][0]["details"]["master_key_id"],
        original.key_id()
    );
}

/// `archive` rewritten entry by entry with `edit(name, content)` applied to each, as a newer
/// testum or a tamperer would write it; `manifest.mac` is made again under `key` when given (a
/// writer holding the master key), dropped when `key` is `None` and `drop_mac`, and copied as it
/// was otherwise. The tar ends as the tar crate ends it.
fn rewrite(
    archive: &Path,
    out: &Path,
    key: Option<&MasterKey>,
    drop_mac: bool,
    edit: impl Fn(&str, &mut Vec<u8>),
) {
    let mut reader = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(out).unwrap());
    let mut manifest = Vec::new();
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        edit(&name, &mut bytes);
        if name == "manifest.json" {
            manifest = bytes.clone();
        }
        if name == "manifest.mac" {
            match key {
                Some(key) => bytes = testum::backup::manifest::mac(key, &manifest).into_bytes(),
                None if drop_mac => continue,
                None => {}
            }
        }
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        builder
            .append_data(&mut header, &name, bytes.as_slice())
            .unwrap();
    }
    builder.finish().unwrap();
}

/// `archive` rewritten with `change` applied to its manifest (JSON); its MAC made again under
/// `key` when given.
fn rewrite_manifest(
    archive: &Path,
    out: &Path,
    key: Option<&MasterKey>,
    change: impl Fn(&mut Value),
) {
    rewrite(archive, out, key, false, |name, bytes| {
        if name == "manifest.json" {
            let mut manifest: Value = serde_json::from_slice(bytes).unwrap();
            change(&mut manifest);
            *bytes = serde_json::to_vec(&manifest).unwrap();
        }
    });
}

/// The content of entry `name` of `archive`.
fn entry_bytes(archive: &Path, name: &str) -> Vec<u8> {
    let mut reader = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("no {name} in {}", archive.display());
}

/// `testum backup verify file` against `app`'s data dir, with `env` added.
async fn verify(app: &TestApp, file: &Path, env: &[(&str, &str)]) -> Output {
    app.admin_command(&["backup", "verify", file.to_str().unwrap()], env)
        .await
}

/// How many `backup.restore` events the database at `url` holds.
async fn restore_events(url: &str) -> usize {
    let store = Store::open_as_is(url, PoolConfig { max_connections: 1 })
        .await
        .unwrap();
    let filter = AuditFilter {
        action: Some("backup.restore".into()),
        ..AuditFilter::default()
    };
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let events = store.list_audit(&filter, &page).await.unwrap().items.len();
    store.close().await;
    events
}

/// The device number of the file system holding `path`.
fn device(path: &Path) -> u64 {
    std::os::unix::fs::MetadataExt::dev(&std::fs::metadata(path).unwrap())
}

/// Where the content of the archive's first entry starts in the file.
fn first_part_offset(archive: &Path) -> u64 {
    let mut reader = tar::Archive::new(std::fs::File::open(archive).unwrap());
    let first = reader.entries().unwrap().next().unwrap().unwrap();
    assert_ne!(first.path().unwrap().to_str(), Some("manifest.json"));
    first.raw_file_position()
}

#[tokio::test]
async fn restore_refuses_non_empty_target_wrong_key_newer_schema_and_tampering() {
    let (app, _host, _platform, _task) = installation().await;
    let target = Target::new(&app).await;
    let work = tempfile::tempdir().unwrap();
    let (plain, made) = backup(&app, work.path(), "plain.tar", &[], &[]).await;
    assert!(ok(&made).contains("not included"));
    let pass_env = [("TESTUM_BACKUP_PASSPHRASE", PASSPHRASE)];
    let (sealed, made) = backup(
        &app,
        work.path(),
        "sealed.tar",
        &["--include-master-key"],
        &pass_env,
    )
    .await;
    ok(&made);
    let original = MasterKey::load(&app.data_dir.path().join("master.key"))
        .unwrap()
        .unwrap();
    let key = original.to_base64();
    let key_env = [("TESTUM_MASTER_KEY", key.as_str())];

    // No key anywhere: the archive holds none.
    let no_key = refused(&target.restore(&app, &plain, &[]).await);
    assert!(no_key.contains(&original.key_id()), "{no_key}");
    // A wrong key: both key ids named.
    let other = MasterKey::generate();
    let wrong = refused(
        &target
            .restore(&app, &plain, &[("TESTUM_MASTER_KEY", &other.to_base64())])
            .await,
    );
    assert!(
        wrong.contains(&other.key_id()) && wrong.contains(&original.key_id()),
        "{wrong}"
    );
    // A wrong passphrase for the sealed key.
    let bad_pass = [("TESTUM_BACKUP_PASSPHRASE", "not the passphrase at all")];
    let wrong = refused(&target.restore(&app, &sealed, &bad_pass).await);
    assert!(wrong.contains("wrong backup passphrase"), "{wrong}");
    // A schema newer than this binary knows.
    let newer = work.path().join("newer.tar");
    rewrite_manifest(&plain, &newer, Some(&original), |m| {
        m["schema_version"] = json!(m["schema_version"].as_i64().unwrap() + 1)
    });
    let too_new = refused(&target.restore(&app, &newer, &key_env).await);
    assert!(too_new.contains("newer than this testum"), "{too_new}");
    // A manifest that does not match its parts: verify without the key finds the checksum
    // mismatch; with it, and restore, the MAC no longer matches the edited manifest.
    let tampered = work.path().join("tampered.tar");
    rewrite_manifest(&sealed, &tampered, None, |m| {
        m["parts"][0]["sha256"] = json!("0".repeat(64));
    });
    let keyless = tempfile::tempdir().unwrap();
    let no_key_env = [("TESTUM_DATA_DIR", keyless.path().to_str().unwrap())];
    let bad = refused(&verify(&app, &tampered, &no_key_env).await);
    assert!(bad.contains("checksum mismatch"), "{bad}");
    let bad = refused(&verify(&app, &tampered, &[]).await);
    assert!(bad.contains("MAC does not match"), "{bad}");
    let bad = refused(&target.restore(&app, &tampered, &key_env).await);
    assert!(bad.contains("MAC does not match"), "{bad}");
    // A byte flipped inside the first part.
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[first_part_offset(&sealed) as usize] ^= 0xff;
    let flipped = work.path().join("flipped.tar");
    std::fs::write(&flipped, bytes).unwrap();
    let bad = refused(&verify(&app, &flipped, &[]).await);
    assert!(bad.contains("checksum mismatch"), "{bad}");
    // Each refusal so far removed the data dir it had made.
    assert!(
        !target.data_dir().exists(),
        "a refused restore left its data dir"
    );
    // A part that cannot be moved into place (another file system: /dev/shm is its own mount):
    // the restore is all or nothing. On SQLite the database goes there (the task logs, moved
    // first, go back); on PostgreSQL the task logs do.
    let elsewhere = Path::new("/dev/shm").join(format!("testum-restore-{}", uuid::Uuid::new_v4()));
    assert_ne!(
        device(Path::new("/dev/shm")),
        device(target.dir.path()),
        "/dev/shm must be another file system than the temporary directory for this check"
    );
    let elsewhere_url = format!("file://{}", elsewhere.display());
    let elsewhere_db = Store::sqlite_url(&elsewhere);
    let cross = match app.database_url {
        None => [("TESTUM_DATABASE_URL", elsewhere_db.as_str())],
        Some(_) => [("TESTUM_OBJECT_STORE_URL", elsewhere_url.as_str())],
    };
    let env: Vec<_> = key_env.iter().chain(cross.iter()).copied().collect();
    let moved = refused(&target.restore(&app, &plain, &env).await);
    assert!(moved.contains("file system"), "{moved}");
    assert!(
        !target.data_dir().exists(),
        "a failed restore left {:?}",
        target.data_dir()
    );
    assert!(!elsewhere.exists(), "a failed restore left {elsewhere:?}");
    // ...and records no restore that did not happen (on PostgreSQL the database is the live one).
    if app.database_url.is_some() {
        assert_eq!(restore_events(&target.database_url).await, 0);
    }
    // A file that is no archive (here a private key given by mistake): one line, and none of the
    // file's content, which the tar reader's own messages would quote.
    let pem = work.path().join("tls-key.pem");
    let secret_line = "MC4CAQAwBQYDK2VwBCIEIHPsLrxWQY97NeFJ2eby5+I0kM8mA3UOgKdDciShig0v";
    std::fs::write(
        &pem,
        format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n-----END PRIVATE KEY-----\n")
            .repeat(8),
    )
    .unwrap();
    for output in [
        verify(&app, &pem, &[]).await,
        target.restore(&app, &pem, &key_env).await,
    ] {
        let not_tar = refused(&output);
        assert!(
            not_tar.contains("is not a testum backup archive"),
            "{not_tar}"
        );
        assert!(
            !not_tar.contains("PRIVATE KEY") && !not_tar.contains(&secret_line[..8]),
            "{not_tar}"
        );
    }
    // A data dir that holds anything but master.key.
    std::fs::create_dir_all(target.data_dir()).unwrap();
    std::fs::write(target.data_dir().join("stray"), b"x").unwrap();
    let busy = refused(&target.restore(&app, &plain, &key_env).await);
    assert!(busy.contains("not empty (it holds stray)"), "{busy}");
    std::fs::remove_file(target.data_dir().join("stray")).unwrap();
    // On SQLite, a write-ahead log left beside the database file (its database removed without
    // it): SQLite would replay it into the restored database as it opens.
    if app.database_url.is_none() {
        let db = Store::sqlite_file(&target.database_url).unwrap();
        let wal = PathBuf::from(format!("{}-wal", db.display()));
        std::fs::write(&wal, b"a stale log").unwrap();
        let stale = refused(&target.restore(&app, &plain, &key_env).await);
        assert!(stale.contains("testum.db-wal exists"), "{stale}");
        std::fs::remove_file(&wal).unwrap();
    }
    // Every refusal left the target untouched, so it restores now.
    assert!(
        std::fs::read_dir(target.data_dir())
            .unwrap()
            .next()
            .is_none(),
        "a refused restore left files behind"
    );
    // The key as a file (a systemd credential), as the README restores it.
    let key_file = work.path().join("master.key");
    std::fs::write(&key_file, key.as_bytes()).unwrap();
    let key_file_env = [("TESTUM_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    ok(&target.restore(&app, &plain, &key_file_env).await);
    assert_eq!(restore_events(&target.database_url).await, 1);
    // A database migrated by a newer testum is neither backed up nor touched.
    app.mark_migrated_by_newer_testum(99999).await;
    let (newer_db, made) = backup(&app, work.path(), "newer-db.tar", &[], &[]).await;
    assert!(refused(&made).contains("newer than this testum"));
    assert!(!newer_db.exists());
    if app.database_url.is_none() {
        let again = refused(&target.restore(&app, &plain, &key_env).await);
        assert!(again.contains("is not empty"), "{again}");
    }
}

#[tokio::test]
async fn an_archive_edited_with_its_checksums_rewritten_is_refused() {
    let (app, _host, _platform, _task) = installation().await;
    let target = Target::new(&app).await;
    let work = tempfile::tempdir().unwrap();
    let original = MasterKey::load(&app.data_dir.path().join("master.key"))
        .unwrap()
        .unwrap();
    let key = original.to_base64();
    let key_env = [("TESTUM_MASTER_KEY", key.as_str())];
    let (archive, made) = backup(&app, work.path(), "plain.tar", &[], &[]).await;
    ok(&made);
    // The intact archive: verify with the key (the data dir's) says the MAC was checked; without
    // one it says it was not.
    let said = ok(&verify(&app, &archive, &[]).await);
    assert!(said.contains("MAC checked"), "{said}");
    let keyless = tempfile::tempdir().unwrap();
    let no_key = [("TESTUM_DATA_DIR", keyless.path().to_str().unwrap())];
    let said = ok(&verify(&app, &archive, &no_key).await);
    assert!(said.contains("MAC NOT checked"), "{said}");

    // The attack: an admin user added to the database in the archive (on PostgreSQL, which has no
    // database part, the manifest's own facts edited), its size and SHA-256 rewritten.
    let edited = match app.database_url {
        None => {
            let db = work.path().join("extracted.db");
            std::fs::write(&db, entry_bytes(&archive, "testum.db")).unwrap();
            sqlx::any::install_default_drivers();
            let mut conn =
                <sqlx::AnyConnection as sqlx::Connection>::connect(&Store::sqlite_url(&db))
                    .await
                    .unwrap();
            sqlx::Executor::execute(
                &mut conn,
                "INSERT INTO users (id, username, password_hash, role, created_at) VALUES \
                 ('00000000-0000-4000-8000-000000000001', 'mallory', 'x', 'admin', \
                 '2026-01-01T00:00:00Z')",
            )
            .await
            .unwrap();
            sqlx::Connection::close(conn).await.unwrap();
            Some(std::fs::read(&db).unwrap())
        }
        Some(_) => None,
    };
    let forged = work.path().join("forged.tar");
    rewrite(&archive, &forged, None, false, |name, bytes| match name {
        "testum.db" => *bytes = edited.clone().unwrap(),
        "manifest.json" => {
            let mut manifest: Value = serde_json::from_slice(bytes).unwrap();
            if let Some(db) = &edited {
                let part = manifest["parts"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|p| p["name"] == "testum.db")
                    .unwrap();
                part["bytes"] = json!(db.len());
                part["sha256"] = json!(testum::crypto::hex(&sha2::Sha256::digest(db)));
            } else {
                manifest["counts"]["users"] =
                    json!(manifest["counts"]["users"].as_i64().unwrap() + 1);
            }
            *bytes = serde_json::to_vec(&manifest).unwrap();
        }
        _ => {}
    });
    // Checksums alone cannot tell, and verify says it checked only them...
    let said = ok(&verify(&app, &forged, &no_key).await);
    assert!(said.contains("MAC NOT checked"), "{said}");
    // ...with the key, verify and restore refuse, and the target stays empty.
    let bad = refused(&verify(&app, &forged, &[]).await);
    assert!(bad.contains("MAC does not match"), "{bad}");
    let bad = refused(&target.restore(&app, &forged, &key_env).await);
    assert!(bad.contains("MAC does not match"), "{bad}");
    assert!(!target.data_dir().exists());

    // An archive without a MAC (a tamperer cannot write one, so drops it): refused.
    let unsigned = work.path().join("unsigned.tar");
    rewrite(&archive, &unsigned, None, true, |_, _| {});
    let bad = refused(&target.restore(&app, &unsigned, &key_env).await);
    assert!(bad.contains("has no manifest.mac"), "{bad}");
    let bad = refused(&verify(&app, &unsigned, &[]).await);
    assert!(bad.contains("has no manifest.mac"), "{bad}");

    // A manifest carrying a terminal escape sequence (a clipboard write) in a field the refusal
    // would print: refused without echoing it, with or without the key.
    let escaped = work.path().join("escaped.tar");
    rewrite_manifest(&archive, &escaped, None, |m| {
        m["master_key_id"] = json!("\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}");
    });
    for output in [
        verify(&app, &escaped, &no_key).await,
        target.restore(&app, &escaped, &key_env).await,
    ] {
        let bad = refused(&output);
        assert!(
            bad.contains("control character") && !bad.contains('\u{1b}'),
            "{bad}"
        );
    }

    // Bytes after the MAC in its entry (no check reads them, as none read data after the
    // tar's end): refused, even without the key.
    let padded = work.path().join("padded-mac.tar");
    rewrite(&archive, &padded, None, false, |name, bytes| {
        if name == "manifest.mac" {
            bytes.extend_from_slice(&[b' '; 64]);
            bytes.extend_from_slice(b"unchecked bytes");
        }
    });
    let bad = refused(&verify(&app, &padded, &no_key).await);
    assert!(bad.contains("more than a MAC"), "{bad}");
    let bad = refused(&target.restore(&app, &padded, &key_env).await);
    assert!(bad.contains("more than a MAC"), "{bad}");

    // Data appended after the tar's end, or the end blocks cut off: verify and restore refuse.
    let bytes = std::fs::read(&archive).unwrap();
    let appended = work.path().join("appended.tar");
    std::fs::write(&appended, [&bytes[..], b"junk after the end"].concat()).unwrap();
    let cut = work.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() - 1024]).unwrap();
    for (file, why) in [
        (&appended, "data after the archive's end"),
        (&cut, "lacks the tar end blocks"),
    ] {
        let bad = refused(&verify(&app, file, &no_key).await);
        assert!(bad.contains(why), "{bad}");
        let bad = refused(&target.restore(&app, file, &key_env).await);
        assert!(bad.contains(why), "{bad}");
    }
    assert!(!target.data_dir().exists());

    // The untouched archive still restores.
    ok(&target.restore(&app, &archive, &key_env).await);
}

#[tokio::test]
async fn a_passphrase_without_include_master_key_is_an_error() {
    let app = app::TestApp::start().await;
    let work = tempfile::tempdir().unwrap();
    let (file, made) = backup(
        &app,
        work.path(),
        "x.tar",
        &[],
        &[("TESTUM_BACKUP_PASSPHRASE", PASSPHRASE)],
    )
    .await;
    let bad = refused(&made);
    assert!(bad.contains("--include-master-key"), "{bad}");
    assert!(!file.exists());
    // A passphrase file that is not there: the message names the setting that pointed to it.
    let missing = work.path().join("no-such-pass");
    let (file, made) = backup(
        &app,
        work.path(),
        "y.tar",
        &["--include-master-key"],
        &[("TESTUM_BACKUP_PASSPHRASE_FILE", missing.to_str().unwrap())],
    )
    .await;
    let bad = refused(&made);
    assert!(
        bad.contains("TESTUM_BACKUP_PASSPHRASE_FILE") && bad.contains("no-such-pass"),
        "{bad}"
    );
    assert!(!file.exists());
}
