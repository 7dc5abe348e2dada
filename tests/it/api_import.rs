//! Bulk import through the API: platforms from every format (good rows, a bad host, a bad port,
//! groups as tags, ssh_config defaults), dry runs that write nothing, a real run with one bad row
//! that writes nothing, updates that keep the credential, two platforms kept off one file, keys
//! from an authorized_keys file (options, comments, a weak key, a pasted private key), and 1000
//! platforms in one request. On SQLite, and on PostgreSQL with `TESTUM_TEST_DATABASE_URL`.

use crate::app;

use std::process::Command;
use std::time::Instant;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn import(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/api/platforms/import", body).await
}

/// Every platform's name, sorted (all pages).
async fn platform_names(app: &TestApp) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/api/platforms?limit=500{cursor}")).await;
        for p in page["items"].as_array().unwrap() {
            names.push(p["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    names.sort();
    names
}

/// The fields a problem's `errors` name, in order.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

fn actions(answer: &Value) -> Vec<(u64, String, String)> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["name"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Per format: a file with a bad row, the fields the 422 must name, and the good file.
struct Case {
    format: &'static str,
    bad: &'static str,
    refused: &'static [&'static str],
    good: &'static str,
    /// (name, host, port, username, tags) of the good file's platforms, by name.
    expect: &'static [(
        &'static str,
        &'static str,
        u64,
        &'static str,
        &'static [&'static str],
    )],
}

const CASES: &[Case] = &[
    Case {
        format: "csv",
        bad: "name,host,port,username,tags\n\
              web1,10.0.0.1,2222,deploy,web env=prod\n\
              web2,-oProxyCommand=x,22,,web\n\
              web3,10.0.0.3,99999,,\n",
        refused: &["rows[3].host", "rows[4].port"],
        good: "name,host,port,username,tags\nweb1,10.0.0.1,2222,deploy,web env=prod\nweb3,10.0.0.3,,,\n",
        expect: &[
            ("web1", "10.0.0.1", 2222, "deploy", &["web", "env=prod"]),
            ("web3", "10.0.0.3", 22, "ops", &[]),
        ],
    },
    Case {
        format: "json",
        bad: r#"[{"name": "web1", "host": "10.0.0.1", "tags": ["web"]},
                 {"name": "web2", "host": "a b"},
                 {"name": "web3", "host": "h", "port": 0}]"#,
        refused: &["rows[2].host", "rows[3].port"],
        good: r#"[{"name": "web1", "host": "10.0.0.1", "tags": ["web"]},
                  {"name": "web3", "host": "10.0.0.3", "port": 2200, "username": "root"}]"#,
        expect: &[
            ("web1", "10.0.0.1", 22, "ops", &["web"]),
            ("web3", "10.0.0.3", 2200, "root", &[]),
        ],
    },
    Case {
        format: "ansible_ini",
        bad: "[web]\nweb1 ansible_host=10.0.0.1\nweb2 ansible_host=-x\n[db]\ndb1 ansible_port=x\n",
        refused: &["rows[3].host", "rows[5].port"],
        good: "[web]\nweb1 ansible_host=10.0.0.1 ansible_port=2222\n[db]\ndb1 ansible_host=10.0.1.1\n\
               [prod:children]\nweb\ndb\n[db:vars]\nansible_user=postgres\n",
        expect: &[
            ("db1", "10.0.1.1", 22, "postgres", &["db", "prod"]),
            ("web1", "10.0.0.1", 2222, "ops", &["web", "prod"]),
        ],
    },
    Case {
        format: "ansible_yaml",
        bad: "all:\n  hosts:\n    web1:\n      ansible_host: 10.0.0.1\n    web2:\n      ansible_host: a..b\n",
        refused: &["rows[5].host"],
        good: "all:\n  children:\n    web:\n      hosts:\n        web1:\n          ansible_host: 10.0.0.1\n\
               \x20     vars:\n        ansible_port: 2022\n",
        expect: &[("web1", "10.0.0.1", 2022, "ops", &["web"])],
    },
    Case {
        format: "ssh_config",
        bad: "Host web1\n  HostName 10.0.0.1\nHost web2\n  Port 0\n",
        refused: &["rows[3].port"],
        good: "Host web1 web2\n  HostName %h.example.org\nHost web2\n  User deploy\nHost *\n  Port 2200\n",
        expect: &[
            ("web1", "web1.example.org", 2200, "ops", &[]),
            ("web2", "web2.example.org", 2200, "deploy", &[]),
        ],
    },
];

#[tokio::test]
async fn every_format_imports_good_rows_and_a_bad_row_writes_nothing() {
    let app = TestApp::start().await;
    for case in CASES {
        let body = |content: &str, dry_run: bool| {
            json!({"format": case.format, "content": content, "username": "ops",
                   "auth_method": "password", "password": "s3cret", "dry_run": dry_run})
        };
        // Dry run: every row's verdict, the bad ones with their line and field.
        let (status, answer) = import(&app, body(case.bad, true)).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", case.format);
        assert_eq!(
            answer["refused"],
            case.refused.len(),
            "{}: {answer}",
            case.format
        );
        let named: Vec<String> = answer["results"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["errors"].as_array().cloned().unwrap_or_default())
            .map(|e| e["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(named, case.refused, "{}: {answer}", case.format);
        // Real run: 422 naming the same rows, and nothing written.
        let (status, problem) = import(&app, body(case.bad, false)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {problem}",
            case.format
        );
        assert_eq!(fields(&problem), case.refused, "{}", case.format);
        assert!(platform_names(&app).await.is_empty(), "{}", case.format);
        // The good file imports.
        let (status, answer) = import(&app, body(case.good, false)).await;
        assert_eq!(status, StatusCode::OK, "{}: {answer}", case.format);
        assert_eq!(
            answer["created"],
            case.expect.len(),
            "{}: {answer}",
            case.format
        );
        let page = app.get("/api/platforms?limit=500").await;
        let mut got: Vec<(String, String, u64, String, Vec<String>)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["auth_method"], "password");
                assert_eq!(p["host_key_policy"], "tofu");
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["host"].as_str().unwrap().to_string(),
                    p["port"].as_u64().unwrap(),
                    p["username"].as_str().unwrap().to_string(),
                    p["tags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        got.sort();
        let want: Vec<(String, String, u64, String, Vec<String>)> = case
            .expect
            .iter()
            .map(|(n, h, p, u, t)| {
                (
                    n.to_string(),
                    h.to_string(),
                    *p,
                    u.to_string(),
                    t.iter().map(|t| t.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "{}", case.format);
        for p in page["items"].as_array().unwrap() {
            let (status, _) = app
                .call(
                    Method::DELETE,
                    &format!("/api/platforms/{}", p["id"].as_str().unwrap()),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_a_real_run_needs_a_credential() {
    let app = TestApp::start().await;
    let content = "name,host\nweb1,10.0.0.1\nweb2,10.0.0.2\n";
    // Without a credential a dry run still previews, and says what the real run needs.
    let (status, answer) = import(
        &app,
        json!({"format": "csv", "content": content, "username": "ops", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["created"], 2);
    assert!(
        answer["notes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("auth_method")
    );
    assert!(platform_names(&app).await.is_empty());
    let audit = app.get("/api/audit?action=platform.create").await;
    assert!(audit["items"].as_array().unwrap().is_empty(), "{audit}");
    let (status, problem) = import(
        &app,
        json!({"format": "csv", "content": content, "username": "ops"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["auth_method"]);
    // A row without any username is refused by line; so is an unknown format word.
    let (status, problem) = import(
        &app,
        json!({"format": "csv", "content": content, "auth_method": "password",
               "password": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["rows[2].username", "rows[3].username"]);
    let (status, problem) = import(
        &app,
        json!({"format": "xml", "content": content, "host_key_policy": "strict",
               "auth_method": "password", "password": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["format", "host_key_policy"]);
    // A file that is not of its format names the content.
    let (status, problem) = import(
        &app,
        json!({"format": "json", "content": "[{", "username": "ops",
               "auth_method": "password", "password": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["content"]);
    assert!(platform_names(&app).await.is_empty());
}

#[tokio::test]
async fn an_existing_platform_is_updated_keeps_its_credential_and_is_audited() {
    let app = TestApp::start().await;
    let id = app
        .add_password_platform("web1", 22, "deploy", "old-secret")
        .await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/platforms/{id}"),
            Some(json!({"tags": ["manual"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sealed = app
        .store()
        .platform_credential(id.parse().unwrap())
        .await
        .unwrap();
    // ssh_config carries no tags: the manual tag stays; host and port change.
    let config = "Host web1\n  HostName 10.9.9.9\n  Port 2222\nHost web4\n  HostName 10.0.0.4\n";
    let body = json!({"format": "ssh_config", "content": config, "username": "deploy",
                      "auth_method": "private_key", "private_key": "not used in a dry run?",
                      "dry_run": true});
    let (status, problem) = import(&app, body).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a bad batch key is refused even in a dry run"
    );
    assert_eq!(fields(&problem), ["private_key"]);
    let body = json!({"format": "ssh_config", "content": config, "username": "deploy",
                      "auth_method": "password", "password": "new-secret"});
    let (status, answer) = import(&app, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        actions(&answer),
        [
            (1, "web1".to_string(), "update".to_string()),
            (4, "web4".to_string(), "create".to_string())
        ]
    );
    assert_eq!(answer["results"][0]["changes"], json!(["host", "port"]));
    let platform = app.get(&format!("/api/platforms/{id}")).await;
    assert_eq!(
        (&platform["host"], &platform["port"], &platform["tags"]),
        (&json!("10.9.9.9"), &json!(2222), &json!(["manual"]))
    );
    let after = app
        .store()
        .platform_credential(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(sealed, after, "an update keeps the stored credential");
    // The same import again changes nothing.
    let (status, answer) = import(&app, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&answer["unchanged"], &answer["created"]),
        (&json!(2), &json!(0))
    );
    // One audit event per platform, saying it came from an import.
    let audit = app
        .get(&format!(
            "/api/audit?action=platform.update&target=platform:{id}"
        ))
        .await;
    let imported: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["via"] == "import")
        .collect();
    assert_eq!(imported.len(), 1, "{audit}");
    assert_eq!(imported[0]["details"]["host"], "10.9.9.9");
    let created = app.get("/api/audit?action=platform.create").await;
    assert!(
        created["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["name"] == "web4" && e["details"]["via"] == "import"),
        "{created}"
    );
}

#[tokio::test]
async fn two_platforms_are_never_put_on_one_file() {
    let app = TestApp::start().await;
    app.add_password_platform("old", 22, "deploy", "pw").await;
    let content = "name,host,username\nnew,127.0.0.1,deploy\na,10.0.0.1,u\nb,10.0.0.1,u\n";
    let (status, answer) = import(
        &app,
        json!({"format": "csv", "content": content, "auth_method": "password",
               "password": "pw", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        actions(&answer),
        [
            (2, "new".to_string(), "refused".to_string()),
            (3, "a".to_string(), "create".to_string()),
            (4, "b".to_string(), "refused".to_string())
        ]
    );
    assert!(
        answer["results"][0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("'old'"),
        "{answer}"
    );
    assert_eq!(answer["results"][2]["errors"][0]["field"], "rows[4].host");
}

#[tokio::test]
async fn a_thousand_platforms_import_in_one_request() {
    let app = TestApp::start().await;
    let mut content = String::from("name,host,port,tags\n");
    for i in 0..1000 {
        content.push_str(&format!(
            "node-{i:04},10.{}.{}.{},22,fleet rack-{}\n",
            i / 65536,
            (i / 256) % 256,
            i % 256,
            i % 10
        ));
    }
    let body = json!({"format": "csv", "content": content, "username": "ops",
                      "auth_method": "password", "password": "pw"});
    let started = Instant::now();
    let (status, answer) = import(&app, body.clone()).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["created"], 1000);
    eprintln!("imported 1000 platforms in {took:?}");
    let started = Instant::now();
    let (status, answer) = import(&app, body).await;
    eprintln!(
        "re-imported 1000 unchanged platforms in {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["unchanged"], 1000);
    assert_eq!(platform_names(&app).await.len(), 1000);
    let audit = app.get("/api/audit?action=platform.create&limit=500").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 500);
    // The 1000 events appended after one read of the chain head form an unbroken chain.
    let verified = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

/// `ssh-keygen -t TYPE [-b BITS]` in `dir`: (public line, private text).
fn keygen(
    dir: &std::path::Path,
    name: &str,
    key_type: &str,
    bits: Option<u32>,
    comment: &str,
) -> (String, String) {
    let path = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command
        .args(["-q", "-N", "", "-C", comment, "-t", key_type, "-f"])
        .arg(&path);
    if let Some(bits) = bits {
        command.args(["-b", &bits.to_string()]);
    }
    let status = command.status().expect("run ssh-keygen");
    assert!(status.success());
    (
        std::fs::read_to_string(path.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string(),
        std::fs::read_to_string(&path).unwrap(),
    )
}

#[tokio::test]
async fn keys_import_an_authorized_keys_file_line_by_line() {
    let app = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (alice, _) = keygen(dir.path(), "alice", "ed25519", None, "alice@laptop");
    let (bob, _) = keygen(dir.path(), "bob", "ecdsa", Some(256), "bob");
    let (nameless, _) = keygen(dir.path(), "nameless", "ed25519", None, "");
    let (weak, _) = keygen(dir.path(), "weak", "rsa", Some(1024), "old");
    let (_, private) = keygen(dir.path(), "secret", "ed25519", None, "oops");
    let existing = app
        .add_key(
            "carol's key",
            &keygen(dir.path(), "carol", "ed25519", None, "carol").0,
        )
        .await;
    let carol = std::fs::read_to_string(dir.path().join("carol.pub")).unwrap();
    let good = format!(
        "# team\n\n{alice}\nrestrict,from=\"10.0.0.0/8\" {bob}\n{nameless}\n{}\n{alice}\n",
        carol.trim()
    );
    let bad = format!("{good}{weak}\n{private}");
    // Dry run: a verdict per key line; comments and blank lines skipped.
    let (status, answer) = app
        .post(
            "/api/keys/import",
            json!({"content": bad, "owner": "team", "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (
            &answer["created"],
            &answer["exists"],
            &answer["refused"],
            &answer["skipped"]
        ),
        (&json!(3), &json!(2), &json!(2), &json!(2))
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["name"], "alice@laptop");
    assert!(
        results[1]["note"]
            .as_str()
            .unwrap()
            .contains("options ignored")
    );
    assert!(
        results[2]["name"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
    assert_eq!(
        (&results[3]["action"], &results[3]["key_id"]),
        (&json!("exists"), &json!(existing))
    );
    assert_eq!(results[3]["name"], "carol's key");
    assert!(results[4]["note"].as_str().unwrap().contains("line 3"));
    assert_eq!(
        (&results[5]["line"], &results[5]["action"]),
        (&json!(8), &json!("refused"))
    );
    assert!(
        results[5]["error"].as_str().unwrap().contains("1024"),
        "{answer}"
    );
    assert_eq!(
        (&results[6]["line"], &results[6]["action"]),
        (&json!(9), &json!("refused"))
    );
    assert!(
        results[6]["error"]
            .as_str()
            .unwrap()
            .contains("private key"),
        "{answer}"
    );
    // Real run with the bad lines: 422 naming them, nothing registered.
    let (status, problem) = app.post("/api/keys/import", json!({"content": bad})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["lines[8]", "lines[9]"]);
    let secret_line = private.lines().nth(1).unwrap();
    assert!(
        !problem.to_string().contains(secret_line),
        "never echoes the key"
    );
    let keys = app.get("/api/keys").await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    // Without them: registered with the owner, audited once per key.
    let (status, answer) = app
        .post(
            "/api/keys/import",
            json!({"content": good, "owner": "team"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["created"], 3);
    let id = answer["results"][0]["key_id"].as_str().unwrap();
    let key = app.get(&format!("/api/keys/{id}")).await;
    assert_eq!(
        (&key["name"], &key["owner"]),
        (&json!("alice@laptop"), &json!("team"))
    );
    let audit = app.get("/api/audit?action=key.create").await;
    let imported = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["via"] == "import")
        .count();
    assert_eq!(imported, 3);
    // Again: everything exists.
    let (status, answer) = app.post("/api/keys/import", json!({"content": good})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&answer["created"], &answer["exists"]),
        (&json!(0), &json!(5))
    );
    let (status, problem) = app
        .post("/api/keys/import", json!({"content": "# only\n"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["content"]);
}
