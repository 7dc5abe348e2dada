//! Schedules, the `sync` task kind and enforced expiry (issue 11), on SQLite and, with
//! `TESTUM_TEST_DATABASE_URL`, PostgreSQL.
//!
//! The scheduler's clock is driven by the tests ([`testum::schedule::fire_due`] and
//! [`testum::schedule::tick`] take `now`): a day of firings runs in seconds, nothing sleeps
//! minutes. Expiry and sync are proved on a real sshd with the real `ssh` client.

use crate::app;
use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use app::TestApp;
use chrono::{DateTime, Utc};
use common::{KeyKind, TestHost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::role::Role;
use testum::schedule::{FiredSchedule, ensure_daily_sync, fire_due, next_firing};
use testum::ssh::{AuthMethod, HostKeyPolicy};
use testum::store::{
    Actor, NewEndpoint, NewPlatform, NewSchedule, NotificationEvent, NotificationFormat,
    PageRequest, PoolConfig, ScheduleKind, Store, TaskFilter, TaskKind, UserPatch,
};
use uuid::Uuid;

/// A fresh database (SQLite file, or a PostgreSQL database) with no service and no worker: only
/// the test's calls fire anything. The URL opens a second store on the same database.
async fn database() -> (Store, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match app::test_database_url().await {
        Some(url) => url,
        None => Store::sqlite_url(&dir.path().join("t.db")),
    };
    let store = Store::open(&url, PoolConfig::default()).await.unwrap();
    (store, url, dir)
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A platform that is never contacted (the tasks stay queued: no worker runs); each manages a
/// file of its own, as two platforms on one file are refused.
async fn platform(store: &Store, name: &str) -> Uuid {
    tagged_platform(store, name, &[]).await
}

async fn tagged_platform(store: &Store, name: &str, tags: &[&str]) -> Uuid {
    let id = Uuid::new_v4();
    store
        .create_platform(
            &Actor::system(),
            NewPlatform {
                id,
                name: name.into(),
                host: "192.0.2.1".into(),
                port: 22,
                username: "deploy".into(),
                auth_method: AuthMethod::Password,
                credential: vec![0; 8],
                host_key_policy: HostKeyPolicy::Tofu,
                host_key_type: None,
                host_key_fingerprint: None,
                authorized_keys_path: format!(".ssh/authorized_keys-{name}"),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                exclusive: false,
            },
        )
        .await
        .unwrap();
    id
}

fn schedule(
    name: &str,
    cron: &str,
    tz: &str,
    kind: ScheduleKind,
    now: DateTime<Utc>,
) -> NewSchedule {
    let mut new = NewSchedule {
        name: name.into(),
        cron: cron.into(),
        time_zone: tz.into(),
        kind,
        selector: "all".into(),
        command: (kind == ScheduleKind::RunCommand).then(|| "uptime".to_string()),
        timeout_s: None,
        concurrency: 10,
        enabled: true,
        next_run_at: None,
    };
    new.next_run_at = next_firing(&new, now);
    new
}

/// Every task in the database, by `created_by`: (count, kinds seen).
async fn tasks_by_creator(store: &Store) -> BTreeMap<String, (usize, Vec<TaskKind>)> {
    let mut out: BTreeMap<String, (usize, Vec<TaskKind>)> = BTreeMap::new();
    let mut page = PageRequest {
        limit: 500,
        cursor: None,
    };
    loop {
        let tasks = store
            .list_tasks(&TaskFilter::default(), &page)
            .await
            .unwrap();
        for task in &tasks.items {
            let entry = out.entry(task.created_by.clone()).or_default();
            entry.0 += 1;
            if !entry.1.contains(&task.kind) {
                entry.1.push(task.kind);
            }
        }
        match tasks
            .next_cursor
            .as_deref()
            .and_then(testum::store::Cursor::decode)
        {
            Some(cursor) => page.cursor = Some(cursor),
            None => return out,
        }
    }
}

fn created(fired: &[FiredSchedule]) -> usize {
    fired.iter().filter(|f| f.outcome.is_ok()).count()
}

/// End (cancel) the tasks these firings created, as a worker would have run them: a schedule
/// whose previous task has not ended skips its next firing.
async fn end(store: &Store, fired: &[FiredSchedule]) {
    for task in fired.iter().filter_map(|f| f.outcome.as_ref().ok()) {
        store.cancel_task(&Actor::system(), *task).await.unwrap();
    }
}

#[tokio::test]
async fn a_schedule_fires_on_time_once_and_names_itself_on_the_task() {
    let (store, _url, _dir) = database().await;
    let web = platform(&store, "web1").await;
    let start = at("2026-12-01T00:00:00Z");
    let made = store
        .create_schedule(
            &Actor::system(),
            &schedule(
                "quarterly",
                "*/15 * * * *",
                "UTC",
                ScheduleKind::Scan,
                start,
            ),
            false,
        )
        .await
        .unwrap();
    assert_eq!(made.next_run_at, Some(at("2026-12-01T00:15:00Z")));

    assert!(
        fire_due(&store, at("2026-12-01T00:14:59Z"))
            .await
            .unwrap()
            .is_empty()
    );
    let fired = fire_due(&store, at("2026-12-01T00:15:00Z")).await.unwrap();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let task_id = fired[0].outcome.clone().unwrap();
    // The same moment again, or a little later: no second task.
    assert!(
        fire_due(&store, at("2026-12-01T00:15:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        fire_due(&store, at("2026-12-01T00:29:59Z"))
            .await
            .unwrap()
            .is_empty()
    );

    let task = store.get_task(task_id).await.unwrap().unwrap();
    assert_eq!(task.created_by, "schedule:quarterly");
    assert_eq!(task.kind, TaskKind::Scan);
    assert_eq!(task.targets.len(), 1);
    assert_eq!(task.targets[0].platform_id, web);
    let after = store.get_schedule(made.id).await.unwrap().unwrap();
    assert_eq!(after.last_run_at, Some(at("2026-12-01T00:15:00Z")));
    assert_eq!(after.last_task_id, Some(task_id));
    assert_eq!(after.last_result.map(|s| s.as_str()), Some("queued"));
    assert_eq!(after.last_error, None);
    assert_eq!(after.next_run_at, Some(at("2026-12-01T00:30:00Z")));

    // Disabled: never due.
    let mut off = schedule(
        "quarterly",
        "*/15 * * * *",
        "UTC",
        ScheduleKind::Scan,
        start,
    );
    off.enabled = false;
    off.next_run_at = None;
    store
        .update_schedule(&Actor::system(), made.id, &off)
        .await
        .unwrap();
    assert!(
        fire_due(&store, at("2026-12-02T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A day of a fleet, compressed: the clock steps through 24 hours a minute at a time and every
/// schedule creates exactly the tasks its cron expression says; the one whose selector picks
/// nothing queues one `schedule.failed` webhook delivery per firing.
#[tokio::test]
async fn a_day_of_the_fleet_compressed() {
    let (store, _url, _dir) = database().await;
    for name in ["web1", "web2", "db1"] {
        platform(&store, name).await;
    }
    // A webhook endpoint for every event (no sender runs here: the deliveries stay queued, so
    // its sealed target is never opened).
    let endpoint = Uuid::new_v4();
    store
        .create_notification_endpoint(
            &Actor::system(),
            NewEndpoint {
                id: endpoint,
                name: "ops".into(),
                url_origin: "http://127.0.0.1:9".into(),
                sealed: vec![0],
                has_secret: false,
                events: NotificationEvent::ALL.to_vec(),
                format: NotificationFormat::Json,
                enabled: true,
            },
        )
        .await
        .unwrap();
    // Tuesday 2026-12-01, midnight UTC.
    let start = at("2026-12-01T00:00:00Z");
    ensure_daily_sync(&store, "0 3 * * *", start).await.unwrap();
    for new in [
        schedule("scan-15m", "*/15 * * * *", "UTC", ScheduleKind::Scan, start),
        schedule(
            "uptime-hourly",
            "0 * * * *",
            "UTC",
            ScheduleKind::RunCommand,
            start,
        ),
        // 09:30 in Berlin is 08:30 UTC in December.
        schedule(
            "weekday-morning",
            "30 9 * * mon-fri",
            "Europe/Berlin",
            ScheduleKind::Sync,
            start,
        ),
        // No platform is tagged `retired` any more: each firing fails and says so.
        NewSchedule {
            selector: "tag:retired".into(),
            ..schedule(
                "retired-cleanup",
                "0 2 * * *",
                "UTC",
                ScheduleKind::Sync,
                start,
            )
        },
        schedule(
            "weekend-noon",
            "0 12 * * sat,sun",
            "UTC",
            ScheduleKind::Scan,
            start,
        ),
    ] {
        store
            .create_schedule(&Actor::system(), &new, false)
            .await
            .unwrap();
    }
    let mut fired_at: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for minute in 1..=24 * 60 {
        let now = start + chrono::Duration::minutes(minute);
        let fired = fire_due(&store, now).await.unwrap();
        end(&store, &fired).await;
        for fired in fired {
            assert_eq!(
                fired.outcome.is_ok(),
                fired.schedule != "retired-cleanup",
                "{fired:?}"
            );
            fired_at.entry(fired.schedule).or_default().push(now);
        }
    }
    let counts: BTreeMap<&str, usize> = fired_at
        .iter()
        .map(|(k, v)| (k.as_str(), v.len()))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("daily-sync", 1),
            ("retired-cleanup", 1),
            ("scan-15m", 96),
            ("uptime-hourly", 24),
            ("weekday-morning", 1),
        ])
    );
    assert_eq!(fired_at["daily-sync"], vec![at("2026-12-01T03:00:00Z")]);
    assert_eq!(
        fired_at["weekday-morning"],
        vec![at("2026-12-01T08:30:00Z")]
    );
    // The tasks in the database say the same, each created by its schedule.
    let tasks = tasks_by_creator(&store).await;
    let summary: BTreeMap<&str, (usize, Vec<TaskKind>)> =
        tasks.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    assert_eq!(
        summary,
        BTreeMap::from([
            ("schedule:daily-sync", (1, vec![TaskKind::Sync])),
            ("schedule:scan-15m", (96, vec![TaskKind::Scan])),
            ("schedule:uptime-hourly", (24, vec![TaskKind::RunCommand])),
            ("schedule:weekday-morning", (1, vec![TaskKind::Sync])),
        ])
    );
    // The webhook deliveries the day queued: one per failed firing, none for the rest (tasks
    // that no worker ran have not ended, so no task.* event yet).
    let all = PageRequest {
        limit: 100,
        cursor: None,
    };
    let deliveries = store.list_deliveries(endpoint, &all).await.unwrap().items;
    let events: Vec<&str> = deliveries.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(events, vec!["schedule.failed"]);
    let payload: Value = serde_json::from_str(&deliveries[0].body).unwrap();
    assert_eq!(payload["schedule"], "retired-cleanup", "{payload}");
    println!("a day of the fleet: {counts:?}; webhook deliveries: {events:?} {payload}");
}

#[tokio::test]
async fn a_firing_missed_while_down_runs_once_at_start() {
    let (store, url, _dir) = database().await;
    platform(&store, "web1").await;
    let start = at("2026-12-01T00:00:00Z");
    let made = store
        .create_schedule(
            &Actor::system(),
            &schedule("hourly", "0 * * * *", "UTC", ScheduleKind::Scan, start),
            false,
        )
        .await
        .unwrap();
    let first = fire_due(&store, at("2026-12-01T01:00:00Z")).await.unwrap();
    assert_eq!(created(&first), 1);
    end(&store, &first).await;
    // Everything is down from 01:00:30 to 05:30: four firings are missed.
    store.close().await;
    let store = Store::open(&url, PoolConfig::default()).await.unwrap();
    let fired = fire_due(&store, at("2026-12-01T05:30:00Z")).await.unwrap();
    assert_eq!(
        created(&fired),
        1,
        "one firing for all the missed ones: {fired:?}"
    );
    assert!(
        fire_due(&store, at("2026-12-01T05:30:01Z"))
            .await
            .unwrap()
            .is_empty()
    );
    let after = store.get_schedule(made.id).await.unwrap().unwrap();
    assert_eq!(after.next_run_at, Some(at("2026-12-01T06:00:00Z")));
    assert_eq!(tasks_by_creator(&store).await["schedule:hourly"].0, 2);
}

/// Two processes (two stores on one database) fire the same due schedules at the same moments:
/// every firing creates exactly one task.
#[tokio::test]
async fn concurrent_schedulers_fire_each_firing_exactly_once() {
    let (store, url, _dir) = database().await;
    let other = Store::open(&url, PoolConfig::default()).await.unwrap();
    platform(&store, "web1").await;
    let start = at("2026-12-01T00:00:00Z");
    for i in 0..20 {
        store
            .create_schedule(
                &Actor::system(),
                &schedule(
                    &format!("s{i:02}"),
                    "* * * * *",
                    "UTC",
                    ScheduleKind::Scan,
                    start,
                ),
                false,
            )
            .await
            .unwrap();
    }
    let mut total = 0;
    for minute in 1..=5 {
        let now = start + chrono::Duration::minutes(minute);
        let (a, b) = tokio::join!(fire_due(&store, now), fire_due(&other, now));
        let (a, b) = (a.unwrap(), b.unwrap());
        end(&store, &a).await;
        end(&store, &b).await;
        assert_eq!(
            created(&a) + created(&b),
            20,
            "minute {minute}: {a:?} {b:?}"
        );
        total += created(&a) + created(&b);
    }
    assert_eq!(total, 100);
    let tasks = tasks_by_creator(&store).await;
    assert_eq!(tasks.len(), 20);
    assert!(tasks.values().all(|(n, _)| *n == 5), "{tasks:?}");
}

#[tokio::test]
async fn a_firing_that_cannot_create_its_task_records_why_and_moves_on() {
    let (store, _url, _dir) = database().await;
    // No platform at all: the selector matches nothing.
    let start = at("2026-12-01T00:00:00Z");
    let made = store
        .create_schedule(
            &Actor::system(),
            &schedule("empty", "0 * * * *", "UTC", ScheduleKind::Sync, start),
            false,
        )
        .await
        .unwrap();
    let fired = fire_due(&store, at("2026-12-01T01:00:00Z")).await.unwrap();
    assert_eq!(fired.len(), 1);
    let error = fired[0].outcome.clone().unwrap_err();
    assert!(error.contains("matches no platform"), "{error}");
    let after = store.get_schedule(made.id).await.unwrap().unwrap();
    assert_eq!(after.last_error.as_deref(), Some(error.as_str()));
    assert_eq!(after.last_task_id, None);
    assert_eq!(after.next_run_at, Some(at("2026-12-01T02:00:00Z")));
    assert!(tasks_by_creator(&store).await.is_empty());
}

/// The selector is resolved at each firing: a platform added later is in the next task.
#[tokio::test]
async fn a_firing_targets_what_its_selector_picks_at_that_moment() {
    let (store, _url, _dir) = database().await;
    let web1 = tagged_platform(&store, "web1", &["web", "env=prod"]).await;
    tagged_platform(&store, "db1", &["db", "env=prod"]).await;
    let start = at("2026-12-01T00:00:00Z");
    let mut web = schedule("web-hourly", "0 * * * *", "UTC", ScheduleKind::Scan, start);
    web.selector = "tag:web and env=prod".into();
    let mut nothing = schedule("nothing", "0 * * * *", "UTC", ScheduleKind::Scan, start);
    nothing.selector = "tag:mainframe".into();
    for new in [&web, &nothing] {
        store
            .create_schedule(&Actor::system(), new, false)
            .await
            .unwrap();
    }
    let fired = fire_due(&store, at("2026-12-01T01:00:00Z")).await.unwrap();
    let by_name: BTreeMap<_, _> = fired
        .iter()
        .map(|f| (f.schedule.as_str(), &f.outcome))
        .collect();
    let task = store
        .get_task(by_name["web-hourly"].clone().unwrap())
        .await
        .unwrap()
        .unwrap();
    let targets: Vec<Uuid> = task.targets.iter().map(|t| t.platform_id).collect();
    assert_eq!(targets, vec![web1]);
    let error = by_name["nothing"].clone().unwrap_err();
    assert!(error.contains("matches no platform"), "{error}");
    end(&store, &fired).await;
    let web2 = tagged_platform(&store, "web2", &["web", "env=prod"]).await;
    let fired = fire_due(&store, at("2026-12-01T02:00:00Z")).await.unwrap();
    let task = fired.iter().find(|f| f.schedule == "web-hourly").unwrap();
    let task = store
        .get_task(task.outcome.clone().unwrap())
        .await
        .unwrap()
        .unwrap();
    let targets: Vec<Uuid> = task.targets.iter().map(|t| t.platform_id).collect();
    assert_eq!(targets, vec![web1, web2]);
}

/// A firing creates no task while the previous firing's task runs, nor once the schedule's
/// creator is disabled; each time it says why and the schedule moves on to its next firing.
#[tokio::test]
async fn a_firing_is_skipped_while_the_last_runs_and_once_its_creator_is_disabled() {
    let (store, _url, _dir) = database().await;
    platform(&store, "web1").await;
    let admin = Actor::system();
    let op = store
        .create_user(&admin, "op1", "not-a-hash", Role::Operator)
        .await
        .unwrap();
    let op_actor = Actor {
        user_id: Some(op.id),
        name: "op1".into(),
    };
    let start = at("2026-12-01T00:00:00Z");
    store
        .create_schedule(
            &op_actor,
            &schedule("hourly", "0 * * * *", "UTC", ScheduleKind::Scan, start),
            false,
        )
        .await
        .unwrap();
    let first = fire_due(&store, at("2026-12-01T01:00:00Z")).await.unwrap();
    assert_eq!(created(&first), 1, "{first:?}");
    // The 01:00 scan still runs at 02:00 and at 03:00: no second one beside it, however many
    // firings it outlasts.
    for hour in ["02", "03"] {
        let skipped = fire_due(&store, at(&format!("2026-12-01T{hour}:00:00Z")))
            .await
            .unwrap();
        let error = skipped[0].outcome.clone().unwrap_err();
        assert!(error.contains("still queued"), "{hour}:00 {error}");
    }
    end(&store, &first).await;
    let third = fire_due(&store, at("2026-12-01T03:30:00Z")).await;
    assert!(third.unwrap().is_empty(), "hourly: nothing due at 03:30");
    let third = fire_due(&store, at("2026-12-01T04:00:00Z")).await.unwrap();
    assert_eq!(created(&third), 1, "{third:?}");
    end(&store, &third).await;
    // op1 leaves: the schedule stops acting with op1's rights.
    store
        .update_user(
            &admin,
            op.id,
            UserPatch {
                disabled: Some(true),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap();
    let fourth = fire_due(&store, at("2026-12-01T05:00:00Z")).await.unwrap();
    let error = fourth[0].outcome.clone().unwrap_err();
    assert!(error.contains("\"op1\" is disabled"), "{error}");
    // Deleted, then someone else gets the name: still not the schedule's creator.
    store.delete_user(&admin, op.id).await.unwrap();
    store
        .create_user(&admin, "op1", "not-a-hash", Role::Operator)
        .await
        .unwrap();
    let fifth = fire_due(&store, at("2026-12-01T06:00:00Z")).await.unwrap();
    let error = fifth[0].outcome.clone().unwrap_err();
    assert!(error.contains("\"op1\" was deleted"), "{error}");
    assert_eq!(tasks_by_creator(&store).await["schedule:hourly"].0, 2);
}

#[tokio::test]
async fn the_daily_sync_follows_its_setting() {
    let (store, _url, _dir) = database().await;
    let now = at("2026-12-01T10:00:00Z");
    ensure_daily_sync(&store, "0 3 * * *", now).await.unwrap();
    let daily = store.schedule_by_name("daily-sync").await.unwrap().unwrap();
    assert!(daily.builtin && daily.enabled);
    assert_eq!(
        (daily.kind, daily.selector.as_str()),
        (ScheduleKind::Sync, "all")
    );
    assert_eq!(daily.next_run_at, Some(at("2026-12-02T03:00:00Z")));
    ensure_daily_sync(&store, "30 1 * * *", now).await.unwrap();
    let daily = store.schedule_by_name("daily-sync").await.unwrap().unwrap();
    assert_eq!(daily.next_run_at, Some(at("2026-12-02T01:30:00Z")));
    ensure_daily_sync(&store, "off", now).await.unwrap();
    let daily = store.schedule_by_name("daily-sync").await.unwrap().unwrap();
    assert!(!daily.enabled);
    assert_eq!(daily.next_run_at, None);
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, body).await
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_schedules_api_validates_and_audits() {
    let app = TestApp::start().await;
    let good = json!({"name": "nightly-uptime", "cron": "0 2 * * *", "time_zone": "Europe/Berlin",
                      "kind": "run_command", "selector": "all", "command": "uptime"});
    for (change, field) in [
        (json!({"cron": "0 2 * *"}), "cron"),
        (json!({"cron": "61 2 * * *"}), "cron"),
        (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
        (json!({"kind": "deploy_keys"}), "kind"),
        (json!({"command": null}), "command"),
        (json!({"selector": ""}), "selector"),
        (json!({"selector": "tag:web and ("}), "selector"),
        (json!({"selector": "colour:blue"}), "selector"),
        (json!({"concurrency": 0}), "concurrency"),
        (json!({"timeout_s": 0}), "timeout_s"),
        (json!({"name": ""}), "name"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, problem) = call(&app, Method::POST, "/api/schedules", Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{change}: {problem}"
        );
        assert!(
            fields(&problem).contains(&field.to_string()),
            "{change}: {problem}"
        );
    }
    // A selector error says where and why.
    let mut body = good.clone();
    body["selector"] = json!("tag:web and (");
    let (_, problem) = call(&app, Method::POST, "/api/schedules", Some(body)).await;
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("at position 14: "), "{problem}");
    // A scan takes no command.
    let (status, problem) = call(
        &app,
        Method::POST,
        "/api/schedules",
        Some(
            json!({"name": "s", "cron": "0 2 * * *", "kind": "scan", "selector": "all",
                    "command": "ls"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), vec!["command"]);

    let (status, made) = call(&app, Method::POST, "/api/schedules", Some(good.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["time_zone"], "Europe/Berlin");
    assert_eq!(made["selector"], "all");
    assert!(made["next_run_at"].is_string(), "{made}");
    assert_eq!(made["enabled"], true);
    assert_eq!(made["last_task_id"], Value::Null);
    let id = made["id"].as_str().unwrap();
    let (status, _) = call(&app, Method::POST, "/api/schedules", Some(good.clone())).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a second schedule of the same name"
    );

    let (status, off) = call(
        &app,
        Method::PATCH,
        &format!("/api/schedules/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{off}");
    assert_eq!(off["next_run_at"], Value::Null);
    assert_eq!(off["command"], "uptime");
    let (status, problem) = call(
        &app,
        Method::PATCH,
        &format!("/api/schedules/{id}"),
        Some(json!({"cron": "every day"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), vec!["cron"]);
    // Changing the kind to scan drops the command.
    let (status, scan) = call(
        &app,
        Method::PATCH,
        &format!("/api/schedules/{id}"),
        Some(json!({"kind": "scan", "enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{scan}");
    assert_eq!(scan["command"], Value::Null);
    assert!(scan["next_run_at"].is_string());

    let list = app.get("/api/schedules").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"nightly-uptime") && names.contains(&"daily-sync"),
        "{list}"
    );
    let daily = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "daily-sync")
        .unwrap();
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/schedules/{}", daily["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the built-in schedule is not deleted"
    );

    let (status, _) = call(&app, Method::DELETE, &format!("/api/schedules/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, Method::GET, &format!("/api/schedules/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = app.get("/api/audit?limit=100").await.to_string();
    for action in ["schedule.create", "schedule.update", "schedule.delete"] {
        assert!(audit.contains(action), "{action} not audited");
    }

    // The sync kind through POST /api/tasks takes no keys or command.
    let (status, problem) = app
        .post(
            "/api/tasks",
            json!({"kind": "sync", "platform_ids": [Uuid::new_v4()], "key_ids": [Uuid::new_v4()],
                   "command": "ls"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut got = fields(&problem);
    got.sort();
    assert_eq!(got, vec!["command", "key_ids"], "{problem}");
}

async fn add_platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

/// `sync` puts back what was taken off the host by hand, changes no assignment, and a second
/// sync changes nothing (it is idempotent, so a lost worker's sync is simply run again).
#[tokio::test]
async fn sync_converges_a_platform_on_its_assignments() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(host.ssh_login_works(&client));
    // Someone empties the file by hand.
    host.user.write_file(".ssh/authorized_keys", b"", 0o600);
    assert!(!host.ssh_login_works(&client));

    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "sync", "platform_ids": [platform]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["kind"], "sync");
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    assert!(
        host.ssh_login_works(&client),
        "sync did not put the key back"
    );
    let again = app
        .run_task(
            "/api/tasks",
            json!({"kind": "sync", "platform_ids": [platform]}),
        )
        .await;
    assert_eq!(again["targets"][0]["changed"], false, "{again}");
    let assigned = app.get(&format!("/api/platforms/{platform}/keys")).await;
    assert_eq!(assigned["items"].as_array().unwrap().len(), 1, "{assigned}");
    assert_eq!(assigned["items"][0]["sync_status"], "present");
    // The sync recorded a scan of the file it wrote.
    let shown = app.get(&format!("/api/platforms/{platform}")).await;
    assert_eq!(shown["state"], "in_sync", "{shown}");
}

/// A key that expires while the service runs is taken off the host by a `sync` task created by
/// `expiry`, and the real `ssh` client can no longer log in with it.
#[tokio::test]
async fn an_expired_key_is_removed_from_the_host() {
    let host = TestHost::start();
    let app = TestApp::start_with(|config| {
        config.settings.scheduler.scheduler_interval_secs = 1;
    })
    .await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let expires_at = Utc::now() + chrono::Duration::seconds(8);
    let (status, key) = app
        .post(
            "/api/keys",
            json!({"name": "temp", "public_key": client.public_line, "owner": "contractor",
                   "expires_at": expires_at}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["id"].as_str().unwrap().to_string();
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(
        host.ssh_login_works(&client),
        "the key logs in before it expires"
    );
    let expiring = app.get("/api/keys?expiring_within_days=1").await;
    assert_eq!(expiring["items"][0]["id"], key.as_str(), "{expiring}");
    let (status, problem) = app
        .call(Method::GET, "/api/keys?expiring_within_days=soon", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), vec!["expiring_within_days"]);

    // Within a minute of expires_at (here: a loop of 1 s), the login is refused.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while host.ssh_login_works(&client) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired key still logs in a minute later"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(Utc::now() >= expires_at, "refused before it expired");
    let file = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    let blob = client.public_line.split_whitespace().nth(1).unwrap();
    assert!(!file.contains(blob), "the key is still in the file: {file}");
    let tasks = app.get("/api/tasks?kind=sync").await;
    let expiry_task = tasks["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["created_by"] == "expiry")
        .unwrap_or_else(|| panic!("no sync task by expiry: {tasks}"));
    let expiry_task = app.wait_task(expiry_task["id"].as_str().unwrap()).await;
    assert_eq!(expiry_task["status"], "succeeded", "{expiry_task}");
    let assigned = app.get(&format!("/api/platforms/{platform}/keys")).await;
    assert_eq!(assigned["items"][0]["sync_status"], "expired", "{assigned}");
    let audit = app.get("/api/audit?action=key.expired").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "once: {audit}");
    assert_eq!(audit["items"][0]["actor"], "expiry");
    // Deploying it again is refused: a sync would leave it out and call that a success.
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), vec!["key_ids"]);
    assert!(problem.to_string().contains("expired at"), "{problem}");
    // Only once, however long the loop keeps running.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let audit = app.get("/api/audit?action=key.expired").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "once: {audit}");
}

/// An assignment's own `expiry-time` option is enforced the same way: the line leaves the host.
#[tokio::test]
async fn an_expired_assignment_is_removed_from_the_host() {
    let host = TestHost::start();
    let app = TestApp::start_with(|config| {
        config.settings.scheduler.scheduler_interval_secs = 1;
    })
    .await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("bob", &client.public_line).await;
    let expiry = (Utc::now() + chrono::Duration::seconds(6))
        .format("%Y%m%d%H%M%SZ")
        .to_string();
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key], "options": {key.as_str(): {"expiry-time": expiry}}}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let blob = client
        .public_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let file = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
        if !file.contains(&blob) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired assignment is still on the host: {file}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(!host.ssh_login_works(&client));
    let audit = app.get("/api/audit?action=key.expired").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["items"][0]["details"]["platform_name"], "web1");
}

/// The Schedules page lists each schedule with its next firing, its last result linked to the
/// task, and its last error.
#[tokio::test]
async fn the_schedules_page_shows_next_firing_last_result_and_error() {
    let app = TestApp::start().await;
    let (status, broken) = app
        .post(
            "/api/schedules",
            json!({"name": "nightly-scan", "cron": "0 1 * * *", "kind": "scan", "selector": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{broken}");
    let due = at(broken["next_run_at"].as_str().unwrap());
    // No platform yet: the firing records an error.
    let fired = fire_due(app.store(), due).await.unwrap();
    assert!(
        fired
            .iter()
            .any(|f| f.schedule == "nightly-scan" && f.outcome.is_err()),
        "{fired:?}"
    );
    app.add_password_platform("web1", common::closed_port(), "deploy", "pw")
        .await;
    let next = due + chrono::Duration::days(1);
    let fired = fire_due(app.store(), next).await.unwrap();
    let task = fired
        .iter()
        .find(|f| f.schedule == "nightly-scan")
        .and_then(|f| f.outcome.clone().ok())
        .expect("a task at the second firing");

    let form =
        serde_urlencoded::to_string([("username", "admin"), ("password", app::ADMIN_PASSWORD)])
            .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = browser
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = app::ui_page(&browser, &format!("{}/ui/schedules", app.base), &cookie).await;
    assert!(
        page.contains(r#"href="/ui/schedules" aria-current="page""#),
        "{page}"
    );
    assert!(
        page.contains("nightly-scan") && page.contains("daily-sync"),
        "{page}"
    );
    assert!(
        page.contains(&format!("/ui/tasks/{task}")),
        "last result links the task: {page}"
    );
    assert!(
        page.contains(r#"id="add-schedule""#),
        "the admin gets the form"
    );
    assert!(page.contains("Disable"), "{page}");
    // The error of the first firing was replaced by the second's success.
    assert!(!page.contains("matches no platform"), "{page}");
    let schedules = app.get("/api/schedules").await;
    let shown = schedules["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nightly-scan")
        .unwrap();
    assert_eq!(shown["last_task_id"], task.to_string());
    assert!(shown["last_result"].is_string(), "{shown}");
}
