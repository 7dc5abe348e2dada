//! The keys and audit pages at fleet scale, in a real Chromium against the real service and a
//! real sshd: key search and owner filter (in the URL), expiry badges, the key picker of the
//! deploy and revoke forms (typing, ticking, chips, keyboard, expired keys refused for deploy),
//! where a key is and revoking it everywhere; the audit log's substring and date filters, target
//! names and links, and its CSV download. Plus the API behind them (`GET /api/keys?q=&owner=`,
//! `GET /api/audit?*_contains=&format=csv`) and its 422s. Screenshots: `ui-keys.png`,
//! `ui-key-picker.png`, `ui-key-where.png`, `ui-audit.png` (see `browser::screenshot_dir`).

use fantoccini::key::Key;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app::{ADMIN_PASSWORD, TestApp};
use crate::browser::Browser;
use crate::common::{ClientKey, KeyKind, TestHost, closed_port};
use crate::ui_browser::{count, sign_in};

/// The `field` of every error of a 422 answer.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// The names of the items of a list answer.
fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect()
}

/// Register `name` (owner `owner`, expiring at `expires_at` when given); its id and key pair.
async fn key(
    app: &TestApp,
    name: &str,
    owner: &str,
    expires_at: Option<String>,
) -> (String, ClientKey) {
    let pair = ClientKey::generate(KeyKind::Ed25519, None);
    let mut body = json!({"name": name, "public_key": pair.public_line, "owner": owner});
    if let Some(at) = expires_at {
        body["expires_at"] = json!(at);
    }
    let (status, created) = app.post("/api/keys", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["id"].as_str().unwrap().to_string(), pair)
}

/// An RFC 3339 time `days` from now.
fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread")]
async fn key_search_owner_filter_and_their_errors_in_the_api() {
    let app = TestApp::start().await;
    let (_, laptop) = key(&app, "Alice-Laptop", "alice", None).await;
    key(&app, "alice-old", "alice", None).await;
    key(&app, "bob-desk", "bob", None).await;

    // Case-insensitive substring of the name; the owner exactly; both together.
    let found = app.get("/api/keys?q=ALICE").await;
    assert_eq!(names(&found), ["alice-old", "Alice-Laptop"]);
    assert_eq!(names(&app.get("/api/keys?owner=bob").await), ["bob-desk"]);
    assert_eq!(
        names(&app.get("/api/keys?owner=ali").await),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&app.get("/api/keys?q=desk&owner=alice").await),
        Vec::<String>::new()
    );
    // A fingerprint's middle, and `%`/`_` match only themselves.
    let fingerprint = app.get("/api/keys?q=laptop").await["items"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let middle = &fingerprint[10..20];
    let by_print = app.get(&format!("/api/keys?q={}", urlencode(middle))).await;
    assert_eq!(names(&by_print), ["Alice-Laptop"], "{middle}");
    assert_eq!(
        names(&app.get("/api/keys?q=%25").await),
        Vec::<String>::new()
    );
    assert_eq!(names(&app.get("/api/keys?q=_").await), Vec::<String>::new());
    assert!(laptop.public_line.starts_with("ssh-ed25519"));

    // Paging keeps the filter: one key a page, two pages, then none.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/api/keys?q=alice&limit=1{cursor}")).await;
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["alice-old", "Alice-Laptop"]);

    // 422s name the field.
    let long = "x".repeat(201);
    let (status, problem) = app
        .call(reqwest::Method::GET, &format!("/api/keys?q={long}"), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["q"]);
    let (status, problem) = app
        .call(
            reqwest::Method::GET,
            "/api/keys?q=a&expiring_within_days=3",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["expiring_within_days"]);
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)]).unwrap()[2..].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_page_picker_where_and_revoke_everywhere_in_the_browser() {
    let app = TestApp::start().await;
    let host = TestHost::start();
    let base = &app.base;
    let (laptop_id, laptop) = key(
        &app,
        "alice-laptop-with-a-rather-long-name-2026",
        "alice",
        None,
    )
    .await;
    let (old_id, _) = key(&app, "alice-old", "alice", Some(in_days(3))).await;
    let (bob_id, bob) = key(&app, "bob-desk", "bob", None).await;
    let (carol_id, _) = key(&app, "carol-gone", "carol", Some(in_days(30))).await;
    // Carol's key expired yesterday (the API refuses a past expiry, so the test writes it).
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.sql(&format!(
        "UPDATE keys SET expires_at = '{yesterday}' WHERE id = '{carol_id}'"
    ))
    .await;
    // Two platforms on one sshd, each its own file; bob's key is in web-b's by hand.
    let platform = |name: &str, path: &str| {
        json!({"name": name, "host": "127.0.0.1", "port": host.sshd.port(),
               "username": host.user.name, "auth_method": "password",
               "password": host.user.password, "authorized_keys_path": path})
    };
    host.user.write_file(
        ".ssh/b_keys",
        format!("{}\n", bob.public_line).as_bytes(),
        0o600,
    );
    let mut platform_ids = Vec::new();
    for (name, path) in [("web-a", ".ssh/authorized_keys"), ("web-b", ".ssh/b_keys")] {
        let (status, created) = app.post("/api/platforms", platform(name, path)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        platform_ids.push(created["id"].as_str().unwrap().to_string());
    }
    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;

    // Search and owner filter, server-side and in the URL.
    browser.open(&format!("{base}/ui/keys")).await;
    browser.fill("#f-q", "ALICE").await;
    browser.click("#key-filter button[type=submit]").await;
    let rows = browser
        .wait_text("#key-list tbody", |t| {
            t.contains("alice-old") && !t.contains("bob-desk")
        })
        .await;
    assert!(rows.contains("alice-laptop"), "{rows}");
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.query(), Some("q=ALICE&owner="));
    browser.fill("#f-q", "").await;
    browser.fill("#f-owner", "bob").await;
    browser.click("#key-filter button[type=submit]").await;
    browser
        .wait_text("#key-list tbody", |t| {
            t.contains("bob-desk") && !t.contains("alice")
        })
        .await;
    // A bookmarked view opens as it was.
    browser.open(&format!("{base}/ui/keys?owner=carol")).await;
    assert_eq!(count(&browser, "#key-list tbody tr").await, 1);
    assert_eq!(
        browser
            .find("#f-owner")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("carol")
    );

    // Expiry badges, with the threshold said on the page.
    browser.open(&format!("{base}/ui/keys")).await;
    let expiry = |id: &str| format!("#key-list tr[data-key='{id}'] [data-field='expiry']");
    assert!(browser.text(&expiry(&carol_id)).await.ends_with("expired"));
    assert!(
        browser
            .text(&expiry(&old_id))
            .await
            .ends_with("expiring soon")
    );
    assert_eq!(browser.text(&expiry(&bob_id)).await, "never");
    assert!(browser.text("main").await.contains("within 14 days"));

    // Adding a key says so.
    let dave = ClientKey::generate(KeyKind::Ed25519, None);
    browser.fill("#key-name", "dave").await;
    browser.fill("#key-public", &dave.public_line).await;
    browser.click("#add-key button[type=submit]").await;
    browser
        .wait_text(".flash", |t| t == "Key “dave” added.")
        .await;
    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    browser.screenshot("ui-keys").await;

    // The picker: typing searches the registry; an expired key is shown but cannot be ticked.
    browser.open(&format!("{base}/ui/platforms")).await;
    for id in &platform_ids {
        browser.click(&format!("#sel-{id}")).await;
    }
    browser.fill("#deploy-keys", "carol").await;
    browser
        .wait_text("#deploy-keys-list", |t| {
            t.contains("expired: cannot be deployed")
        })
        .await;
    // Read in the page, in one go: each typed letter re-renders the list, so an element found
    // a moment earlier may already be replaced (a stale reference under load).
    let carol_box_disabled = browser
        .client
        .execute(
            "return document.querySelector(arguments[0]).disabled",
            vec![json!(format!(
                "#deploy-keys-list input[value='{carol_id}']"
            ))],
        )
        .await
        .unwrap();
    assert_eq!(carol_box_disabled, json!(true));
    browser.fill("#deploy-keys", "rather-long").await;
    browser
        .wait_text("#deploy-keys-status", |t| t == "1 key(s) shown.")
        .await;
    browser
        .pick_key("deploy-keys", "rather-long", &laptop_id)
        .await;
    // By keyboard: down into the list, space ticks; the chip's button removes it again.
    browser.fill("#deploy-keys", "bob").await;
    // The answer to the whole word: on a slow machine an earlier one (to "bo", typed a key at a
    // time) may list more keys, and the Down below would land on one of them.
    browser
        .wait_text("#deploy-keys-status", |t| t == "1 key(s) shown.")
        .await;
    browser
        .wait_text("#deploy-keys-list", |t| {
            t.contains("bob-desk") && !t.contains("alice")
        })
        .await;
    let down: char = Key::Down.into();
    browser
        .find("#deploy-keys")
        .await
        .send_keys(&down.to_string())
        .await
        .unwrap();
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(focused.attr("value").await.unwrap(), Some(bob_id.clone()));
    focused.send_keys(" ").await.unwrap();
    let bob_chip = format!("#deploy-keys-chosen li[data-key='{bob_id}']");
    browser.find(&bob_chip).await;
    // The full name shows on the chip (not cut off).
    let chips = browser.text("#deploy-keys-chosen").await;
    assert!(
        chips.contains("alice-laptop-with-a-rather-long-name-2026"),
        "{chips}"
    );
    browser.screenshot("ui-key-picker").await;
    browser.click(&format!("{bob_chip} button")).await;
    browser
        .wait_text("#deploy-keys-chosen", |t| !t.contains("bob-desk"))
        .await;
    // At 400 px the picker fits.
    browser.client.set_window_size(400, 900).await.unwrap();
    let wide = browser
        .client
        .execute(
            "return [...document.querySelectorAll('.key-picker, .key-picker *')].filter((e) => \
               e.getBoundingClientRect().right > document.documentElement.clientWidth + 1) \
               .map((e) => e.tagName + '#' + e.id + '.' + e.className)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wide, json!([]), "the picker is wider than 400 px");
    browser.client.set_window_size(1280, 900).await.unwrap();
    browser.click("#deploy button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let file = |path: &str| String::from_utf8(host.user.read_file(path)).unwrap();
    assert!(file(".ssh/authorized_keys").contains(&laptop.public_line));
    assert!(file(".ssh/b_keys").contains(&laptop.public_line));
    assert!(!file(".ssh/authorized_keys").contains(&bob.public_line));

    // Deleting an assigned key fails next to its own button, not under "Add a key".
    browser.open(&format!("{base}/ui/keys")).await;
    browser
        .client
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    let row = format!("#key-list tr[data-key='{laptop_id}']");
    browser.click(&format!("{row} button[data-delete]")).await;
    let error = browser
        .wait_text(&format!("{row} .form-error"), |t| !t.is_empty())
        .await;
    assert!(error.contains("still assigned to 2 platform(s)"), "{error}");
    assert_eq!(browser.text("#add-key .form-error").await, "");

    // Where is bob's key: on no platform by assignment, but web-b's scan found it there.
    browser.open(&format!("{base}/ui/keys/{bob_id}")).await;
    assert_eq!(browser.text("[data-count='present']").await, "0");
    assert_eq!(browser.text("[data-count='unassigned']").await, "1");
    let found = browser.text("#where").await;
    assert!(found.contains("web-b"), "{found}");

    // Where is alice's laptop key: deployed on 2; revoke everywhere names the count.
    browser.open(&format!("{base}/ui/keys/{laptop_id}")).await;
    assert_eq!(browser.text("[data-count='present']").await, "2");
    assert_eq!(browser.text("[data-count='failed']").await, "0");
    let form = browser.text("#revoke-everywhere").await;
    assert!(form.contains("all 2 platform(s)"), "{form}");
    browser.screenshot("ui-key-where").await;
    browser.click("#revoke-everywhere-confirm").await;
    browser
        .click("#revoke-everywhere button.danger[type=submit]")
        .await;
    browser.wait_path("/ui/tasks/").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    assert!(!file(".ssh/authorized_keys").contains(&laptop.public_line));
    assert!(!file(".ssh/b_keys").contains(&laptop.public_line));
    assert!(
        file(".ssh/b_keys").contains(&bob.public_line),
        "a hand-added line stays"
    );
    browser.open(&format!("{base}/ui/keys/{laptop_id}")).await;
    assert_eq!(browser.text("[data-count='present']").await, "0");
    assert_eq!(count(&browser, "#revoke-everywhere").await, 0);

    // The API's own answers: nothing left to revoke is a 409; no such key a 404.
    let (status, problem) = app
        .post(&format!("/api/keys/{laptop_id}/revoke"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, _) = app
        .post(&format!("/api/keys/{}/revoke", uuid_nil()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn uuid_nil() -> &'static str {
    "00000000-0000-0000-0000-000000000000"
}

/// Register a key `doomed` and delete it: its id (the audit log's target of a deleted key).
async fn deleted_key(app: &TestApp) -> String {
    let doomed = ClientKey::generate(KeyKind::Ed25519, None);
    let id = app.add_key("doomed", &doomed.public_line).await;
    let (status, _) = app
        .call(reqwest::Method::DELETE, &format!("/api/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    id
}

/// The audit log: substring filters on actor, action and target (name or id), exact filters
/// still working, dates, 422s naming the field, and the CSV of every matching event (more than
/// one database page), quoted, with formula cells defused and deleted targets left unnamed.
#[tokio::test(flavor = "multi_thread")]
async fn audit_filters_names_and_csv_in_the_api() {
    let app = TestApp::start().await;
    let web = app
        .add_password_platform("web-audit", closed_port(), "u", "p")
        .await;
    let formula = "=SUM(1,2)";
    let pair = ClientKey::generate(KeyKind::Ed25519, None);
    let formula_key = app.add_key(formula, &pair.public_line).await;
    let doomed_id = deleted_key(&app).await;
    // 510 more platform.create events (on hosts never contacted: `.invalid`, RFC 6761): the
    // CSV crosses a database page (500).
    let rows: String = (0..510)
        .map(|n| format!("bulk-{n:03},bulk-{n:03}.invalid\n"))
        .collect();
    let (status, answer) = app
        .post(
            "/api/platforms/import",
            json!({"format": "csv", "content": format!("name,host\n{rows}"), "username": "ops",
                   "auth_method": "password", "password": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let actions = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    // Substrings, case-insensitive; the exact filters still work.
    let keys = app.get("/api/audit?action_contains=KEY.&limit=500").await;
    assert_eq!(actions(&keys), ["key.delete", "key.create", "key.create"]);
    assert_eq!(
        actions(&app.get("/api/audit?action=key.delete").await),
        ["key.delete"]
    );
    assert_eq!(
        app.get("/api/audit?actor_contains=DMi&action=key.delete")
            .await["items"][0]["actor"],
        "admin"
    );
    // A target by its platform's name, or by a piece of its id.
    let by_name = app.get("/api/audit?target_contains=WEB-aud").await;
    assert_eq!(actions(&by_name), ["platform.create"]);
    assert_eq!(by_name["items"][0]["target"], format!("platform:{web}"));
    let by_id = app
        .get(&format!("/api/audit?target_contains={}", &web[..13]))
        .await;
    assert_eq!(actions(&by_id), ["platform.create"]);
    assert_eq!(
        actions(
            &app.get(&format!("/api/audit?target=key:{formula_key}"))
                .await
        ),
        ["key.create"]
    );
    // Dates: nothing after tomorrow, nothing before yesterday.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
    assert_eq!(
        app.get(&format!("/api/audit?since={tomorrow}")).await["items"],
        json!([])
    );
    assert_eq!(
        app.get(&format!("/api/audit?until={yesterday}")).await["items"],
        json!([])
    );
    let today = app
        .get(&format!(
            "/api/audit?since={yesterday}&until={tomorrow}&action=key.delete"
        ))
        .await;
    assert_eq!(actions(&today), ["key.delete"]);

    // 422s name the field.
    let long = "x".repeat(201);
    for (query, field) in [
        ("since=yesterday".to_string(), "since"),
        ("until=2026-13-01".to_string(), "until"),
        (format!("since={tomorrow}&until={yesterday}"), "until"),
        (format!("target_contains={long}"), "target_contains"),
        ("format=xml".to_string(), "format"),
        ("format=csv&limit=5".to_string(), "format"),
    ] {
        let (status, problem) = app
            .call(reqwest::Method::GET, &format!("/api/audit?{query}"), None)
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{query}");
    }

    // CSV of the filtered set: every matching event, not one page.
    let (status, headers, text) = app
        .get_text("/api/audit?format=csv&action_contains=create")
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "created_at",
            "actor",
            "action",
            "target",
            "target_name",
            "outcome",
            "details"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    // 511 platforms, 2 keys, the admin user of the start (if audited) and the task-less rest.
    let creates = |what: &str| records.iter().filter(|r| &r[2] == what).count();
    assert_eq!(creates("platform.create"), 511);
    assert_eq!(creates("key.create"), 2);
    assert!(records.iter().all(|r| r[2].contains("create")));
    // The formula key's name is defused and quoted (it holds a comma).
    let formula_row = records
        .iter()
        .find(|r| r[3] == format!("key:{formula_key}"))
        .unwrap();
    assert_eq!(&formula_row[4], "'=SUM(1,2)");
    assert!(text.contains("\"'=SUM(1,2)\""), "{text}");
    // The details JSON is one quoted cell; the deleted key has no name.
    assert!(formula_row[6].starts_with('{'), "{:?}", &formula_row[6]);
    let doomed_row = records
        .iter()
        .find(|r| r[3] == format!("key:{doomed_id}"))
        .unwrap();
    assert_eq!(&doomed_row[4], "");
    let web_row = records
        .iter()
        .find(|r| r[3] == format!("platform:{web}"))
        .unwrap();
    assert_eq!(&web_row[4], "web-audit");
}

/// The audit page: names next to ids, links, "(deleted)", substring and date filters in the
/// URL, a bad date under its field, and the CSV link of what is shown.
#[tokio::test(flavor = "multi_thread")]
async fn audit_page_in_the_browser() {
    let app = TestApp::start().await;
    let base = &app.base;
    let web = app
        .add_password_platform("web-audit", closed_port(), "u", "p")
        .await;
    let pair = ClientKey::generate(KeyKind::Ed25519, None);
    let kept = app.add_key("kept-key", &pair.public_line).await;
    deleted_key(&app).await;
    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;

    browser.open(&format!("{base}/ui/audit")).await;
    let table = browser.text("#audit tbody").await;
    assert!(
        table.contains("web-audit") && table.contains(&format!("platform:{web}")),
        "{table}"
    );
    assert!(table.contains("kept-key"), "{table}");
    assert!(table.contains("(deleted)"), "{table}");
    let link = browser
        .find(&format!("#audit a[href='/ui/platforms/{web}']"))
        .await;
    assert_eq!(link.text().await.unwrap(), "web-audit");
    browser
        .find(&format!("#audit a[href='/ui/keys/{kept}']"))
        .await;

    // Target by name, action by substring: the URL keeps them.
    browser.fill("#f-target", "web-aud").await;
    browser.fill("#f-action", "create").await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    browser
        .client
        .execute(
            "document.getElementById('f-from').value = arguments[0]; \
             document.getElementById('f-to').value = arguments[0];",
            vec![json!(today)],
        )
        .await
        .unwrap();
    browser.click("#audit-filter button[type=submit]").await;
    let shown = browser
        .wait_text("#audit tbody", |t| {
            t.contains("platform.create") && !t.contains("key.create")
        })
        .await;
    assert_eq!(count(&browser, "#audit tbody tr").await, 1, "{shown}");
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(
        url.query(),
        Some(format!("actor=&action=create&target=web-aud&from={today}&to={today}").as_str())
    );
    let csv = browser
        .find("#audit-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        csv,
        format!(
            "/api/audit?format=csv&action_contains=create&target_contains=web-aud\
             &since={today}T00%3A00%3A00Z&until={}T00%3A00%3A00Z",
            (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d")
        )
    );
    // The link downloads exactly that (through the API, same filters).
    let (status, _, text) = app.get_text(&csv).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text.lines().count(), 2, "{text}");
    browser.open(&format!("{base}/ui/audit")).await;
    browser.screenshot("ui-audit").await;

    // A bad date (a hand-edited URL) is said under its field; no events are shown.
    browser
        .open(&format!("{base}/ui/audit?from=2026-02-30&actor=adm"))
        .await;
    assert_eq!(
        browser.text("[data-error-for='from']").await,
        "\"2026-02-30\" is not a date like 2026-11-29"
    );
    assert_eq!(browser.text("#audit tbody").await, "Fix the filters above.");
    assert_eq!(count(&browser, "#audit-csv").await, 0);
}
