use super::{KeyOptions, KeyOptionsError};
use crate::authorized_keys::{OptionsError, parse_key_line, parse_options};

fn options(json: serde_json::Value) -> KeyOptions {
    serde_json::from_value(json).expect("valid options object")
}

fn rendered(json: serde_json::Value) -> String {
    options(json).render().expect("renders").expect("not empty")
}

fn refused(json: serde_json::Value) -> KeyOptionsError {
    options(json).render().expect_err("refused")
}

#[test]
fn no_options_render_as_nothing() {
    assert_eq!(KeyOptions::default().render(), Ok(None));
    assert_eq!(
        options(serde_json::json!({"no-pty": false})).render(),
        Ok(None)
    );
}

#[test]
fn restrict_comes_first_so_later_flags_re_enable_features() {
    assert_eq!(
        rendered(
            serde_json::json!({"pty": true, "restrict": true, "from": "10.0.0.0/8,!10.0.0.5"})
        ),
        r#"restrict,pty,from="10.0.0.0/8,!10.0.0.5""#
    );
}

#[test]
fn every_option_is_written_in_a_canonical_order_and_reads_back() {
    let all = options(serde_json::json!({
        "tunnel": "any",
        "permitlisten": ["8080", "localhost:9090"],
        "permitopen": ["db:5432", "[::1]:22"],
        "environment": ["A=1", "B=two words"],
        "command": "echo forced",
        "expiry-time": "20301231Z",
        "from": "*.example.com,192.0.2.0/24",
        "principals": "alice,bob",
        "verify-required": true,
        "no-touch-required": true,
        "no-user-rc": true,
        "no-X11-forwarding": true,
        "no-agent-forwarding": true,
        "no-port-forwarding": true,
        "no-pty": true,
        "cert-authority": true,
    }));
    let field = all.render().unwrap().unwrap();
    assert_eq!(
        field,
        "cert-authority,no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,\
         no-user-rc,no-touch-required,verify-required,principals=\"alice,bob\",\
         from=\"*.example.com,192.0.2.0/24\",expiry-time=\"20301231Z\",command=\"echo forced\",\
         tunnel=\"any\",environment=\"A=1\",environment=\"B=two words\",permitopen=\"db:5432\",\
         permitopen=\"[::1]:22\",permitlisten=\"8080\",permitlisten=\"localhost:9090\""
    );
    assert_eq!(KeyOptions::parse(&field), Ok(all.clone()));
    // The JSON shape round-trips too (what the API shows is what was given).
    let json = serde_json::to_value(&all).unwrap();
    assert_eq!(json["no-X11-forwarding"], true);
    assert_eq!(options(json), all);
}

#[test]
fn quotes_backslashes_commas_and_spaces_survive_as_sshd_reads_them() {
    let odd = r#"printf '%s\n' "a,b c" \"x\" C:\dir\ end"#;
    let opts = KeyOptions {
        command: Some(odd.to_string()),
        environment: vec![r#"Q=say "hi", then \ go"#.into()],
        ..KeyOptions::default()
    };
    let field = opts.render().unwrap().unwrap();
    // Only `"` is escaped; every other byte is literal inside the quotes.
    assert!(field.starts_with(r#"command="printf '%s\n' \"a,b c\" \\"x\\" C:\dir\ end""#));
    let parsed = parse_options(&field).unwrap();
    assert_eq!(parsed[0].value.as_deref(), Some(odd));
    assert_eq!(parsed[1].value.as_deref(), Some(r#"Q=say "hi", then \ go"#));
    // And the whole line splits where sshd splits it: the key follows the options field.
    let line = format!(
        "{field} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKVuYvogQYbVxDGA0k3o2arRrUh3skIHz1VzNHgwbPJm c"
    );
    let key = parse_key_line(&line).unwrap();
    assert_eq!(
        KeyOptions::parse(key.options_raw.as_deref().unwrap()),
        Ok(opts)
    );
}

#[test]
fn control_characters_are_refused_naming_the_option() {
    for (json, option) in [
        (serde_json::json!({"command": "a\nb"}), "command"),
        (serde_json::json!({"command": "a\0b"}), "command"),
        (serde_json::json!({"from": "10.0.0.1\r"}), "from"),
        (
            serde_json::json!({"environment": ["A=1", "B=\n"]}),
            "environment[1]",
        ),
    ] {
        let e = refused(json);
        assert_eq!(e.option, option);
        assert!(e.message.contains("newline"), "{e}");
    }
}

#[test]
fn values_sshd_refuses_are_refused_naming_the_option() {
    for (json, option, words) in [
        (
            serde_json::json!({"expiry-time": "2030-01-01"}),
            "expiry-time",
            "YYYYMMDD",
        ),
        (
            serde_json::json!({"expiry-time": "20301301"}),
            "expiry-time",
            "valid date",
        ),
        (
            serde_json::json!({"environment": ["no equals"]}),
            "environment[0]",
            "NAME=value",
        ),
        (
            serde_json::json!({"permitopen": ["host"]}),
            "permitopen[0]",
            "host:port",
        ),
        (
            serde_json::json!({"permitopen": ["h:70000"]}),
            "permitopen[0]",
            "port",
        ),
        (
            serde_json::json!({"permitlisten": ["::1:80"]}),
            "permitlisten[0]",
            "brackets",
        ),
        (serde_json::json!({"tunnel": "tun0"}), "tunnel", "any"),
        (
            serde_json::json!({"command": "ends in \\"}),
            "command",
            "backslash",
        ),
        (serde_json::json!({"command": ""}), "command", "empty"),
        (
            serde_json::json!({"principals": "a"}),
            "principals",
            "cert-authority",
        ),
        (
            serde_json::json!({"pty": true, "no-pty": true}),
            "no-pty",
            "pty",
        ),
        (
            serde_json::json!({"from": "10.0.0.1,,10.0.0.2"}),
            "from",
            "entry 2 is empty",
        ),
        (serde_json::json!({"from": "!"}), "from", "entry 1 is empty"),
        (serde_json::json!({"from": "10.0.0.1/8"}), "from", "bits"),
        (
            serde_json::json!({"from": "10.0.0.0/33"}),
            "from",
            "prefix length",
        ),
        (serde_json::json!({"from": "host/8"}), "from", "IP address"),
        (serde_json::json!({"from": "a b"}), "from", "space"),
    ] {
        let e = refused(json.clone());
        assert_eq!(e.option, option, "{json}");
        assert!(e.message.contains(words), "{json}: {e}");
        assert!(
            !e.message.contains("10.0.0.1/8"),
            "values are never echoed: {e}"
        );
    }
}

#[test]
fn good_from_lists_are_accepted() {
    for from in [
        "10.0.0.0/8,!10.0.0.5",
        "127.0.0.1",
        "*.example.com,!bad.example.com",
        "2001:db8::/32,::1",
        "0.0.0.0/0",
        "192.168.1.7/32",
        "10.0.0.?",
    ] {
        let opts = KeyOptions {
            from: Some(from.into()),
            ..KeyOptions::default()
        };
        assert_eq!(
            opts.render(),
            Ok(Some(format!("from=\"{from}\""))),
            "{from}"
        );
    }
}

#[test]
fn unknown_members_are_refused_by_name() {
    let e = serde_json::from_value::<KeyOptions>(serde_json::json!({"no-shell": true}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `no-shell`"), "{e}");
}

#[test]
fn stored_fields_parse_back_case_insensitively_and_refuse_what_has_no_member() {
    assert_eq!(
        KeyOptions::parse(r#"RESTRICT,Pty,Command="x""#),
        Ok(KeyOptions {
            restrict: true,
            pty: true,
            command: Some("x".into()),
            ..KeyOptions::default()
        })
    );
    assert!(KeyOptions::parse("no-pty,no-pty").is_err());
    assert!(KeyOptions::parse(r#"tunnel="1",tunnel="2""#).is_err());
}

#[test]
fn options_parsed_one_by_one_combine_into_one_object() {
    let parsed = [
        r#"from="10.0.0.0/8,!10.0.0.5""#,
        "restrict",
        r#"permitopen="db:5432""#,
    ]
    .into_iter()
    .chain([
        r#"permitopen="cache:6379""#,
        r#"command="/usr/bin/backup --all""#,
    ])
    .flat_map(|one| parse_options(one).expect("one option"));
    assert_eq!(
        KeyOptions::from_options(parsed),
        Ok(KeyOptions {
            restrict: true,
            from: Some("10.0.0.0/8,!10.0.0.5".into()),
            command: Some("/usr/bin/backup --all".into()),
            permitopen: vec!["db:5432".into(), "cache:6379".into()],
            ..KeyOptions::default()
        })
    );
    // Two `from` options, each fine on its own, are one too many together (sshd: "multiple
    // \"from\" clauses").
    let twice = [r#"from="10.0.0.1""#, r#"FROM="10.0.0.2""#]
        .into_iter()
        .flat_map(|one| parse_options(one).expect("one option"));
    assert_eq!(
        KeyOptions::from_options(twice),
        Err(OptionsError::Duplicate("from".into()))
    );
}
