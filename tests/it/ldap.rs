//! LDAP sign-in against a real OpenLDAP `slapd` on loopback ([`crate::common::slapd`]): search
//! then bind, groups from `memberOf` or from a group search, plain / LDAPS / StartTLS, and each
//! way a sign-in must fail; then through the running service: accounts and `ldap` groups made at
//! sign-in, roles through grants on those groups, group changes in the directory taking effect at
//! the next sign-in, local accounts never taken over, and a directory that is down.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::ldap::{Directory, LdapError, LdapSettings};
use testum::secret::Secret;

use crate::app::{self, TestApp};
use crate::common::closed_port;
use crate::common::slapd::{ADMIN_DN, GROUPS, PEOPLE, Slapd};

fn settings(url: &str) -> LdapSettings {
    LdapSettings {
        url: Some(url.to_string()),
        user_base: Some(PEOPLE.to_string()),
        user_filter: "(uid={username})".into(),
        username_attribute: "uid".into(),
        group_attribute: "memberOf".into(),
        group_filter: "(member={dn})".into(),
        group_name_attribute: "cn".into(),
        timeout_secs: 5,
        on_error: "fail".into(),
        ..LdapSettings::default()
    }
}

fn directory(settings: &LdapSettings) -> Directory {
    Directory::from_settings(settings).unwrap().unwrap()
}

async fn sign_in(
    directory: &Directory,
    user: &str,
    password: &str,
) -> Result<Vec<String>, LdapError> {
    directory
        .authenticate(user, &Secret::new(password))
        .await
        .map(|identity| identity.groups)
}

/// A directory with carol (web-ops, all-staff), dave (all-staff only) and erin (disabled).
fn populated() -> (Slapd, String) {
    let slapd = Slapd::start();
    let carol = slapd.add_user("carol", "carol-pw");
    let dave = slapd.add_user("dave", "dave-pw");
    slapd.add(&format!(
        "dn: uid=erin,{PEOPLE}\nobjectClass: inetOrgPerson\nuid: erin\ncn: erin\nsn: erin\n\
         description: disabled\nuserPassword: erin-pw\n"
    ));
    // groupOfNames needs a member: a placeholder, so that carol can leave the group.
    slapd.add_group("web-ops", &[&carol, &format!("uid=placeholder,{PEOPLE}")]);
    slapd.add_group("all-staff", &[&carol, &dave]);
    (slapd, carol)
}

#[tokio::test]
async fn search_then_bind_reads_groups_from_member_of() {
    let (slapd, carol) = populated();
    let dir = directory(&settings(&slapd.url));
    let identity = dir
        .authenticate("carol", &Secret::new("carol-pw"))
        .await
        .unwrap();
    assert_eq!(identity.dn, carol);
    assert_eq!(identity.username, "carol");
    assert_eq!(identity.groups, ["all-staff", "web-ops"]);
    assert_eq!(
        sign_in(&dir, "dave", "dave-pw").await.unwrap(),
        ["all-staff"]
    );
    // The directory spells the username: a case-insensitive uid match records "carol".
    let identity = dir
        .authenticate("CAROL", &Secret::new("carol-pw"))
        .await
        .unwrap();
    assert_eq!(identity.username, "carol");
}

#[tokio::test]
async fn each_wrong_sign_in_is_one_rejection() {
    let (slapd, _) = populated();
    let plain = settings(&slapd.url);
    let disabled_filtered = LdapSettings {
        // How a directory says "disabled" is its own; the filter leaves such entries out.
        user_filter: "(&(uid={username})(!(description=disabled)))".into(),
        ..plain.clone()
    };
    let dir = directory(&disabled_filtered);
    for (user, password, why) in [
        ("carol", "wrong", "a wrong password"),
        ("nobody", "carol-pw", "an unknown user"),
        (
            "carol",
            "",
            "an empty password (an unauthenticated bind would succeed)",
        ),
        ("erin", "erin-pw", "a disabled entry"),
        (
            "*",
            "carol-pw",
            "a filter wildcard as username (escaped, RFC 4515)",
        ),
        ("carol)(uid=*", "carol-pw", "a filter injection"),
    ] {
        let result = sign_in(&dir, user, password).await;
        assert!(
            matches!(result, Err(LdapError::Rejected)),
            "{why}: {result:?}"
        );
    }
    // Without the filter, erin is an ordinary user: the refusal above was the filter's.
    assert_eq!(
        sign_in(&directory(&plain), "erin", "erin-pw")
            .await
            .unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn groups_from_a_group_search_as_a_service_account_over_ldaps() {
    let (slapd, _) = populated();
    let settings = LdapSettings {
        ca_file: Some(slapd.ca_file()),
        bind_dn: Some(ADMIN_DN.into()),
        bind_password_file: Some(slapd.admin_password_file()),
        group_base: Some(GROUPS.into()),
        group_attribute: "none".into(),
        ..settings(&slapd.ldaps_url)
    };
    let dir = directory(&settings);
    dir.check().await.unwrap();
    assert_eq!(
        sign_in(&dir, "carol", "carol-pw").await.unwrap(),
        ["all-staff", "web-ops"]
    );
    assert!(matches!(
        sign_in(&dir, "carol", "nope").await,
        Err(LdapError::Rejected)
    ));

    // StartTLS on the plain port, same CA.
    let starttls = LdapSettings {
        starttls: true,
        ..settings.clone()
    };
    let starttls = LdapSettings {
        url: Some(slapd.url.clone()),
        ..starttls
    };
    assert_eq!(
        sign_in(&directory(&starttls), "dave", "dave-pw")
            .await
            .unwrap(),
        ["all-staff"]
    );

    // The system's roots do not vouch for the test CA: the directory is unavailable, not a
    // wrong password.
    let untrusted = directory(&LdapSettings {
        ca_file: None,
        ..settings.clone()
    });
    let e = untrusted.check().await.unwrap_err();
    assert!(matches!(e, LdapError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn an_unreachable_server_or_a_wrong_service_password_is_unavailable() {
    let slapd = Slapd::start();
    let down = directory(&settings(&format!("ldap://127.0.0.1:{}", closed_port())));
    let e = down.check().await.unwrap_err();
    assert!(
        matches!(e, LdapError::Unavailable(ref m) if m.starts_with("TESTUM_LDAP_URL ldap://127.0.0.1:")),
        "{e:?}"
    );
    let e = down
        .authenticate("carol", &Secret::new("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, LdapError::Unavailable(_)), "{e:?}");

    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-password\n").unwrap();
    let service = directory(&LdapSettings {
        bind_dn: Some(ADMIN_DN.into()),
        bind_password_file: Some(wrong.path().to_path_buf()),
        ..settings(&slapd.url)
    });
    let e = service.check().await.unwrap_err();
    assert!(
        matches!(e, LdapError::Unavailable(ref m) if m.contains("TESTUM_LDAP_BIND_DN")),
        "{e:?}"
    );
    // The error text never holds the password.
    assert!(!e.to_string().contains("not-the-password"));
}

/// `POST /api/auth/login` as `username`: the status and the access token (empty on failure).
async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, String) {
    let response = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let token = body["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, token)
}

/// The names of the platforms `token`'s user sees (none for a user without any role: 403).
async fn visible(app: &TestApp, token: &str) -> Vec<String> {
    let response = app
        .http
        .get(format!("{}/api/platforms?limit=500&sort=name", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    if response.status() == StatusCode::FORBIDDEN {
        return Vec::new();
    }
    let page: Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// The service with LDAP sign-in through `slapd`, searching as its administrator.
async fn service_on(slapd: &Slapd) -> TestApp {
    let password_file = slapd.admin_password_file();
    TestApp::start_with(|config| {
        config.ldap = LdapSettings {
            bind_dn: Some(ADMIN_DN.into()),
            bind_password_file: Some(password_file),
            ..settings(&slapd.url)
        };
    })
    .await
}

/// The id of the group `name` of source `ldap`, as the admin lists groups.
async fn ldap_group(app: &TestApp, name: &str) -> Value {
    let groups = app.get("/api/groups?limit=500").await;
    groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name && g["source"] == "ldap")
        .unwrap_or_else(|| panic!("no ldap group {name} in {groups}"))["id"]
        .clone()
}

#[tokio::test]
async fn directory_users_sign_in_and_get_roles_through_their_ldap_groups() {
    let (slapd, carol_dn) = populated();
    let app = service_on(&slapd).await;
    for (name, tag) in [("web1", "web"), ("db1", "db")] {
        let (status, body) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": closed_port(),
                       "username": "u", "auth_method": "password", "password": "x",
                       "tags": [tag]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // First sign-in: an account from the directory, no fleet-wide role, in the ldap groups named
    // like its directory groups; it sees nothing until a grant says so.
    let (status, carol) = login(&app, "carol", "carol-pw").await;
    assert_eq!(status, StatusCode::OK);
    assert!(visible(&app, &carol).await.is_empty());
    let users = app.get("/api/users?limit=500").await;
    let account = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "carol")
        .unwrap()
        .clone();
    assert_eq!(account["source"], "ldap");
    assert_eq!(account["role"], Value::Null);
    let web_ops = ldap_group(&app, "web-ops").await;

    // A grant on the directory group: operator on tag:web.
    let (status, body) = app
        .post(
            "/api/grants",
            json!({"group_id": web_ops, "role": "operator", "selector": "tag:web"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(visible(&app, &carol).await, ["web1"]);

    // The audit log names the provider and the subject, and never a password.
    let audit = app.get("/api/audit?action=auth.login&limit=500").await;
    let text = audit.to_string();
    assert!(!text.contains("carol-pw"));
    let success = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"] == "carol" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(success["details"]["provider"], "ldap");
    eprintln!("LDAP sign-in, as audited: {success:#}");
    assert_eq!(success["details"]["subject"], carol_dn.as_str());
    assert_eq!(
        success["details"]["groups"],
        json!(["all-staff", "web-ops"])
    );
    assert_eq!(
        success["details"]["groups_joined"],
        json!(["all-staff", "web-ops"])
    );

    // Left the group in the directory: the next sign-in takes the membership, and the role, away.
    // (A refresh does too: see a_refresh_asks_the_directory_again.)
    slapd.remove_member(&format!("cn=web-ops,{GROUPS}"), &carol_dn);
    let (status, carol) = login(&app, "carol", "carol-pw").await;
    assert_eq!(status, StatusCode::OK);
    assert!(visible(&app, &carol).await.is_empty());

    // Wrong password: 401, audited with the provider and a reason, without the password.
    let (status, _) = login(&app, "carol", "not-carols").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let audit = app
        .get("/api/audit?action=auth.login&outcome=failure&limit=5")
        .await;
    assert_eq!(audit["items"][0]["details"]["provider"], "ldap");
    assert_eq!(audit["items"][0]["details"]["reason"], "rejected");
    assert!(!audit.to_string().contains("not-carols"));

    // Two-factor sign-in holds for a directory user as for a local one: after the directory's
    // yes, the code is asked for.
    let (secret, _) = crate::totp::enrol(&app, &carol).await;
    assert_eq!(
        login(&app, "carol", "carol-pw").await.0,
        StatusCode::UNAUTHORIZED
    );
    let next_step = crate::totp::code_at(&secret, crate::totp::now() + 30);
    let response = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"username": "carol", "password": "carol-pw", "totp": next_step}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Turning it off takes a code: testum has no password of hers to check.
    let response = app
        .http
        .post(format!("{}/api/users/me/totp/disable", app.base))
        .bearer_auth(&carol)
        .json(&json!({"password": "carol-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["message"],
        "this user signs in through ldap: testum keeps no password for it; use a code"
    );

    // The password lives in the directory: testum will not set one.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{}", account["id"].as_str().unwrap()),
            Some(json!({"password": "a long new password 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "password");

    // Disabled in testum: the directory's yes is not enough.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{}", account["id"].as_str().unwrap()),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        login(&app, "carol", "carol-pw").await.0,
        StatusCode::UNAUTHORIZED
    );

    // A local account of the same name, whatever its case, is never taken over: its own
    // password only (this was a 500 when the case differed).
    let (status, _) = app
        .post(
            "/api/users",
            json!({"username": "Dave", "password": "dave's local password", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        login(&app, "dave", "dave-pw").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "dave", "dave's local password").await.0,
        StatusCode::OK
    );

    // The directory goes away: 503 for its users, and the local admin still signs in.
    drop(slapd);
    let response = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"username": "frank", "password": "whatever"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        login(&app, "admin", app::ADMIN_PASSWORD).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unreachable_directory_stops_the_start_or_is_switched_off() {
    let data = tempfile::tempdir().unwrap();
    let mut config = app::config(data.path().to_path_buf());
    config.settings.database_url = app::test_database_url().await;
    config.ldap = settings(&format!("ldap://127.0.0.1:{}", closed_port()));
    let e = testum::server::prepare(&config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("TESTUM_LDAP_URL ldap://127.0.0.1:"), "{e}");
    assert!(e.contains("TESTUM_LDAP_ON_ERROR=disable"), "{e}");

    config.ldap.on_error = "disable".into();
    let state = testum::server::prepare(&config).await.unwrap();
    assert!(state.ldap.is_none());
}

#[tokio::test]
async fn a_refresh_asks_the_directory_again() {
    let (slapd, carol_dn) = populated();
    let app = service_on(&slapd).await;
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": "web1", "host": "127.0.0.1", "port": closed_port(), "username": "u",
                   "auth_method": "password", "password": "x", "tags": ["web"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let signed_in: Value = app
        .http
        .post(format!("{}/api/auth/login", app.base))
        .json(&json!({"username": "carol", "password": "carol-pw"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let web_ops = ldap_group(&app, "web-ops").await;
    let (status, body) = app
        .post(
            "/api/grants",
            json!({"group_id": web_ops, "role": "viewer", "selector": "tag:web"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let refresh = |token: Value| {
        let http = app.http.clone();
        let url = format!("{}/api/auth/refresh", app.base);
        async move {
            let response = http
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, pair) = refresh(signed_in["refresh_token"].clone()).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    assert_eq!(
        visible(&app, pair["access_token"].as_str().unwrap()).await,
        ["web1"]
    );

    // Out of web-ops in the directory: the refresh takes the membership away.
    slapd.remove_member(&format!("cn=web-ops,{GROUPS}"), &carol_dn);
    let (status, pair) = refresh(pair["refresh_token"].clone()).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let access = pair["access_token"].as_str().unwrap().to_string();
    assert!(visible(&app, &access).await.is_empty());

    // Gone from the directory: the refresh is refused and the whole session ends.
    slapd.delete(&carol_dn);
    let (status, body) = refresh(pair["refresh_token"].clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let still = app
        .http
        .get(format!("{}/api/users/me/totp", app.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::UNAUTHORIZED);
    let audit = app.get("/api/audit?action=auth.refresh&limit=1").await;
    assert_eq!(audit["items"][0]["outcome"], "denied");
    assert_eq!(
        audit["items"][0]["details"]["reason"],
        "directory_entry_gone"
    );
}
