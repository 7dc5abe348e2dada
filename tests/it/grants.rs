//! Roles per tag (issue 14, parts 4 and 5), through the HTTP API of the running service: a user
//! whose only grant is operator on `tag:web` deploys to a web host (a real sshd, proved with the
//! real `ssh` client), is refused a task that also names a db host (403 naming it), sees only
//! web hosts in every list and cannot read a db task's output (REST or WebSocket); grants given
//! through a group apply; a deleted grant stops at the very next request; a user without any
//! grant sees no platform; fleet-wide routes refuse an admin on part of the fleet; a schedule
//! fires only on platforms its creator's grants cover. SQLite, and PostgreSQL with
//! `TESTUM_TEST_DATABASE_URL`.

use crate::app;
use crate::common;

use app::TestApp;
use chrono::{DateTime, Utc};
use common::{KeyKind, TestHost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A signed-in user other than the harness's admin.
struct Caller<'a> {
    app: &'a TestApp,
    token: String,
}

impl Caller<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .request(method, format!("{}{path}", self.app.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// The names of the platforms `GET /api/platforms` lists, sorted.
    async fn platform_names(&self) -> Vec<String> {
        let (status, page) = self.get("/api/platforms?limit=500").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        names(&page["items"], "name")
    }
}

/// The `field` of every item of `items`, sorted.
fn names(items: &Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

/// Create user `name` with fleet-wide `role` (`Value::Null`: none) as the admin and sign in.
async fn user<'a>(app: &'a TestApp, name: &str, role: Value) -> (Caller<'a>, String) {
    let password = format!("{name} has a long password");
    let (status, created) = app
        .post(
            "/api/users",
            json!({"username": name, "password": password, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["role"], role);
    let (status, login) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": name, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["access_token"].as_str().unwrap().to_string();
    (
        Caller { app, token },
        created["id"].as_str().unwrap().into(),
    )
}

/// Give `role` on `selector` to `subject` (`{"user_id": ..}` or `{"group_id": ..}`); its id.
async fn grant(app: &TestApp, mut subject: Value, role: &str, selector: &str) -> String {
    subject["role"] = json!(role);
    subject["selector"] = json!(selector);
    let (status, grant) = app.post("/api/grants", subject).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    grant["id"].as_str().unwrap().to_string()
}

/// Register platform `name` tagged `tag` at 127.0.0.1:`port` as the admin; its id.
async fn platform(
    app: &TestApp,
    name: &str,
    tag: &str,
    port: u16,
    user: &str,
    password: &str,
) -> String {
    let (status, created) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": "127.0.0.1", "port": port, "username": user,
                   "auth_method": "password", "password": password, "tags": [tag]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// A platform on a port nobody listens on (tasks on it fail to connect).
async fn unreachable(app: &TestApp, name: &str, tag: &str) -> String {
    platform(
        app,
        name,
        tag,
        common::closed_port(),
        "nobody",
        "no password",
    )
    .await
}

#[tokio::test]
async fn an_operator_on_tag_web_acts_on_web_hosts_and_sees_nothing_else() {
    let (web, db) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    let web1 = platform(
        &app,
        "web1",
        "web",
        web.sshd.port(),
        &web.user.name,
        &web.user.password,
    )
    .await;
    let db1 = platform(
        &app,
        "db1",
        "db",
        db.sshd.port(),
        &db.user.name,
        &db.user.password,
    )
    .await;
    let (wendy, wendy_id) = user(&app, "wendy", Value::Null).await;
    grant(&app, json!({"user_id": wendy_id}), "operator", "tag:web").await;

    // Lists show only web hosts: the platform list, a selector's matches, one platform.
    assert_eq!(wendy.platform_names().await, ["web1"]);
    let (_, matched) = wendy.get("/api/platforms/match?selector=all").await;
    assert_eq!(
        (matched["count"].clone(), matched["selector"].clone()),
        (json!(1), json!("all"))
    );
    assert_eq!(
        wendy.get(&format!("/api/platforms/{db1}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        wendy.get(&format!("/api/platforms/{db1}/keys")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        wendy.get(&format!("/api/platforms/{web1}")).await.0,
        StatusCode::OK
    );

    // She deploys to the web host: the key logs in there.
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let (status, key) = wendy
        .post(
            "/api/keys",
            json!({"name": "wendy", "public_key": client.public_line}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["id"].as_str().unwrap().to_string();
    let (status, accepted) = wendy
        .post(
            &format!("/api/platforms/{web1}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let deployed = app.wait_task(accepted["task_id"].as_str().unwrap()).await;
    assert_eq!(deployed["status"], "succeeded", "{deployed}");
    assert!(
        web.ssh_login_works(&client),
        "the deployed key does not log in"
    );

    // A task that also names the db host is refused whole, naming it; nothing is queued.
    let before = app.get("/api/tasks?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();
    for (path, body) in [
        (
            "/api/tasks".to_string(),
            json!({"kind": "deploy_keys", "platform_ids": [web1, db1], "key_ids": [key]}),
        ),
        (
            "/api/tasks".to_string(),
            json!({"kind": "run_command", "selector": "all", "command": "id"}),
        ),
        (
            format!("/api/platforms/{db1}/run_command"),
            json!({"command": "id"}),
        ),
    ] {
        let (status, refused) = wendy.post(&path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert_eq!(
            detail,
            "requires role operator on db1: this platform is outside your grants"
        );
    }
    let after = app.get("/api/tasks?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused request queued a task");
    // Neither may she tag a web host away into a db host, nor make a new db host.
    let (status, body) = wendy
        .call(
            Method::PATCH,
            &format!("/api/platforms/{web1}"),
            Some(json!({"tags": ["db"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = wendy
        .post(
            "/api/platforms",
            json!({"name": "db2", "host": "127.0.0.1", "username": "x", "auth_method": "password",
                   "password": "x", "tags": ["db"]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("db2"), "{body}");

    // The admin runs a command on the db host: its task is out of her sight.
    let db_task = app
        .run_task(
            &format!("/api/platforms/{db1}/run_command"),
            json!({"command": "echo db-secret"}),
        )
        .await;
    let db_task = db_task["id"].as_str().unwrap().to_string();
    for path in [
        format!("/api/tasks/{db_task}"),
        format!("/api/tasks/{db_task}/output"),
        format!("/api/tasks/{db_task}/targets"),
        format!("/api/tasks/{db_task}/output_groups"),
        format!("/api/tasks/{db_task}/output?platform_id={db1}&stream=stdout"),
    ] {
        let (status, body) = wendy.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert!(!body.to_string().contains("db-secret"), "{body}");
    }
    let ws = format!(
        "{}/ws/tasks/{db_task}?access_token={}",
        app.base.replace("http://", "ws://"),
        wendy.token
    );
    let refused = tokio_tungstenite::connect_async(ws).await.unwrap_err();
    assert!(refused.to_string().contains("404"), "{refused}");
    let (status, body) = wendy
        .post(&format!("/api/tasks/{db_task}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A task over both hosts shows her the web target and its output only.
    let mixed = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [web1, db1], "command": "hostname; echo from-$(id -un)"}),
        )
        .await;
    let mixed = mixed["id"].as_str().unwrap().to_string();
    let (_, tasks) = wendy.get("/api/tasks?limit=500").await;
    let listed: Vec<&str> = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&mixed.as_str()) && !listed.contains(&db_task.as_str()),
        "{tasks}"
    );
    let shown = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == mixed.as_str())
        .unwrap();
    assert_eq!(shown["target_counts"]["total"], 1, "{shown}");
    let (_, task) = wendy.get(&format!("/api/tasks/{mixed}")).await;
    assert_eq!(names(&task["targets"], "platform_name"), ["web1"]);
    let (_, targets) = wendy.get(&format!("/api/tasks/{mixed}/targets")).await;
    assert_eq!(names(&targets["items"], "platform_name"), ["web1"]);
    let (_, groups) = wendy
        .get(&format!("/api/tasks/{mixed}/output_groups"))
        .await;
    assert_eq!(groups["items"].as_array().unwrap().len(), 1, "{groups}");
    assert_eq!(groups["items"][0]["sample"]["platform_name"], "web1");
    let (_, output) = wendy.get(&format!("/api/tasks/{mixed}/output")).await;
    let text = output["items"].to_string();
    assert!(
        text.contains(&format!("from-{}", web.user.name)),
        "{output}"
    );
    assert!(
        !text.contains(&db.user.name) && !text.contains(&db1),
        "{output}"
    );
    let (status, _) = wendy
        .get(&format!("/api/tasks/{mixed}/output?platform_id={db1}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let frames = app.ws_frames_with(&mixed, "").await;
    assert!(
        Value::from(frames).to_string().contains(&db1),
        "the admin sees both"
    );
    let mut socket = tokio_tungstenite::connect_async(format!(
        "{}/ws/tasks/{mixed}?access_token={}",
        app.base.replace("http://", "ws://"),
        wendy.token
    ))
    .await
    .unwrap()
    .0;
    let mut seen = Vec::new();
    use futures::StreamExt as _;
    while let Some(Ok(message)) = socket.next().await {
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            let done = frame["type"] == "done";
            seen.push(frame);
            if done {
                break;
            }
        }
    }
    let seen = Value::from(seen).to_string();
    assert!(seen.contains(&web1) && !seen.contains(&db1), "{seen}");
    // Cancelling stops every target: not hers to do on a task that has a db target.
    let (status, body) = wendy
        .post(&format!("/api/tasks/{mixed}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The access report lists web1's lines only.
    app.run_task(
        "/api/tasks",
        json!({"kind": "scan", "platform_ids": [web1, db1]}),
    )
    .await;
    let (_, access) = wendy.get("/api/access?limit=500").await;
    let hosts: std::collections::BTreeSet<&str> = access["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["platform_name"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["web1"], "{access}");
    // The audit log names every platform: fleet-wide viewers only.
    let (status, body) = wendy.get("/api/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "requires role viewer on the whole fleet; your grants cover only part of it"
    );
}

#[tokio::test]
async fn grants_through_groups_apply_and_stop_at_the_next_request() {
    let app = TestApp::start().await;
    let web1 = unreachable(&app, "web1", "web").await;
    let db1 = unreachable(&app, "db1", "db").await;
    let (gus, gus_id) = user(&app, "gus", Value::Null).await;

    // No grant: no platform, no task, not even the key registry.
    for path in [
        "/api/platforms",
        "/api/tasks",
        "/api/keys",
        "/api/platforms/match?selector=all",
    ] {
        let (status, body) = gus.get(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["detail"], "requires role viewer");
    }
    // Their own account still works.
    assert_eq!(gus.get("/api/tokens").await.0, StatusCode::OK);

    // Viewer on tag:web through a group.
    let (status, group) = app.post("/api/groups", json!({"name": "web-team"})).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    assert_eq!(group["source"], "local");
    let group_id = group["id"].as_str().unwrap().to_string();
    let (status, group) = app
        .call(
            Method::PATCH,
            &format!("/api/groups/{group_id}"),
            Some(json!({"members": [gus_id]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{group}");
    assert_eq!(group["members"][0]["username"], "gus");
    let by_group = grant(&app, json!({"group_id": group_id}), "viewer", "tag:web").await;
    assert_eq!(gus.platform_names().await, ["web1"]);
    let (status, body) = gus
        .post(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [web1]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], "requires role operator");

    // Operator on tag:web of their own: the highest grant that matches wins.
    let own = grant(&app, json!({"user_id": gus_id}), "operator", "tag:web").await;
    let (status, body) = gus
        .post(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [web1]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = gus
        .post("/api/tasks", json!({"kind": "scan", "platform_ids": [db1]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // An API token is capped at its role but keeps the user's scope.
    let (status, body) = gus
        .post("/api/tokens", json!({"name": "ci", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "role");
    let (status, token) = gus
        .post("/api/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let ci = Caller {
        app: &app,
        token: token["token"].as_str().unwrap().to_string(),
    };
    assert_eq!(ci.platform_names().await, ["web1"]);
    let (status, _) = ci
        .post(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [web1]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deleting a grant takes effect at the next request of the same session.
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/grants/{own}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = gus
        .post(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [web1]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        gus.platform_names().await,
        ["web1"],
        "the group's grant stays"
    );
    // Leaving the group takes its grant away too.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/groups/{group_id}"),
            Some(json!({"members": []})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(gus.get("/api/platforms").await.0, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/grants/{by_group}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/groups/{group_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Every change is audited.
    let audit = app.get("/api/audit?limit=200").await.to_string();
    for action in [
        "group.create",
        "group.update",
        "group.delete",
        "grant.create",
        "grant.delete",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }

    // Bad input is a 422 naming the field.
    for (body, field) in [
        (
            json!({"user_id": gus_id, "role": "root", "selector": "all"}),
            "role",
        ),
        (
            json!({"user_id": gus_id, "role": "viewer", "selector": "tag:web and"}),
            "selector",
        ),
        (
            json!({"user_id": gus_id, "role": "viewer", "selector": " "}),
            "selector",
        ),
        (json!({"role": "viewer", "selector": "all"}), "user_id"),
        (
            json!({"user_id": "nope", "role": "viewer", "selector": "all"}),
            "user_id",
        ),
        (
            json!({"user_id": web1, "role": "viewer", "selector": "all"}),
            "user_id",
        ),
        (
            json!({"user_id": gus_id, "group_id": gus_id, "role": "viewer", "selector": "all"}),
            "group_id",
        ),
    ] {
        let (status, problem) = app.post("/api/grants", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    let (status, problem) = app.post("/api/groups", json!({"name": ""})).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("name"))
    );
    let (_, other) = app.post("/api/groups", json!({"name": "Ops"})).await;
    let (status, _) = app.post("/api/groups", json!({"name": "ops"})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "group names are unique whatever their case"
    );
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/api/groups/{}", other["id"].as_str().unwrap()),
            Some(json!({"members": [gus_id, "nope", web1]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        names(&problem["errors"], "field"),
        ["members[1]", "members[2]"]
    );
    // A grant's selector is stored in canonical form.
    let id = grant(
        &app,
        json!({"user_id": gus_id}),
        "viewer",
        "tag:web  or  env=prod",
    )
    .await;
    let listed = app.get(&format!("/api/grants?user_id={gus_id}")).await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["items"][0]["selector"], "tag:web or tag:env=prod");
    assert_eq!(listed["items"][0]["username"], "gus");
}

#[tokio::test]
async fn fleet_wide_routes_refuse_an_admin_on_part_of_the_fleet() {
    let app = TestApp::start().await;
    let web1 = unreachable(&app, "web1", "web").await;
    let db1 = unreachable(&app, "db1", "db").await;
    let (ada, ada_id) = user(&app, "ada", json!("viewer")).await;
    grant(&app, json!({"user_id": ada_id}), "admin", "tag:web").await;
    let whole_fleet = "requires role admin on the whole fleet; your grants cover only part of it";
    for (method, path) in [
        (Method::GET, "/api/users"),
        (Method::GET, "/api/groups"),
        (Method::POST, "/api/groups"),
        (Method::GET, "/api/grants"),
        (Method::POST, "/api/grants"),
        (Method::GET, "/api/notifications"),
    ] {
        let body = (method == Method::POST).then(|| json!({}));
        let (status, problem) = ada.call(method.clone(), path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
        assert_eq!(problem["detail"], whole_fleet, "{method} {path}");
    }
    // She reads the whole fleet and the audit log (viewer everywhere) ...
    assert_eq!(ada.platform_names().await, ["db1", "web1"]);
    assert_eq!(ada.get("/api/audit").await.0, StatusCode::OK);
    // ... and decides trust on web hosts only.
    let trust = |id: &str| format!("/api/platforms/{id}/host_key/trust");
    let (status, body) = ada.post(&trust(&web1), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = ada.post(&trust(&db1), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "requires role admin on db1: this platform is outside your grants"
    );
}

/// A schedule fires with its creator's grants: made by an operator on `tag:web`, it creates no
/// task once its selector picks a platform out of their scope, and says which.
#[tokio::test]
async fn a_schedule_fires_only_within_its_creators_grants() {
    let app = TestApp::start().await;
    unreachable(&app, "web1", "web").await;
    let (sam, sam_id) = user(&app, "sam", Value::Null).await;
    grant(&app, json!({"user_id": sam_id}), "operator", "tag:web").await;
    let schedule = |selector: &str| {
        json!({"name": format!("hourly {selector}"), "cron": "0 * * * *", "kind": "scan",
               "selector": selector})
    };
    let (status, body) = sam.post("/api/schedules", schedule("all")).await;
    assert_eq!(status, StatusCode::CREATED, "only web1 exists yet: {body}");
    // A db host appears: the next firing of "all" is refused, naming it.
    unreachable(&app, "db1", "db").await;
    let (status, body) = sam.post("/api/schedules", schedule("name:*1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
    let fired = testum::schedule::fire_due(app.store(), at("2099-01-01T01:00:00Z"))
        .await
        .unwrap();
    let outcome = fired.iter().find(|f| f.schedule == "hourly all").unwrap();
    assert_eq!(
        outcome.outcome.clone().unwrap_err(),
        "its creator \"sam\": requires role operator on db1: this platform is outside your grants"
    );
    // Another operator may not edit sam's schedule to borrow sam's rights, nor delete it.
    let (other, other_id) = user(&app, "olive", Value::Null).await;
    grant(
        &app,
        json!({"user_id": other_id}),
        "operator",
        "all and not tag:db",
    )
    .await;
    let (_, list) = other.get("/api/schedules").await;
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let (status, body) = other
        .call(
            Method::PATCH,
            &format!("/api/schedules/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

/// The trial's two escapes, now refused: pointing a platform (and its stored password) at another
/// address, and renaming or retagging a platform into the scope of a stronger grant.
#[tokio::test]
async fn an_edit_neither_moves_a_credential_nor_raises_its_editors_role() {
    let app = TestApp::start().await;
    let web4 = unreachable(&app, "web4", "web").await;
    let web5 = unreachable(&app, "web5", "web").await;
    let (wendy, wendy_id) = user(&app, "wendy", Value::Null).await;
    grant(&app, json!({"user_id": wendy_id}), "operator", "tag:web").await;
    grant(&app, json!({"user_id": wendy_id}), "admin", "name:web5").await;
    let path = format!("/api/platforms/{web4}");

    // Another port, host or login for the stored password: refused, naming each field.
    let (status, body) = wendy
        .call(
            Method::PATCH,
            &path,
            Some(json!({"port": common::closed_port(), "host": "127.0.0.2"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(names(&body["errors"], "field"), ["host", "port"]);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("credential again")
    );
    let after = app.get(&path).await;
    assert_eq!(after["host"], "127.0.0.1");
    // With a credential of her own for the new address, the move is hers to make; the same
    // values again are no move at all.
    let (status, body) = wendy
        .call(
            Method::PATCH,
            &path,
            Some(
                json!({"port": common::closed_port(), "auth_method": "password",
                        "password": "wendy's own"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = wendy
        .call(Method::PATCH, &path, Some(json!({"host": "127.0.0.1"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Admin on name:web5 does not travel with the name.
    let (status, body) = wendy
        .call(
            Method::PATCH,
            &format!("/api/platforms/{web5}"),
            Some(json!({"name": "web5-old"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = wendy
        .call(Method::PATCH, &path, Some(json!({"name": "web5"})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["detail"],
        "this change would give you role admin on web5, where you hold operator: only someone \
         who holds it already may make it"
    );
    assert_eq!(app.get(&path).await["name"], "web4");

    // A fleet-wide operator moves platforms as before.
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"port": common::closed_port()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
