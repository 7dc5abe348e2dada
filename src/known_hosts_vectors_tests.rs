//! The peer vectors of kinds `known_hosts_line` and `known_hosts_host` (`tests/cases/external/`)
//! as tests of [`parse`], [`Entry::matches`] and [`lookup_name`] against OpenSSH's verdict
//! (hostfile.c / match.c, replayed with the real `ssh`).
//!
//! A `known_hosts_line` vector is the first line of its input: its class (entry, comment, blank,
//! invalid), marker, host patterns, hashing, key type, fingerprint, and the lookup names it must
//! and must not match (`host` for port 22, `[host]:port` otherwise, or any name given as
//! `HostKeyAlias`). testum keeps no comment of a
//! known_hosts line, so `comment` is not compared. A vector testum reads otherwise on purpose
//! would be listed in [`DELIBERATE`] with the reason.
//!
//! A `known_hosts_host` vector is an address (golang `knownhosts.Normalize`) and the host token
//! OpenSSH writes and looks up for it. testum takes a platform's host and port as two fields, so
//! the split of the address is the vector's own (done here, as golang does it); what is checked
//! is the token [`lookup_name`] makes of the host and port and that a line written with the
//! expected token names that host and port, and no other port.

use serde_json::Value;

use super::*;
use crate::peer_vectors::{Deliberate, assert_documented, differs, load, verdict};

/// Vectors testum reads otherwise than OpenSSH, on purpose (none today).
const DELIBERATE: &[Deliberate<'_>] = &[];

fn names(expect: &Value, field: &str) -> Vec<String> {
    expect
        .get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|n| n.as_str().expect("name").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn marker_name(marker: Option<Marker>) -> Option<&'static str> {
    marker.map(|m| match m {
        Marker::CertAuthority => "@cert-authority",
        Marker::Revoked => "@revoked",
    })
}

fn check_entry(entry: &Entry, expect: &Value) -> Result<(), String> {
    let mut diffs: Vec<String> = [
        differs(expect, "marker", marker_name(entry.marker)),
        differs(expect, "key_type", Some(&entry.key_type)),
        differs(expect, "fingerprint", Some(&entry.fingerprint)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let hashed = matches!(entry.hosts, Hosts::Hashed { .. });
    if expect.get("hashed").is_some_and(|h| *h != hashed) {
        diffs.push(format!("hashed {hashed}"));
    }
    if let Hosts::Patterns(list) = &entry.hosts {
        let want = names(expect, "hosts");
        let got: Vec<&str> = list.split(',').collect();
        if got != want {
            diffs.push(format!("hosts {got:?} != {want:?}"));
        }
    }
    for (field, should) in [("matches", true), ("not_matches", false)] {
        for name in names(expect, field) {
            if entry.matches_name(&name) != should {
                diffs.push(format!("{name:?} matches: {}", !should));
            }
        }
    }
    verdict(diffs)
}

fn check_line(input: &str, expect: &Value) -> Result<(), String> {
    let want = expect["line_class"].as_str().expect("line_class");
    // An empty text has no line at all, which is what a blank line amounts to.
    let Some(line) = parse(input).into_iter().next() else {
        return if want == "blank" {
            Ok(())
        } else {
            Err(format!("no line, OpenSSH says {want}"))
        };
    };
    let class = match &line {
        Line::Entry(_) => "entry",
        Line::Ignored { invalid: true, .. } => "invalid",
        Line::Ignored { reason, .. } if reason == "blank line" => "blank",
        Line::Ignored { .. } => "comment",
    };
    if class != want {
        let reason = match &line {
            Line::Ignored { reason, .. } => reason.as_str(),
            Line::Entry(_) => "",
        };
        return Err(format!("class {class} ({reason}), OpenSSH says {want}"));
    }
    match &line {
        Line::Entry(entry) => check_entry(entry, expect),
        Line::Ignored { .. } => Ok(()),
    }
}

/// golang `knownhosts.Normalize`'s split: `[host]:port`, `[host]`, `host:port` with one colon,
/// or a bare host (an IPv6 literal without brackets has no port).
fn split_address(address: &str) -> (String, u16) {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            return (host.to_owned(), port.parse().expect("port"));
        }
        return (rest.trim_end_matches(']').to_owned(), 22);
    }
    match address.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host.to_owned(), port.parse().expect("port")),
        _ => (address.to_owned(), 22),
    }
}

fn check_host(address: &str, expect: &Value) -> Result<(), String> {
    let want = expect["known_hosts_host"]
        .as_str()
        .expect("known_hosts_host");
    let (host, port) = split_address(address);
    let token = lookup_name(&host, port);
    if token != want {
        return Err(format!("token {token:?} != {want:?}"));
    }
    let Some(line) = expect.get("known_hosts_line").and_then(Value::as_str) else {
        return Ok(());
    };
    match parse(line).first() {
        Some(Line::Entry(entry)) if entry.matches(&host, port) => {
            let other = if port == 22 { 2222 } else { 22 };
            if entry.matches(&host, other) {
                Err(format!("the line also names port {other}"))
            } else {
                Ok(())
            }
        }
        other => Err(format!(
            "the written line does not name {host} port {port}: {other:?}"
        )),
    }
}

fn check(v: &Value) -> Result<(), String> {
    let input = v["input"].as_str().expect("input is a string");
    match v["kind"].as_str() {
        Some("known_hosts_line") => check_line(input, &v["expect"]),
        Some("known_hosts_host") => check_host(input, &v["expect"]),
        other => Err(format!("unexpected kind {other:?}")),
    }
}

#[test]
fn known_hosts_vectors_agree_with_openssh_except_the_deliberate_list() {
    let vectors = load(&["known_hosts_line", "known_hosts_host"]);
    assert_documented(&vectors, 173 + 24, DELIBERATE, check);
}
