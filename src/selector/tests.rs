//! Unit tests of the selector grammar: parsing, precedence, matching, errors and round trips.

use super::*;

fn parse(text: &str) -> Selector {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn fails(text: &str) -> SelectorError {
    match text.parse::<Selector>() {
        Ok(s) => panic!("{text:?} should not parse, got {s}"),
        Err(e) => e,
    }
}

fn canonical(text: &str) -> String {
    parse(text).to_string()
}

struct Fixture {
    name: &'static str,
    host: &'static str,
    tags: Vec<String>,
    state: PlatformState,
}

fn platform(
    name: &'static str,
    host: &'static str,
    tags: &[&str],
    state: PlatformState,
) -> Fixture {
    Fixture {
        name,
        host,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        state,
    }
}

impl Fixture {
    fn facts(&self) -> PlatformFacts<'_> {
        PlatformFacts {
            name: self.name,
            host: self.host,
            tags: &self.tags,
            state: self.state,
            // The fleet's never-scanned platform has no pin yet; every other one has.
            pinned: self.state != PlatformState::NeverScanned,
            presented: false,
        }
    }
}

fn fleet() -> Vec<Fixture> {
    vec![
        platform(
            "web-1",
            "10.0.0.1",
            &["web", "env=prod"],
            PlatformState::InSync,
        ),
        platform(
            "web-2",
            "10.0.0.2",
            &["web", "env=staging"],
            PlatformState::Drift,
        ),
        platform(
            "db-1",
            "10.0.1.1",
            &["db", "env=prod"],
            PlatformState::Unreachable,
        ),
        platform(
            "web-db",
            "Web-DB.example.com",
            &["web", "db"],
            PlatformState::NeverScanned,
        ),
        platform(
            "bastion 1",
            "192.168.1.10",
            &[],
            PlatformState::HostKeyMismatch,
        ),
    ]
}

/// Names of the fleet's platforms that `text` selects.
fn picks(text: &str) -> Vec<&'static str> {
    let selector = parse(text);
    fleet()
        .iter()
        .filter(|p| selector.matches(&p.facts()))
        .map(|p| p.name)
        .collect()
}

#[test]
fn atoms_match_tags_names_hosts_and_states() {
    assert_eq!(picks("tag:web"), ["web-1", "web-2", "web-db"]);
    assert_eq!(picks("tag:env=prod"), ["web-1", "db-1"]);
    assert_eq!(picks("env=prod"), ["web-1", "db-1"]);
    assert_eq!(picks("name:web-*"), ["web-1", "web-2", "web-db"]);
    assert_eq!(picks("name:web-?"), ["web-1", "web-2"]);
    assert_eq!(picks("host:10.0.*"), ["web-1", "web-2", "db-1"]);
    assert_eq!(picks("state:drift"), ["web-2"]);
    assert_eq!(picks("state:never_scanned"), ["web-db"]);
    assert_eq!(picks("all").len(), 5);
}

#[test]
fn text_searches_names_hosts_and_tags_ignoring_case() {
    assert_eq!(picks("text:*WEB*"), ["web-1", "web-2", "web-db"]);
    assert_eq!(picks("text:*example*"), ["web-db"]);
    assert_eq!(picks("text:*=staging"), ["web-2"]);
    assert_eq!(picks("text:*168.1*"), ["bastion 1"]);
    assert!(picks("text:web-").is_empty(), "a glob, not a substring");
    assert_eq!(
        picks("text:web"),
        ["web-1", "web-2", "web-db"],
        "the whole tag web"
    );
}

#[test]
fn host_key_status_partitions_the_fleet() {
    assert_eq!(picks("host_key:mismatch"), ["bastion 1"]);
    assert_eq!(picks("host_key:unpinned"), ["web-db"]);
    assert_eq!(picks("host_key:pinned"), ["web-1", "web-2", "db-1"]);
    let e = fails("host_key:green");
    assert_eq!(e.position, 10);
    assert!(e.reason.contains("pinned"), "{}", e.reason);
}

#[test]
fn built_selectors_print_as_they_parse() {
    let search = Selector::search("  web 1 ").expect("non-blank");
    assert_eq!(search.to_string(), r#"text:"*web 1*""#);
    assert!(Selector::search("  ").is_none());
    let composed = Selector::all_of([
        search,
        Selector::state(PlatformState::Drift),
        Selector::host_key(HostKeyStatus::Pinned),
        parse("tag:a or tag:b"),
        Selector::all(),
    ]);
    let text = composed.to_string();
    assert_eq!(
        text,
        r#"text:"*web 1*" and state:drift and host_key:pinned and (tag:a or tag:b)"#
    );
    assert_eq!(parse(&text), composed);
    assert!(Selector::all_of([Selector::all()]).is_all());
    assert_eq!(
        Selector::all_of([parse("a=1 and b=2"), parse("c=3")]),
        parse("a=1 and b=2 and c=3"),
        "nested ands are flattened"
    );
    let either = Selector::any_of([parse("tag:a or tag:b"), parse("tag:c and tag:d")]);
    assert_eq!(either, Some(parse("tag:a or tag:b or tag:c and tag:d")));
    assert_eq!(
        Selector::any_of([parse("tag:a"), Selector::all()]),
        Some(Selector::all())
    );
    assert_eq!(Selector::any_of([]), None);
    assert_eq!(Selector::none(), parse("not all"));
    assert!(Selector::none().is_none() && !parse("not tag:a").is_none());
}

#[test]
fn a_plain_tag_is_not_a_key() {
    // `tag:env` is the plain tag `env`, not every `env=...` tag; `tag:env=*` is.
    assert!(picks("tag:env").is_empty());
    assert_eq!(picks("tag:env=*"), ["web-1", "web-2", "db-1"]);
    assert_eq!(picks("env=*"), ["web-1", "web-2", "db-1"]);
}

#[test]
fn hosts_ignore_ascii_case_names_do_not() {
    assert_eq!(picks("host:web-db.EXAMPLE.com"), ["web-db"]);
    assert!(picks("name:WEB-*").is_empty());
}

#[test]
fn globs() {
    assert!(glob("*", "", false));
    assert!(glob("a*b*c", "axxbyyc", false));
    assert!(!glob("a*b*c", "axxbyy", false));
    assert!(glob("*.example.com", "a.b.example.com", false));
    assert!(glob("??", "ab", false));
    assert!(!glob("??", "abc", false));
    assert!(glob("a**", "a", false));
    assert!(!glob("abc", "abd", false));
    assert!(glob("é?", "éà", false));
}

#[test]
fn and_binds_tighter_than_or() {
    // `a or b and c` is `a or (b and c)`.
    assert_eq!(
        picks("state:unreachable or tag:web and env=staging"),
        ["web-2", "db-1"]
    );
    assert_eq!(
        parse("state:unreachable or tag:web and env=staging"),
        parse("state:unreachable or (tag:web and env=staging)")
    );
    assert_ne!(
        parse("state:unreachable or tag:web and env=staging"),
        parse("(state:unreachable or tag:web) and env=staging")
    );
    assert_eq!(
        picks("(state:unreachable or tag:web) and env=staging"),
        ["web-2"]
    );
}

#[test]
fn not_binds_tightest() {
    assert_eq!(picks("tag:web and not tag:db"), ["web-1", "web-2"]);
    assert_eq!(
        picks("not tag:web or tag:db"),
        ["db-1", "web-db", "bastion 1"]
    );
    assert_eq!(picks("not (tag:web or tag:db)"), ["bastion 1"]);
    assert_eq!(picks("not not tag:db"), ["db-1", "web-db"]);
    assert_eq!(parse("not tag:a and tag:b"), parse("(not tag:a) and tag:b"));
}

#[test]
fn parentheses_and_spacing() {
    assert_eq!(parse("((tag:web))"), parse("tag:web"));
    assert_eq!(parse("(tag:a)and(tag:b)"), parse("tag:a and tag:b"));
    assert_eq!(parse("  tag:a\tor\ntag:b  "), parse("tag:a or tag:b"));
    // Grouping of one operator does not matter.
    assert_eq!(
        parse("tag:a or (tag:b or tag:c)"),
        parse("(tag:a or tag:b) or tag:c")
    );
    assert_eq!(
        parse("tag:a and (tag:b and tag:c)"),
        parse("tag:a and tag:b and tag:c")
    );
}

#[test]
fn quoted_values() {
    assert_eq!(picks("name:\"bastion 1\""), ["bastion 1"]);
    assert_eq!(picks("name:\"bastion *\""), ["bastion 1"]);
    assert_eq!(parse("tag:\"web\""), parse("tag:web"));
    assert_eq!(parse("state:\"drift\""), parse("state:drift"));
    assert_eq!(
        parse(r#"name:"a \"quoted\" \\ name""#),
        Selector {
            expr: Expr::Name(r#"a "quoted" \ name"#.into())
        }
    );
    // Operators inside quotes are text.
    assert_eq!(
        parse("name:\"x or (y)\""),
        Selector {
            expr: Expr::Name("x or (y)".into())
        }
    );
    assert_eq!(parse("(name:\"a b\")"), parse("name:\"a b\""));
}

#[test]
fn hosts_with_colons_and_tags_with_symbols() {
    assert_eq!(
        parse("host:fe80::1"),
        Selector {
            expr: Expr::Host("fe80::1".into())
        }
    );
    assert_eq!(
        parse("tag:team:ops/a.b_c-d"),
        Selector {
            expr: Expr::Tag("team:ops/a.b_c-d".into())
        }
    );
    assert_eq!(parse("role=db:primary"), parse("tag:role=db:primary"));
}

#[test]
fn canonical_text() {
    assert_eq!(canonical("env=prod"), "tag:env=prod");
    assert_eq!(
        canonical("  tag:a   or   tag:b and tag:c "),
        "tag:a or tag:b and tag:c"
    );
    assert_eq!(
        canonical("(tag:a or tag:b) and tag:c"),
        "(tag:a or tag:b) and tag:c"
    );
    assert_eq!(canonical("((tag:a))"), "tag:a");
    assert_eq!(canonical("not (tag:a and tag:b)"), "not (tag:a and tag:b)");
    assert_eq!(canonical("(not tag:a) and tag:b"), "not tag:a and tag:b");
    assert_eq!(canonical("name:\"web\""), "name:web");
    assert_eq!(canonical("name:\"a b\""), "name:\"a b\"");
    assert_eq!(canonical(r#"name:"a\"b""#), r#"name:"a\"b""#);
    assert_eq!(canonical(r#"name:"a(b)\\""#), r#"name:"a(b)\\""#);
    assert_eq!(canonical("state:\"drift\""), "state:drift");
    assert_eq!(canonical("all"), "all");
}

#[test]
fn display_round_trips() {
    for text in [
        "all",
        "tag:web",
        "env=prod",
        "tag:web and not tag:db",
        "a=1 or b=2 and c=3",
        "(a=1 or b=2) and c=3",
        "not (a=1 or b=2) and not not c=3",
        "((a=1 and (b=2 or (c=3 and not d=4))) or name:\"x y\")",
        "name:web-* and host:10.0.* or state:host_key_mismatch",
        r#"name:"q\"u\\o(t)e" or host:"a b""#,
        "not all",
        "host:fe80::1",
        "text:*web* and host_key:mismatch",
        r#"text:"*a b*" or host_key:unpinned and not host_key:pinned"#,
    ] {
        let once = parse(text);
        let printed = once.to_string();
        let twice = parse(&printed);
        assert_eq!(once, twice, "{text:?} printed as {printed:?}");
        assert_eq!(printed, twice.to_string(), "canonical text is stable");
    }
}

#[test]
fn errors_have_a_position_and_a_reason() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty selector"),
        ("   ", 1, "empty selector"),
        ("(tag:a", 7, "expected ')'"),
        ("(tag:a tag:b", 8, "expected ')'"),
        ("tag:a)", 6, "unmatched ')'"),
        ("foo:bar", 1, "unknown field 'foo'"),
        ("tag:a and foo:bar", 11, "unknown field 'foo'"),
        ("tag:", 5, "expected a value after 'tag:'"),
        ("tag: web", 5, "expected a value after 'tag:'"),
        ("name:\"\"", 6, "expected a value after 'name:'"),
        ("(host:)", 7, "expected a value after 'host:'"),
        ("state:bogus", 7, "unknown state 'bogus'"),
        ("state:DRIFT", 7, "unknown state 'DRIFT'"),
        ("tag:a and", 10, "expected a selector after 'and'"),
        ("tag:a or", 9, "expected a selector after 'or'"),
        ("not", 4, "expected a selector after 'not'"),
        ("tag:a and or tag:b", 11, "expected a selector, found 'or'"),
        ("()", 2, "expected a selector, found ')'"),
        ("and tag:a", 1, "expected a selector, found 'and'"),
        ("tag:a tag:b", 7, "expected 'and' or 'or' before 'tag:b'"),
        ("tag:a (tag:b)", 7, "expected 'and' or 'or' before '('"),
        ("web", 1, "unknown word 'web'"),
        ("tag:a AND tag:b", 7, "keywords are lowercase"),
        ("=prod", 1, "expected a tag key before '='"),
        ("env=", 5, "expected a value after 'env='"),
        ("name:\"web", 6, "unterminated quoted value"),
        ("name:\"web\\", 6, "unterminated quoted value"),
        (
            "name:\"a\"b",
            9,
            "expected a space or ')' after the quoted value",
        ),
        ("\"web\"", 1, "a quoted value needs a field in front"),
        ("env\"x\"", 4, "a quoted value needs a field in front"),
        // Columns count characters, not bytes.
        ("name:é and föo:x", 12, "unknown field 'föo'"),
    ];
    for (text, position, reason) in cases {
        let e = fails(text);
        assert_eq!(e.position, *position, "{text:?}: {e}");
        assert!(e.reason.contains(reason), "{text:?}: {e}");
        assert_eq!(
            e.to_string(),
            format!("at position {position}: {}", e.reason)
        );
    }
}

#[test]
fn unknown_state_lists_the_states() {
    let e = fails("state:foo");
    for state in PlatformState::ALL {
        assert!(e.reason.contains(state.as_str()), "{e}");
    }
}

#[test]
fn size_and_depth_are_bounded() {
    let long = format!("name:{}", "a".repeat(MAX_LEN));
    assert_eq!(fails(&long).position, MAX_LEN + 1);
    let deep = format!("{}tag:a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert_eq!(parse(&deep), parse("tag:a"));
    let deeper = format!(
        "{}tag:a{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(fails(&deeper).reason.contains("nested deeper"));
    let nots = format!("{}tag:a", "not ".repeat(MAX_DEPTH + 1));
    assert!(fails(&nots).reason.contains("nested deeper"));
    // Long flat lists are fine.
    let wide = vec!["tag:a"; 400].join(" or ");
    assert!(wide.parse::<Selector>().is_ok());
}
