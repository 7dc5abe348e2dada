//! One platform per managed file (host, port, login user, authorized_keys path), kept by a unique
//! index rather than a check before the write: two concurrent creates give one 201 and one 409,
//! a PATCH onto a managed file is a 409 naming the platform that manages it, an import is refused
//! whole when a file it plans for was taken meanwhile, and a database that already holds two such
//! platforms stops at migration 0014. SQLite by default, PostgreSQL with
//! `TESTUM_TEST_DATABASE_URL`.

use crate::app;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::ssh::{AuthMethod, HostKeyPolicy};
use testum::store::{Actor, ImportUpdate, NewPlatform, PlatformImport, Store, StoreError};
use uuid::Uuid;

fn platform(name: &str, host: &str) -> Value {
    json!({"name": name, "host": host, "username": "deploy",
           "auth_method": "password", "password": "p"})
}

async fn create(app: &TestApp, name: &str, host: &str) -> String {
    let (status, body) = app.post("/api/platforms", platform(name, host)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn assert_conflict(status: StatusCode, problem: &Value, names: &str) {
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(names) && detail.contains("one file"),
        "{problem}"
    );
}

#[tokio::test]
async fn two_concurrent_creates_of_one_file_give_one_201_and_one_409() {
    let app = TestApp::start().await;
    for round in 0..5 {
        let host = format!("race{round}.example");
        let (a, b) = tokio::join!(
            app.post("/api/platforms", platform(&format!("a{round}"), &host)),
            app.post("/api/platforms", platform(&format!("b{round}"), &host)),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{} / {}",
            a.1,
            b.1
        );
        let (winner, loser) = if a.0 == StatusCode::CREATED {
            (a, b)
        } else {
            (b, a)
        };
        assert_eq!(loser.1["status"], 409, "{}", loser.1);
        assert_conflict(
            loser.0,
            &loser.1,
            &format!("'{}'", winner.1["name"].as_str().unwrap()),
        );
    }
    let list = app.get("/api/platforms?limit=500").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5), "{list}");
}

/// A fresh reviewer's finding: `//` or `/./` in the path made a second platform on one file.
#[tokio::test]
async fn another_spelling_of_a_managed_file_is_the_same_file() {
    let app = TestApp::start().await;
    let mut first = platform("first", "spelling.example");
    first["authorized_keys_path"] = json!("/srv/keys/deploy");
    let (status, body) = app.post("/api/platforms", first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (i, spelling) in [
        "/srv//keys/deploy",
        "/srv/./keys/deploy",
        "//srv/keys/./deploy",
    ]
    .into_iter()
    .enumerate()
    {
        let mut twin = platform(&format!("twin{i}"), "spelling.example");
        twin["authorized_keys_path"] = json!(spelling);
        let (status, problem) = app.post("/api/platforms", twin).await;
        assert_conflict(status, &problem, "first");
    }
    let mut default = platform("home", "spelling.example");
    default["authorized_keys_path"] = json!("./.ssh//authorized_keys");
    let (status, body) = app.post("/api/platforms", default).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["authorized_keys_path"], ".ssh/authorized_keys");
}

#[tokio::test]
async fn a_patch_onto_a_managed_file_is_409_naming_its_platform() {
    let app = TestApp::start().await;
    create(&app, "web1", "web1.example").await;
    let other = create(&app, "web2", "web2.example").await;

    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/api/platforms/{other}"),
            Some(json!({"host": "web1.example"})),
        )
        .await;
    assert_conflict(status, &problem, "'web1'");
    assert_eq!(
        app.get(&format!("/api/platforms/{other}")).await["host"],
        "web2.example"
    );
    // Another path on the same host and user is another file.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/platforms/{other}"),
            Some(json!({"host": "web1.example", "authorized_keys_path": ".ssh/authorized_keys2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_database_with_two_platforms_on_one_file_stops_at_migration_14() {
    let app = TestApp::start().await;
    create(&app, "web1", "web1.example").await;
    // A database from before the index, where two platforms came to share a file.
    app.sql("DROP INDEX platforms_one_per_managed_file").await;
    create(&app, "web1-twin", "web1.example").await;
    app.sql("DELETE FROM _sqlx_migrations WHERE version = 14")
        .await;
    let err = Store::open(&app.database_url_in_force(), Default::default())
        .await
        .err()
        .expect("the migration must refuse two platforms on one file");
    let message = err.to_string();
    assert!(
        message.contains("platforms_one_per_managed_file")
            || message.contains("platforms.authorized_keys_path"),
        "{message}"
    );
}

/// A platform row as an import writes it, on `host`'s default file.
fn imported(name: &str, host: &str) -> NewPlatform {
    NewPlatform {
        id: Uuid::new_v4(),
        name: name.into(),
        host: host.into(),
        port: 22,
        username: "deploy".into(),
        auth_method: AuthMethod::Password,
        credential: vec![0; 8],
        host_key_policy: HostKeyPolicy::Tofu,
        host_key_type: None,
        host_key_fingerprint: None,
        authorized_keys_path: ".ssh/authorized_keys".into(),
        tags: Vec::new(),
        exclusive: false,
    }
}

/// An import planned before another platform took the file (the plan's own check passed): the
/// write is refused as a whole, the answer a 409 (`StoreError::Conflict`, as for a create).
#[tokio::test]
async fn an_import_onto_a_file_taken_after_its_plan_is_a_conflict_and_writes_nothing() {
    let app = TestApp::start().await;
    let web2 = create(&app, "web2", "web2.example").await;
    create(&app, "web1", "web1.example").await;
    let store = Store::open(&app.database_url_in_force(), Default::default())
        .await
        .unwrap();
    let actor = Actor::system();

    let clash = PlatformImport {
        create: vec![
            (imported("fresh", "fresh.example"), 1),
            (imported("late", "web1.example"), 2),
        ],
        update: Vec::new(),
    };
    let err = store.import_platforms(&actor, clash).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("row 2")),
        "{err}"
    );
    let moved = PlatformImport {
        create: Vec::new(),
        update: vec![ImportUpdate {
            id: web2.parse().unwrap(),
            name: "web2".into(),
            host: "web1.example".into(),
            port: 22,
            username: "deploy".into(),
            tags: Vec::new(),
            line: 3,
        }],
    };
    let err = store.import_platforms(&actor, moved).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(m) if m.contains("row 3")),
        "{err}"
    );
    let list = app.get("/api/platforms").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "nothing was imported: {names:?}");
}
