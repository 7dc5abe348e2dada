//! known_hosts parsing and import plans, with the shared cases HK-04 (port-scoped host keys) and
//! HK-06 (odd lines). Case files are read at test time; a missing file fails the test.

use super::*;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");

fn case(path: &str) -> String {
    let full = format!("{CASES}/{path}");
    std::fs::read_to_string(&full).unwrap_or_else(|e| {
        panic!("case file {full} is missing ({e}); tests/cases is part of the repository")
    })
}

/// The fingerprint of a `.pub` case file, through the same parser `ssh-keygen -l` agrees with.
fn fingerprint_of(path: &str) -> String {
    let text = case(path);
    PublicKey::from_openssh(text.trim())
        .unwrap()
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

fn platform(name: &str, host: &str, port: u16, pinned: Option<&str>) -> PlatformPin {
    PlatformPin {
        id: Uuid::new_v4(),
        name: name.into(),
        host: host.into(),
        port,
        pinned: pinned.map(String::from),
    }
}

fn entry(lines: &[Line], number: usize) -> &Entry {
    match &lines[number - 1] {
        Line::Entry(entry) => entry,
        other => panic!("line {number} did not parse: {other:?}"),
    }
}

fn rows<'a>(outcomes: &'a [Outcome], name: &str) -> Vec<&'a Outcome> {
    outcomes
        .iter()
        .filter(|o| o.platform.as_deref() == Some(name))
        .collect()
}

#[test]
fn fingerprints_are_those_of_ssh_keygen() {
    let lines = parse(&case("HK-06-known-hosts-odd-lines/known_hosts"));
    // `ssh-keygen -lf host_ed25519.pub` prints this fingerprint.
    assert_eq!(
        entry(&lines, 2).fingerprint,
        "SHA256:AmcnjdXXNn1CxOOGZ28+i7kSLOZcLhwKrbXtNOdEgeI"
    );
    assert_eq!(entry(&lines, 2).key_type, "ssh-ed25519");
}

#[test]
fn hk06_odd_lines_are_reported_by_number_and_the_rest_applies() {
    let lines = parse(&case("HK-06-known-hosts-odd-lines/known_hosts"));
    assert_eq!(lines.len(), 7);
    assert!(
        matches!(&lines[0], Line::Ignored { line: 1, invalid: false, reason } if reason == "comment")
    );
    assert!(
        matches!(&lines[3], Line::Ignored { line: 4, invalid: true, reason } if reason.contains("unsupported key type \"ssh-unknown-v01@example.com\"")),
        "{:?}",
        lines[3]
    );
    assert!(matches!(
        &lines[4],
        Line::Ignored {
            line: 5,
            invalid: true,
            ..
        }
    ));
    assert_eq!(entry(&lines, 6).marker, Some(Marker::Revoked));
    assert_eq!(entry(&lines, 7).marker, Some(Marker::CertAuthority));

    let host = fingerprint_of("HK-06-known-hosts-odd-lines/host_ed25519.pub");
    let host2 = fingerprint_of("HK-06-known-hosts-odd-lines/host2_ed25519.pub");
    let fresh = platform("fresh", "host.example", 22, None);
    let rotated = platform("rotated", "host.example", 22, Some(&host2));
    let other = platform("other", "host.example", 22, Some("SHA256:other"));
    let outcomes = plan(&lines, &[fresh, rotated, other]);

    // No pin yet: the first of the two rotation keys is pinned, the second reported.
    let fresh = rows(&outcomes, "fresh");
    assert_eq!(fresh.len(), 2, "{fresh:?}");
    assert_eq!((fresh[0].line, fresh[0].status), (2, Status::Pinned));
    assert_eq!(fresh[0].fingerprint.as_deref(), Some(host.as_str()));
    assert_eq!((fresh[1].line, fresh[1].status), (3, Status::Skipped));
    // Pinned to the second key of the rotation: it stays, nothing is refused.
    let rotated = rows(&outcomes, "rotated");
    assert_eq!((rotated[0].line, rotated[0].status), (2, Status::Skipped));
    assert_eq!((rotated[1].line, rotated[1].status), (3, Status::Unchanged));
    // Pinned to a key the file does not list: every line that would change it is refused.
    let other = rows(&outcomes, "other");
    assert!(
        other.iter().all(|o| o.status == Status::Refused),
        "{other:?}"
    );
    assert!(other[0].reason.as_deref().unwrap().contains("SHA256:other"));

    // Lines without a platform: comment, garbage, markers.
    let line = |n: usize| outcomes.iter().find(|o| o.line == n).unwrap();
    assert_eq!(line(1).status, Status::Skipped);
    assert_eq!(line(4).status, Status::Invalid);
    assert_eq!(line(5).status, Status::Invalid);
    assert_eq!(line(6).status, Status::Skipped);
    assert!(
        line(7)
            .reason
            .as_deref()
            .unwrap()
            .contains("@cert-authority")
    );
}

#[test]
fn revoked_wins_even_over_a_plain_line_for_the_same_key() {
    let attacker = case("HK-06-known-hosts-odd-lines/attacker_ed25519.pub");
    let text = format!(
        "{}host.example {}\n",
        case("HK-06-known-hosts-odd-lines/known_hosts"),
        attacker.trim()
    );
    let lines = parse(&text);
    // Only the attacker key for a host that the other lines do not name.
    let text_alone = format!(
        "@revoked * {}\nhost.example {}\n",
        attacker.trim(),
        attacker.trim()
    );
    let alone = plan(
        &parse(&text_alone),
        &[platform("p", "host.example", 22, None)],
    );
    let row = rows(&alone, "p");
    assert_eq!(row.len(), 1);
    assert_eq!(row[0].status, Status::Refused);
    assert!(row[0].reason.as_deref().unwrap().contains("line 1"));
    // In the full file the attacker line is refused and a legitimate key is pinned.
    let outcomes = plan(&lines, &[platform("p", "host.example", 22, None)]);
    let p = rows(&outcomes, "p");
    assert_eq!(p.iter().filter(|o| o.status == Status::Pinned).count(), 1);
    assert_eq!(p.last().unwrap().status, Status::Refused);
}

#[test]
fn hk04_pins_are_scoped_to_host_and_port() {
    let lines = parse(&case("HK-04-port-scoped-host-keys/known_hosts"));
    let host = fingerprint_of("HK-04-port-scoped-host-keys/host_ed25519.pub");
    let host2 = fingerprint_of("HK-04-port-scoped-host-keys/host2_ed25519.pub");
    let platforms = [
        platform("a22", "host.example", 22, None),
        platform("a2222", "Host.Example", 2222, None),
        platform("a2200", "host.example", 2200, None),
        platform("v6-22", "2001:db8::10", 22, None),
        platform("v6-2222", "2001:db8::10", 2222, None),
    ];
    let outcomes = plan(&lines, &platforms);
    let pinned = |name: &str| {
        let r = rows(&outcomes, name);
        assert!(r.len() <= 1, "{r:?}");
        r.first()
            .filter(|o| o.status == Status::Pinned)
            .and_then(|o| o.fingerprint.clone())
    };
    assert_eq!(pinned("a22"), Some(host.clone()));
    assert_eq!(pinned("a2222"), Some(host2.clone()));
    assert_eq!(
        pinned("a2200"),
        None,
        "port 2200 is unknown, never the port-22 key"
    );
    assert_eq!(pinned("v6-22"), Some(host));
    assert_eq!(pinned("v6-2222"), Some(host2));
}

#[test]
fn hashed_names_match_as_openssh_computes_them() {
    // Written by `ssh-keygen -H` from `host.example ...` and `[host.example]:2222 ...`.
    let text = "|1|iiG5hKndUnSuQHjEsB8vAzU8V80=|dI8ouHp1IEkasDv4K+ozSycrs1U= ssh-ed25519 \
                AAAAC3NzaC1lZDI1NTE5AAAAIA5YJsYk1KqXjFWMbX39owLVSOvwW03mok6C+g4qM2W0\n\
                |1|v20ab4wjH08HN4CIQnVtHB7uPkE=|resxcU7XlAjYcBTWWL2IhVttfSk= ssh-ed25519 \
                AAAAC3NzaC1lZDI1NTE5AAAAIF1y39umtzOqnLd8mAz0UvGItrugQJ22KYruRBBgZbAY\n\
                |1|bad|salt ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA5YJsYk1KqXjFWMbX39owLVSOvwW03mok6C+g4qM2W0\n";
    let lines = parse(text);
    assert!(entry(&lines, 1).matches("host.example", 22));
    assert!(entry(&lines, 1).matches("HOST.example", 22));
    assert!(!entry(&lines, 1).matches("host.example", 2222));
    assert!(!entry(&lines, 1).matches("other.example", 22));
    assert!(entry(&lines, 2).matches("host.example", 2222));
    assert!(!entry(&lines, 2).matches("host.example", 22));
    assert!(
        matches!(&lines[2], Line::Ignored { invalid: true, reason, .. } if reason.contains("|1|"))
    );
}

#[test]
fn patterns_lists_wildcards_and_negation() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA5YJsYk1KqXjFWMbX39owLVSOvwW03mok6C+g4qM2W0";
    let e = |hosts: &str| entry(&parse(&format!("{hosts} {key}")), 1).clone();
    let list = e("web1,web2.example,10.0.0.5");
    assert!(list.matches("web1", 22) && list.matches("web2.example", 22));
    assert!(list.matches("10.0.0.5", 22) && !list.matches("web3", 22));
    let wild = e("*.example,!db?.example");
    assert!(wild.matches("web.example", 22));
    assert!(!wild.matches("db1.example", 22), "a negated pattern wins");
    assert!(!wild.matches("example", 22));
    assert!(wild.matches("web.example", 2222) == wildcard_match("[web.example]:2222", "*.example"));
    let port = e("[*.example]:2222");
    assert!(port.matches("a.example", 2222) && !port.matches("a.example", 22));
}

#[test]
fn line_shapes() {
    let lines = parse(
        "\r\n   \n# c\n@foo host ssh-ed25519 AAAA\nhost-only\nhost ssh-ed25519 notbase64!\nhost ssh-dss AAAAB3NzaC1kc3MAAACBAP\n",
    );
    let reasons: Vec<(usize, bool)> = lines
        .iter()
        .map(|l| match l {
            Line::Ignored { line, invalid, .. } => (*line, *invalid),
            Line::Entry(e) => panic!("parsed: {e:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [
            (1, false),
            (2, false),
            (3, false),
            (4, true),
            (5, true),
            (6, true),
            (7, true)
        ]
    );
}

#[test]
fn the_strongest_algorithm_is_pinned_when_a_host_lists_several() {
    // An RSA line first, then Ed25519: Ed25519 is pinned (russh is then told to prefer it).
    let rsa = "AAAAB3NzaC1yc2EAAAADAQABAAABAQDImZNdG4l2J0L4wcjhXSmYSbJkUZ8jsmXIFHG4fQNkvgqRFWbnrEAFrmRPahbzT0wQgrDFCNzPtVkF4yz9KikQqvEi9KMaAkPnBBmYl0QqjrFkdbAATyDldpm++7HIDAPRoucxKPYyXViolxWFIwaM+gtHCBjiqKVHOGvCMvW9sgVPPFSXTbjo3TxQxAsjzwmHeYr4A2Z4RQVt2bTzcSl6mKTsbT6PVz0tRRbzDQeVjLb7r2TP702+zWGbkqHVSCUMf3nqrWY6Y2sTAX/RBLT3tVInjiJj1rlA1WgadUpjay3+FKL/EEGyZKmLFzD2DhHLHYlKGJD4JrCGUZ4CBnXD";
    let text = format!(
        "h ssh-rsa {rsa}\nh ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA5YJsYk1KqXjFWMbX39owLVSOvwW03mok6C+g4qM2W0\n"
    );
    let lines = parse(&text);
    assert!(matches!(&lines[0], Line::Entry(e) if e.key_type == "ssh-rsa"));
    let outcomes = plan(&lines, &[platform("h", "h", 22, None)]);
    let pinned: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == Status::Pinned)
        .collect();
    assert_eq!(pinned.len(), 1);
    assert_eq!(pinned[0].key_type.as_deref(), Some("ssh-ed25519"));
}

#[test]
fn a_unicode_space_belongs_to_the_host_pattern_it_starts() {
    // The input the known_hosts fuzz target saved (fuzz/regressions/known_hosts/): the host
    // field starts with U+2000. OpenSSH's hostfile.c splits on space and tab only, so the pattern
    // is "\u{2000}server.org", which names no host `server.org`.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fuzz/regressions/known_hosts/crash-f68ca1b9d3a0eba95c83a517e3d93601c9d17ee4"
    ))
    .unwrap();
    let lines = parse(&text);
    assert_eq!(lines.len(), 1);
    let e = entry(&lines, 1);
    assert!(e.matches("\u{2000}server.org", 22));
    assert!(!e.matches("server.org", 22));
    let outcomes = plan(&lines, &[platform("srv", "server.org", 22, None)]);
    assert!(
        rows(&outcomes, "srv")
            .iter()
            .all(|o| o.status != Status::Pinned),
        "server.org pinned from a line that does not name it: {outcomes:?}"
    );
}
