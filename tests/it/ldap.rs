//! LDAP sign-in against a real OpenLDAP `slapd` on loopback ([`crate::common::slapd`]): search
//! then bind, groups from `memberOf` or from a group search, plain / LDAPS / StartTLS, and each
//! way a sign-in must fail.

use testum::ldap::{Directory, LdapError, LdapSettings};
use testum::secret::Secret;

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
    slapd.add_group("web-ops", &[&carol]);
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
        matches!(e, LdapError::Unavailable(ref m) if m.starts_with("connect")),
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
