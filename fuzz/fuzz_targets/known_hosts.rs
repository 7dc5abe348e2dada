//! The known_hosts reader (`parse`), host matching (`Entry::matches`) and the import plan
//! (`plan`) on any text.
//!
//! Invariants: nothing panics; one parsed line per text line, numbered 1, 2, ...; an entry whose
//! host list has no negation matches each literal host it names (`host`, or `[host]:port`
//! for another port than 22); the plan says something about every line and pins at most one key
//! per platform.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testum::known_hosts::{Entry, Line, PlatformPin, Status, parse, plan};
use uuid::Uuid;

/// The hosts field of a known_hosts line (after an optional marker), split as `parse` splits:
/// on space and tab only, as OpenSSH's hostfile.c does (a Unicode space such as U+2000 is part of
/// the field; fuzz/regressions/known_hosts/ holds the input that showed this harness splitting on
/// every Unicode space).
fn hosts_field(raw: &str) -> Option<&str> {
    let mut fields = raw.split([' ', '\t']).filter(|field| !field.is_empty());
    let first = fields.next()?;
    if first.starts_with('@') {
        fields.next()
    } else {
        Some(first)
    }
}

/// Check that `entry` matches every literal host of `field` (a list without negations).
fn check_literal_hosts(entry: &Entry, field: &str) {
    if field.starts_with('|') || field.split(',').any(|p| p.starts_with('!')) {
        return;
    }
    for pattern in field.split(',').filter(|p| !p.contains(['*', '?'])) {
        let bracketed = pattern
            .strip_prefix('[')
            .and_then(|p| p.split_once("]:"))
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok(), port)))
            // Only a port written as ssh writes it (`[host]:2222`, not `+2222` or `02222`).
            .and_then(|(host, port, text)| {
                port.filter(|p| p.to_string() == text).map(|p| (host, p))
            })
            .filter(|(_, port)| *port != 22);
        let (host, port) = bracketed.unwrap_or((pattern, 22));
        assert!(
            entry.matches(host, port),
            "line {} does not match its own host {host:?} port {port}",
            entry.line
        );
    }
}

fuzz_target!(|text: &str| {
    let lines = parse(text);
    assert_eq!(
        lines.len(),
        text.lines().count(),
        "one parsed line per line"
    );
    for ((i, line), raw) in lines.iter().enumerate().zip(text.lines()) {
        let number = match line {
            Line::Entry(entry) => {
                check_literal_hosts(entry, hosts_field(raw).expect("an entry has a hosts field"));
                entry.line
            }
            Line::Ignored { line, .. } => *line,
        };
        assert_eq!(number, i + 1, "line numbers are not 1, 2, ...");
    }

    // Two platforms named by the first literal host of the text, one unpinned and one pinned to
    // the first entry's key, and one no line names.
    let first_host = lines
        .iter()
        .zip(text.lines())
        .find_map(|(line, raw)| match line {
            Line::Entry(_) => hosts_field(raw)?.split(',').next().map(str::to_string),
            Line::Ignored { .. } => None,
        })
        .unwrap_or_default();
    let first_fingerprint = lines.iter().find_map(|line| match line {
        Line::Entry(entry) => Some(entry.fingerprint.clone()),
        Line::Ignored { .. } => None,
    });
    let platform = |n: u128, host: &str, pinned: Option<String>| PlatformPin {
        id: Uuid::from_u128(n),
        name: format!("p{n}"),
        host: host.to_string(),
        port: 22,
        pinned,
    };
    let platforms = [
        platform(1, &first_host, None),
        platform(2, &first_host, first_fingerprint),
        platform(3, "nowhere.invalid", None),
    ];
    let outcomes = plan(&lines, &platforms);
    for (i, _) in lines.iter().enumerate() {
        assert!(
            outcomes.iter().any(|o| o.line == i + 1),
            "the plan says nothing about line {}",
            i + 1
        );
    }
    for p in &platforms {
        let kept = outcomes
            .iter()
            .filter(|o| o.platform_id == Some(p.id))
            .filter(|o| matches!(o.status, Status::Pinned | Status::Unchanged))
            .count();
        assert!(kept <= 1, "platform {} gets {kept} host keys", p.name);
    }
});
