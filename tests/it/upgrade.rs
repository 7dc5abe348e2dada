//! Upgrades: a database at the previous schema version, with rows in every table, is migrated by
//! this binary with nothing lost (every row of every old column reads back the same); a database
//! written by a newer testum is refused at start with one line, untouched; a failed migration
//! leaves nothing of itself behind (one transaction per migration). SQLite, and PostgreSQL with
//! `TESTUM_TEST_DATABASE_URL`.
//!
//! When a migration adds a table, the "every table has rows" check fails here until the test
//! inserts a row into it at the version before: that is on purpose.

use crate::app;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row as _};
use testum::store::{Backend, PoolConfig, Store, StoreError, table_counts};

/// A fresh database for one test: its URL, and the temporary dir holding it on SQLite.
async fn database() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match app::test_database_url().await {
        Some(url) => url,
        None => format!("{}?mode=rwc", Store::sqlite_url(&dir.path().join("t.db"))),
    };
    (url, dir)
}

async fn pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap()
}

/// Rows at the schema version before the last (the last, 0020_user_source, adds the columns
/// `users.source`, `local` for every existing user, and `users.subject`, NULL for them; 0019_grants
/// added `user_groups`, `group_members` and `grants`; 0018_totp added `users.require_totp` with a
/// default and the two-factor tables; 0017_target_error_reason a column that stays NULL for these
/// targets): one or more in every table, with bytes that are not UTF-8 where the column holds
/// bytes. Columns are named where later migrations add some with defaults.
const ROWS: &[&str] = &[
    "INSERT INTO users (id, username, password_hash, role, disabled, created_at)
     VALUES ('00000000-0000-4000-8000-000000000001', 'admin',
       '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', 'admin', 0,
       '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO user_groups (id, name, source, created_at)
     VALUES ('00000000-0000-4000-8000-00000000000c', 'web-team', 'local',
       '2026-01-01T00:00:15.000000Z')",
    "INSERT INTO group_members (group_id, user_id, created_at)
     VALUES ('00000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001',
       '2026-01-01T00:00:16.000000Z')",
    "INSERT INTO grants (id, user_id, group_id, role, selector, created_by, created_at)
     VALUES ('00000000-0000-4000-8000-00000000000d', NULL, '00000000-0000-4000-8000-00000000000c',
       'operator', 'tag:web', 'admin', '2026-01-01T00:00:17.000000Z')",
    "INSERT INTO keys (id, name, public_key, key_type, fingerprint, bits, comment, owner,
       expires_at, created_at, updated_at) VALUES ('00000000-0000-4000-8000-000000000002', 'alice',
       'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice',
       'ssh-ed25519', 'SHA256:abc', 256, 'alice@laptop', 'alice', NULL,
       '2026-01-01T00:00:01.000000Z', '2026-01-01T00:00:01.000000Z')",
    "INSERT INTO platforms (id, name, host, port, username, auth_method, credential,
       host_key_policy, host_key_type, host_key_fingerprint, authorized_keys_path, tags,
       created_at, updated_at, exclusive)
     VALUES ('00000000-0000-4000-8000-000000000003', 'web1', '10.0.0.1',
       22, 'deploy', 'password', $1, 'tofu', 'ssh-ed25519', 'SHA256:host', '.ssh/authorized_keys',
       '[\"web\"]', '2026-01-01T00:00:02.000000Z', '2026-01-01T00:00:02.000000Z', 1)",
    "INSERT INTO assignments (platform_id, key_id, created_at, sync_status, synced_at,
       sync_error, options, expires_at)
     VALUES ('00000000-0000-4000-8000-000000000003',
       '00000000-0000-4000-8000-000000000002', '2026-01-01T00:00:03.000000Z', 'present',
       '2026-01-01T00:00:04.000000Z', NULL, 'restrict,expiry-time=\"20270101Z\"',
       '2027-01-01T00:00:00.000000Z')",
    "INSERT INTO schedules (id, name, cron, time_zone, kind, selector, command, timeout_s,
       concurrency, enabled, builtin, next_run_at, last_run_at, last_task_id, last_error,
       created_by, created_at, updated_at)
     VALUES ('00000000-0000-4000-8000-000000000009', 'daily-sync', '0 3 * * *', 'UTC', 'sync',
       'all', NULL, NULL, 50, 1, 1, '2026-01-02T03:00:00.000000Z', '2026-01-01T03:00:00.000000Z',
       '00000000-0000-4000-8000-000000000004', NULL, 'system', '2026-01-01T00:00:11.000000Z',
       '2026-01-01T00:00:11.000000Z')",
    "INSERT INTO tasks (id, kind, status, params, concurrency, created_by, cancel_requested,
       last_seq, created_at, started_at, finished_at, archived_at, archived_seq, output_bytes,
       output_expired_at)
     VALUES ('00000000-0000-4000-8000-000000000004', 'run_command', 'succeeded',
       '{\"command\":\"uptime\"}', 10, 'admin', 0, 3, '2026-01-01T00:00:05.000000Z',
       '2026-01-01T00:00:05.100000Z', '2026-01-01T00:00:06.000000Z', NULL, NULL, 6, NULL)",
    "INSERT INTO targets (task_id, platform_id, platform_name, position, status, exit_code,
       exit_signal, error, changed, lease_owner, lease_expires_at, started_at, finished_at,
       warnings, output_digest, output_bytes)
     VALUES ('00000000-0000-4000-8000-000000000004',
       '00000000-0000-4000-8000-000000000003', 'web1', 0, 'succeeded', 0, NULL, NULL, 0, NULL,
       NULL, '2026-01-01T00:00:05.200000Z', '2026-01-01T00:00:05.900000Z', '[\"note\"]',
       NULL, NULL)",
    "INSERT INTO task_events VALUES ('00000000-0000-4000-8000-000000000004', 1, 'output',
       '00000000-0000-4000-8000-000000000003', 'stdout', $1, '2026-01-01T00:00:05.300000Z')",
    "INSERT INTO audit_events VALUES ('00000000-0000-4000-8000-000000000005',
       '2026-01-01T00:00:07.000000Z', 'admin', 'key.create', 'key:00000000-0000-4000-8000-000000000002',
       'success', '{}', 1, '0000', 'ffff', 'sha256')",
    "INSERT INTO settings VALUES ('master_key_check', $1)",
    "INSERT INTO sessions VALUES ('00000000-0000-4000-8000-000000000006',
       '00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000001', 'aa11',
       '2026-01-01T00:00:08.000000Z', '2026-01-08T00:00:08.000000Z', NULL, NULL)",
    "INSERT INTO api_tokens VALUES ('00000000-0000-4000-8000-000000000007', 'ci', 'operator',
       '00000000-0000-4000-8000-000000000001', 'bb22', '2026-01-01T00:00:09.000000Z', NULL,
       NULL, NULL)",
    "INSERT INTO ui_sessions VALUES ('00000000-0000-4000-8000-000000000008', 'cc33',
       '00000000-0000-4000-8000-000000000001', '2026-01-01T00:00:10.000000Z',
       '2026-01-02T00:00:10.000000Z')",
    "INSERT INTO archive_segments VALUES ('00000000-0000-4000-8000-000000000004', 'run-1', 1, 3,
       'tasks/00000000-0000-4000-8000-000000000004/run-1/00000000000000000001.seg', 6, $1,
       '2026-01-01T00:00:06.000000Z')",
    "INSERT INTO leases VALUES ('platform:00000000-0000-4000-8000-000000000003', 'sync-1',
       'worker-1', '2026-01-01T00:00:40.000000Z')",
    "INSERT INTO platform_scans VALUES ('00000000-0000-4000-8000-000000000003', 'drift',
       '2026-01-01T00:00:11.000000Z', '00000000-0000-4000-8000-000000000004', NULL,
       '.ssh/authorized_keys', 1, '[]', 0, '[]')",
    "INSERT INTO access_entries VALUES ('00000000-0000-4000-8000-000000000003', 1, 'SHA256:abc',
       'ssh-ed25519', 256, 1, NULL, 'alice@laptop', '2026-01-01T00:00:11.000000Z')",
    "INSERT INTO notification_endpoints (id, name, origin, sealed, has_secret, events, format,
       enabled, created_at, updated_at)
     VALUES ('00000000-0000-4000-8000-00000000000a', 'ops', 'https://hooks.example.com', $1, 1,
       '[\"task.failed\"]', 'json', 1, '2026-01-01T00:00:12.000000Z',
       '2026-01-01T00:00:12.000000Z')",
    "INSERT INTO notification_deliveries (id, endpoint_id, event, event_id, body, status,
       attempts, next_attempt_at, lease_owner, lease_expires_at, created_at, finished_at)
     VALUES ('00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000a',
       'task.failed', '00000000-0000-4000-8000-000000000004', '{\"event\":\"task.failed\"}',
       'delivered', 1, NULL, NULL, NULL, '2026-01-01T00:00:13.000000Z',
       '2026-01-01T00:00:14.000000Z')",
    "INSERT INTO notification_attempts (delivery_id, attempt, at, duration_ms, http_status, error,
       response)
     VALUES ('00000000-0000-4000-8000-00000000000b', 1, '2026-01-01T00:00:14.000000Z', 120, 200,
       NULL, 'ok')",
    "INSERT INTO user_totp (id, user_id, secret, created_at, enabled_at, last_step)
     VALUES ('00000000-0000-4000-8000-00000000000c', '00000000-0000-4000-8000-000000000001', $1,
       '2026-01-01T00:00:15.000000Z', '2026-01-01T00:00:16.000000Z', 59000000)",
    "INSERT INTO totp_recovery_codes (user_id, code_hash, created_at, used_at)
     VALUES ('00000000-0000-4000-8000-000000000001', 'dd44', '2026-01-01T00:00:16.000000Z',
       NULL)",
    // A testum at this version has adopted the pre-chain audit events already.
    "DELETE FROM settings WHERE name = 'audit_chain_adopt'",
];

/// Every column of every table `tables`, one text line per row (sorted), as the backend spells
/// values; the column lists are taken once, before the upgrade, and reused after it.
async fn dump(pool: &AnyPool, backend: Backend, columns: &[(String, Vec<String>)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (table, cols) in columns {
        let quoted: Vec<String> = cols
            .iter()
            .map(|c| match backend {
                Backend::Sqlite => format!("quote(\"{c}\")"),
                Backend::Postgres => format!("coalesce(quote_literal(\"{c}\"), 'NULL')"),
            })
            .collect();
        let statement = format!(
            "SELECT {} AS line FROM \"{table}\" ORDER BY 1",
            quoted.join(" || '|' || ")
        );
        for row in sqlx::query(sqlx::AssertSqlSafe(statement))
            .fetch_all(pool)
            .await
            .unwrap()
        {
            lines.push(format!("{table}: {}", row.get::<String, _>("line")));
        }
    }
    lines
}

/// The columns of every table in `tables`.
async fn columns(
    pool: &AnyPool,
    backend: Backend,
    tables: &[String],
) -> Vec<(String, Vec<String>)> {
    let statement = match backend {
        Backend::Sqlite => "SELECT name FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
             WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position"
        }
    };
    let mut out = Vec::new();
    for table in tables {
        let cols: Vec<String> = sqlx::query_scalar(statement)
            .bind(table)
            .fetch_all(pool)
            .await
            .unwrap();
        out.push((table.clone(), cols));
    }
    out
}

#[tokio::test]
async fn a_database_at_the_previous_schema_upgrades_with_nothing_lost() {
    let (url, _dir) = database().await;
    let backend = Backend::of_url(&url).unwrap();
    let current = backend.known_schema_version();
    let previous = current - 1;
    let old = pool(&url).await;
    backend.migrations().run_to(previous, &old).await.unwrap();
    for statement in ROWS {
        let bytes: Vec<u8> = vec![0, 0xff, b'o', b'u', b't', b'\n'];
        let mut query = sqlx::query(*statement);
        if statement.contains("$1") {
            query = query.bind(bytes);
        }
        query.execute(&old).await.unwrap();
    }
    let counts = table_counts(&mut old.acquire().await.unwrap())
        .await
        .unwrap();
    let empty: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(t, _)| t)
        .collect();
    assert!(
        empty.is_empty(),
        "tables without rows at schema version {previous}: {empty:?} (insert one in ROWS)"
    );
    let tables: Vec<String> = counts.keys().cloned().collect();
    let columns = columns(&old, backend, &tables).await;
    let before = dump(&old, backend, &columns).await;
    assert!(before.len() >= tables.len(), "{before:?}");
    old.close().await;

    let store = Store::open(&url, PoolConfig::default()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), current);
    store.close().await;
    let new = pool(&url).await;
    assert_eq!(dump(&new, backend, &columns).await, before);
    // An assignment written before 0011 (no expires_at) gets its expiry-time option's at start.
    sqlx::query("UPDATE assignments SET expires_at = NULL")
        .execute(&new)
        .await
        .unwrap();
    new.close().await;
    Store::open(&url, PoolConfig::default())
        .await
        .unwrap()
        .close()
        .await;
    let new = pool(&url).await;
    let expiry: Option<String> = sqlx::query_scalar("SELECT expires_at FROM assignments")
        .fetch_one(&new)
        .await
        .unwrap();
    assert_eq!(expiry.as_deref(), Some("2027-01-01T00:00:00.000000Z"));
}

#[tokio::test]
async fn a_database_from_a_newer_testum_is_refused_untouched() {
    let (url, dir) = database().await;
    let store = Store::open(&url, PoolConfig::default()).await.unwrap();
    let known = store.backend().known_schema_version();
    store.close().await;
    let db = pool(&url).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, 'from the future', TRUE, $2, 1)",
    )
    .bind(known + 1)
    .bind(vec![0u8; 48])
    .execute(&db)
    .await
    .unwrap();
    db.close().await;

    match Store::open(&url, PoolConfig::default()).await {
        Err(StoreError::TooNew { found, known: k }) => assert_eq!((found, k), (known + 1, known)),
        other => panic!("not refused as too new: {:?}", other.err()),
    }
    // `testum serve` says so in one line and exits 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_testum"))
        .arg("serve")
        .env("TESTUM_DATA_DIR", dir.path().join("data"))
        .env("TESTUM_DATABASE_URL", &url)
        .env("TESTUM_BIND", "127.0.0.1:0")
        .env_remove("TESTUM_MASTER_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.starts_with("testum: ")
            && last.contains(&format!(
                "schema version {}, newer than this testum knows ({known})",
                known + 1
            )),
        "{stderr}"
    );
    assert_eq!(
        Store::probe_schema_version(&url).await.unwrap(),
        known + 1,
        "the newer database was changed"
    );
}

#[tokio::test]
async fn a_failed_migration_leaves_nothing_of_itself() {
    let (url, _dir) = database().await;
    let migrations = tempfile::tempdir().unwrap();
    std::fs::write(
        migrations.path().join("0001_good.sql"),
        "CREATE TABLE good (x INTEGER);",
    )
    .unwrap();
    std::fs::write(
        migrations.path().join("0002_bad.sql"),
        "CREATE TABLE half (x INTEGER); INSERT INTO good VALUES (1); SELECT * FROM no_such_table;",
    )
    .unwrap();
    let migrator = sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap();
    let db = pool(&url).await;
    assert!(migrator.run(&db).await.is_err());
    let mut conn = db.acquire().await.unwrap();
    let tables = table_counts(&mut conn).await.unwrap();
    assert_eq!(tables.get("good"), Some(&0), "{tables:?}");
    assert!(!tables.contains_key("half"), "{tables:?}");
}
