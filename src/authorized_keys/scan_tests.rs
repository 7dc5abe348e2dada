//! Tests of [`scan`]: every finding kind on realistic files, odd file shapes, the shared cases
//! (`shared/cases/AK-*`, `KF-04`) and the peer vectors in `tests/cases/external/` (OpenSSH's
//! verdict on authorized_keys lines, files and options). The scan is the authorized_keys
//! parser's reading of a line ([`parse_key_line`] for options, type, key and comment, then
//! [`crate::keys::blob::inspect`] for the key as sshd reads it), so these vectors check both.

use std::path::PathBuf;

use super::tests::block;
use super::*;
use crate::peer_vectors::{self, Deliberate, differs, verdict};

const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi alice@example";
const ALICE_FP: &str = "SHA256:UDg/ujT49DW/Pxm2xvXQ0iZup35n9p0WQGmtnE8x3rs";
const BOB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example";
const BOB_FP: &str = "SHA256:UDjG92t+UoUg0EYnS5/U9570Lb9fhmjqAp+I0BEHdPs";
const CAROL: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJckazTNTt9zJt8bfM1WvsavNQyKMH6jEkL5wXCoT8s8 carol@example";
const CAROL_FP: &str = "SHA256:yTKpRFX0NT9iVuqEyuLScbd38tmRqsXk8tsfC8MgcZs";
/// `ssh-keygen -t rsa -b 1024` (fingerprint and size from `ssh-keygen -l`).
const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+3W3B5W2dieQ0J1Q6MNIVBw5VXXgTh1NeJixq47sNdMw6cJCoKUynFEtFJJRPV3Nwt6J0KQb1wuMZ4ABU0xPRDshaRjh1slw07ijtEeB11y+H8aFEnfbm5dEQDDwmhvyCXmEBAgE99518AtRnOTsyXElCwn6yGdlEK8lncK25ZQ== old-rsa";
const RSA1024_FP: &str = "SHA256:g+mD+Re36wfSeJrd1yLGva3lKbCoQRj/GgzK9LTxpIE";
/// `ssh-keygen -t dsa` with OpenSSH 9.2.
const DSA: &str = "ssh-dss AAAAB3NzaC1kc3MAAACBAMVvY5cmKmn5OHi9nimIcLdXcHDdQwyyeqZoFX19RvfsrYkE8A8lGb0cEn18Sf0L7dbvg0miG7DWFsMx5eDeOYsbVoyGxn2dMIB6nq37mvA7fuVjMJHRUK9U1IGY9QvLbGBqf+NYLgPhIPsGJiKVtOdCXDT5Hf8lxbs63koPTlt/AAAAFQDljCr2VJx8gax8UfB2qB+ix+CGTwAAAIBWi6gLdsjgy0ble1JFOhTgwFaTAkrmS/19bzb6LcdAEh4PpEisxia+yVRtFoPqeqJwkoeT/DkkT7DmakBGmSK7Y2KM6DCoa0oROJlnwxVV9eRuro5lD0Y5n5zrU96TPN9pW69PnKZVaTiKHVuu/MP0rsPRB9ufzSf0OZnsuYiNmQAAAIANqzU+K3V9M/ynEDVHMPjsbMSwreNdrWVn9C0YK0dudUQSa0ytZsZsmav1hlCwYlCiyl1B+j5xl8JSasvlTgYEC4L8WTpN4YUWBZ2Y0xf6jfHIfDunWYATSYqlr8hxFZU0E/ibPbP9cu/bdX1TZUOuD7pPiry2GIpZvU0xVnSOKw== old-dsa";
const DSA_FP: &str = "SHA256:5BK9vEUHIeZRcNmv4w7qM+/uV51TBKukrolzSdJzT4k";

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn scan_text(text: &str, expected: &[&str]) -> ScanReport {
    scan(Some(text.as_bytes()), &s(expected))
}

/// `(kind, line)` of every finding, in report order.
fn kinds(report: &ScanReport) -> Vec<(FindingKind, Option<usize>)> {
    report.findings.iter().map(|f| (f.kind, f.line)).collect()
}

fn classes(report: &ScanReport) -> Vec<LineClass> {
    report.lines.iter().map(|l| l.class).collect()
}

fn ssh_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(bytes);
    out
}

#[test]
fn a_missing_file_is_one_finding_and_no_lines() {
    let r = scan(None, &s(&[ALICE]));
    assert!(r.lines.is_empty());
    assert_eq!(kinds(&r), vec![(FindingKind::FileMissing, None)]);
    assert!(r.findings[0].message.contains("does not exist"));
}

#[test]
fn a_file_testum_wrote_has_no_findings() {
    let desired = s(&[&format!("restrict,from=\"10.0.0.0/8\" {ALICE}"), BOB]);
    let content = apply(b"# team keys\n\n", &desired).expect("apply").content;
    let r = scan(Some(&content), &desired);
    assert_eq!(kinds(&r), vec![]);
    use LineClass::*;
    assert_eq!(
        classes(&r),
        vec![Comment, Blank, Comment, Entry, Entry, Comment]
    );
    let managed: Vec<bool> = r.lines.iter().map(|l| l.managed).collect();
    assert_eq!(managed, vec![false, false, true, true, true, true]);
    let alice = &r.lines[3];
    assert_eq!(alice.number, 4);
    assert_eq!(alice.key_type.as_deref(), Some("ssh-ed25519"));
    assert_eq!(alice.fingerprint.as_deref(), Some(ALICE_FP));
    assert_eq!(alice.bits, Some(256));
    assert_eq!(alice.comment.as_deref(), Some("alice@example"));
    assert_eq!(
        alice.options,
        vec![
            ScannedOption {
                name: "restrict".into(),
                value: None
            },
            ScannedOption {
                name: "from".into(),
                value: Some("10.0.0.0/8".into())
            },
        ]
    );
    assert_eq!(
        (alice.key_id, &alice.key_name, &alice.owner),
        (None, &None, &None)
    );
}

/// One realistic file with every finding [`scan`] emits on an intact block.
#[test]
fn every_line_finding_on_one_realistic_file() {
    let text = format!(
        "# keys for deploy\n\
         \n\
         command=\"/usr/bin/backup\" {ALICE}\n\
         {RSA1024}\n\
         ssh-rsa DATA_BASIC root@testing\n\
         {BOB}\n\
         {}\
         {BOB}\n",
        String::from_utf8(block(&[ALICE, CAROL])).expect("utf8")
    );
    // testum wrote ALICE and DSA; CAROL was added into the block by hand, DSA removed by hand.
    let r = scan_text(&text, &[ALICE, DSA]);
    use FindingKind::*;
    assert_eq!(
        kinds(&r),
        vec![
            (UnmanagedKey, Some(3)),
            (UnmanagedKey, Some(4)),
            (WeakKey, Some(4)),
            (InvalidLine, Some(5)),
            (UnmanagedKey, Some(6)),
            (Shadowed, Some(8)),
            (ManagedChanged, Some(9)),
            (UnmanagedKey, Some(11)),
            (Duplicate, Some(11)),
            (ManagedMissing, None),
        ]
    );
    let f = &r.findings;
    assert_eq!(f[0].fingerprint.as_deref(), Some(ALICE_FP));
    assert_eq!(f[2].fingerprint.as_deref(), Some(RSA1024_FP));
    assert!(f[2].message.starts_with("line 4: "), "{}", f[2].message);
    assert!(f[2].message.contains("1024"), "{}", f[2].message);
    assert!(
        f[3].message.starts_with("line 5: sshd skips"),
        "{}",
        f[3].message
    );
    assert!(
        !f[3].message.contains("DATA_BASIC"),
        "never echoes the line"
    );
    assert!(
        f[5].message.contains("line 3"),
        "names the winner: {}",
        f[5].message
    );
    assert_eq!(f[6].fingerprint.as_deref(), Some(CAROL_FP));
    assert!(f[8].message.contains("line 6"), "{}", f[8].message);
    assert_eq!(f[9].fingerprint.as_deref(), Some(DSA_FP));
    assert!(f.iter().all(|f| !f.message.is_empty()));

    assert_eq!(r.lines[3].bits, Some(1024));
    assert_eq!(r.lines[4].class, LineClass::Invalid);
    assert!(r.lines[4].reason.as_deref().is_some_and(|x| !x.is_empty()));
    assert_eq!(r.lines[4].key_type, None);
    let managed: Vec<usize> = r
        .lines
        .iter()
        .filter(|l| l.managed)
        .map(|l| l.number)
        .collect();
    assert_eq!(managed, vec![7, 8, 9, 10]);
}

#[test]
fn weak_keys_dsa_of_any_size_and_rsa_under_2048() {
    let r = scan_text(&format!("{DSA}\n{RSA1024}\n{ALICE}\n"), &[]);
    use FindingKind::*;
    assert_eq!(
        kinds(&r),
        vec![
            (UnmanagedKey, Some(1)),
            (WeakKey, Some(1)),
            (UnmanagedKey, Some(2)),
            (WeakKey, Some(2)),
            (UnmanagedKey, Some(3)),
        ]
    );
    assert_eq!(r.lines[0].fingerprint.as_deref(), Some(DSA_FP));
    assert_eq!((r.lines[0].bits, r.lines[1].bits), (Some(1024), Some(1024)));
    assert!(is_weak("ssh-dss", 2048));
    assert!(is_weak("ssh-dss-cert-v01@openssh.com", 1024));
    assert!(is_weak("rsa-sha2-512", 1536));
    assert!(!is_weak("ssh-rsa", 2048));
    assert!(!is_weak("ssh-rsa-cert-v01@openssh.com", 3072));
    assert!(!is_weak("ssh-ed25519", 256));
    assert!(!is_weak("ecdsa-sha2-nistp256", 256));
}

#[test]
fn rsa_under_1024_bits_is_a_line_sshd_skips() {
    use base64::Engine as _;
    let mut blob = ssh_string(b"ssh-rsa");
    blob.extend(ssh_string(&[1, 0, 1]));
    let mut n = vec![0x00, 0xc5];
    n.extend([0x5a; 63]);
    blob.extend(ssh_string(&n));
    let line = format!(
        "ssh-rsa {} tiny",
        base64::engine::general_purpose::STANDARD.encode(&blob)
    );
    let r = scan_text(&line, &[]);
    assert_eq!(classes(&r), vec![LineClass::Invalid]);
    let reason = r.lines[0].reason.as_deref().expect("reason");
    assert!(
        reason.contains("512 bits") && reason.contains("1024"),
        "{reason}"
    );
    assert_eq!(kinds(&r), vec![(FindingKind::InvalidLine, Some(1))]);
}

#[test]
fn shadowing_follows_sshd_first_match_rules() {
    use FindingKind::*;
    let managed = |earlier: &str| {
        let text = format!(
            "{earlier}\n{}",
            String::from_utf8(block(&[ALICE])).expect("utf8")
        );
        kinds(&scan_text(&text, &[ALICE]))
    };
    // An earlier unrestricted line with other options wins whenever the key matches.
    assert_eq!(
        managed(&format!("no-pty {ALICE}")),
        vec![(UnmanagedKey, Some(1)), (Shadowed, Some(3))]
    );
    // Same options: the managed line is merely a duplicate (its options are the ones in force).
    assert_eq!(
        managed(ALICE),
        vec![(UnmanagedKey, Some(1)), (Duplicate, Some(3))]
    );
    // from=/principals=/expiry-time= let sshd fall through to the next line: legitimate.
    for restricted in [
        "from=\"192.0.2.1\"",
        "expiry-time=\"20300101\"",
        "principals=\"root\"",
    ] {
        assert_eq!(
            managed(&format!("{restricted} {ALICE}")),
            vec![(UnmanagedKey, Some(1))],
            "{restricted}"
        );
    }
    // cert-authority lines and plain lines are matched separately.
    assert_eq!(
        managed(&format!("cert-authority {ALICE}")),
        vec![(UnmanagedKey, Some(1))]
    );
    // A line after the block never shadows the block; it is a duplicate the block wins over.
    let text = format!(
        "{}command=\"true\" {ALICE}\n",
        String::from_utf8(block(&[ALICE])).expect("utf8")
    );
    assert_eq!(
        kinds(&scan_text(&text, &[ALICE])),
        vec![(UnmanagedKey, Some(4)), (Duplicate, Some(4))]
    );
}

#[test]
fn damaged_markers_classify_every_line_and_claim_nothing() {
    let b = BEGIN_MARKER;
    let e = END_MARKER;
    for (text, marker_line, needle) in [
        (format!("{ALICE}\n{b}\n{BOB}\n"), 2, "no END marker"),
        (
            format!("{b}\n{ALICE}\n{e}\n{b}\n{BOB}\n{e}\n"),
            1,
            "more than one",
        ),
        (format!("{ALICE}\n{e}\n{BOB}\n{b}\n"), 2, "comes before"),
        (
            format!("{ALICE}\n# begin testum managed keys\n{BOB}\n{e}\n"),
            2,
            "looks like a testum marker",
        ),
    ] {
        let r = scan_text(&text, &[BOB]);
        assert_eq!(
            kinds(&r),
            vec![(FindingKind::DamagedMarkers, Some(marker_line))],
            "{text:?}"
        );
        assert!(
            r.findings[0].message.contains(needle),
            "{}",
            r.findings[0].message
        );
        assert!(r.lines.iter().all(|l| !l.managed));
        let entries = r
            .lines
            .iter()
            .filter(|l| l.class == LineClass::Entry)
            .count();
        assert_eq!(entries, 2, "{text:?}");
    }
    // Weak, duplicate and invalid lines are still reported next to damaged markers.
    let r = scan_text(&format!("{b}\n{RSA1024}\n{RSA1024}\nbogus\n"), &[]);
    use FindingKind::*;
    assert_eq!(
        kinds(&r),
        vec![
            (DamagedMarkers, Some(1)),
            (WeakKey, Some(2)),
            (WeakKey, Some(3)),
            (Duplicate, Some(3)),
            (InvalidLine, Some(4)),
        ]
    );
}

#[test]
fn a_missing_block_makes_every_expected_line_missing() {
    let r = scan_text(&format!("{ALICE}\n"), &[ALICE, BOB]);
    use FindingKind::*;
    assert_eq!(
        kinds(&r),
        vec![
            (UnmanagedKey, Some(1)),
            (ManagedMissing, None),
            (ManagedMissing, None)
        ]
    );
    assert_eq!(r.findings[2].fingerprint.as_deref(), Some(BOB_FP));
    // An empty file with nothing expected is simply empty.
    let r = scan(Some(b""), &[]);
    assert!(r.lines.is_empty() && r.findings.is_empty());
}

#[test]
fn block_comparison_ignores_separators_and_counts_copies() {
    // Tabs and double spaces in the block are not a change (same canonical line) ...
    let text = format!(
        "{BEGIN_MARKER}\nssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi  alice@example\n\n{END_MARKER}\n"
    );
    assert_eq!(kinds(&scan_text(&text, &[ALICE])), vec![]);
    // ... a second copy of an expected line is (one match per expected line), and so is a
    // changed comment.
    let text = String::from_utf8(block(&[
        ALICE,
        ALICE,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi renamed",
    ]))
    .expect("utf8");
    use FindingKind::*;
    assert_eq!(
        kinds(&scan_text(&text, &[ALICE])),
        vec![
            (ManagedChanged, Some(3)),
            (Duplicate, Some(3)),
            (ManagedChanged, Some(4)),
            (Duplicate, Some(4)),
        ]
    );
}

#[test]
fn odd_shapes_crlf_bom_no_final_newline_non_utf8() {
    // CRLF: the CR belongs to the line ending, not to the comment; a lone CR at EOF too.
    let text = format!("# keys\r\n{ALICE}\r\n{BOB}\r");
    let r = scan_text(&text, &[]);
    assert_eq!(
        classes(&r),
        vec![LineClass::Comment, LineClass::Entry, LineClass::Entry]
    );
    assert_eq!(r.lines[1].comment.as_deref(), Some("alice@example"));
    assert_eq!(r.lines[2].comment.as_deref(), Some("bob@example"));
    // A BOM is not skipped by sshd: the first key is lost, the others still count.
    let r = scan_text(&format!("\u{feff}{ALICE}\n{BOB}"), &[]);
    assert_eq!(classes(&r), vec![LineClass::Invalid, LineClass::Entry]);
    assert!(
        r.lines[0]
            .reason
            .as_deref()
            .is_some_and(|x| x.contains("byte order mark"))
    );
    assert_eq!(r.lines[1].fingerprint.as_deref(), Some(BOB_FP));
    // Non-UTF-8 bytes in a comment line, in a key comment and as garbage; NUL bytes.
    let mut bytes = b"# caf\xe9\n".to_vec();
    bytes.extend_from_slice(CAROL.as_bytes());
    bytes.extend_from_slice(b" \xff\xfe\n\x80\x81 garbage\n\0\0\n");
    let r = scan(Some(&bytes), &[]);
    assert_eq!(
        classes(&r),
        vec![
            LineClass::Comment,
            LineClass::Entry,
            LineClass::Invalid,
            LineClass::Invalid
        ]
    );
    assert_eq!(r.lines[1].fingerprint.as_deref(), Some(CAROL_FP));
}

#[test]
fn reasons_never_echo_what_was_pasted() {
    let secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7secretmaterial";
    let r = scan_text(&format!("{secret}\n2048 65537 12345 legacy@example\n"), &[]);
    for l in &r.lines {
        let reason = l.reason.as_deref().expect("invalid");
        assert!(
            !reason.to_lowercase().contains("secretmaterial"),
            "{reason}"
        );
    }
    for f in &r.findings {
        assert!(
            !f.message.to_lowercase().contains("secretmaterial"),
            "{}",
            f.message
        );
    }
    // A plausible option name is named, so the operator can find the typo.
    let r = scan_text(&format!("no-ptty {ALICE}\n"), &[]);
    assert!(
        r.lines[0]
            .reason
            .as_deref()
            .is_some_and(|x| x.contains("no-ptty"))
    );
}

#[test]
fn sixteen_mebibytes_scan_in_linear_time() {
    // 16 MiB: every ~100 bytes a key line, all the same key, plus long garbage lines. A
    // pairwise duplicate search would need ~10^10 comparisons here.
    let mut text = String::with_capacity(16 << 20);
    let mut n = 0usize;
    while text.len() < (16 << 20) - 200_000 {
        text.push_str(ALICE);
        text.push('\n');
        n += 1;
    }
    text.push_str(&"x,".repeat(90_000));
    text.push('\n');
    let r = scan(Some(text.as_bytes()), &[]);
    assert_eq!(r.lines.len(), n + 1);
    let dups = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Duplicate)
        .count();
    assert_eq!(dups, n - 1);
    assert_eq!(r.lines[n].class, LineClass::Invalid);
}

#[test]
fn serialises_with_snake_case_names() {
    let r = scan_text(&format!("{RSA1024}\n"), &[]);
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["lines"][0]["class"], "entry");
    assert_eq!(json["findings"][0]["kind"], "unmanaged_key");
    assert_eq!(json["findings"][1]["kind"], "weak_key");
    let back: ScanReport = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, r);
}

// ---------------------------------------------------------------------------------------------
// Shared cases (shared/cases/AK-*, KF-04) through scan().

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/");

fn case_file(id: &str, file: &str) -> Vec<u8> {
    let root = PathBuf::from(CASES);
    assert!(
        root.is_dir(),
        "shared cases folder {} is missing: tests/cases is part of the repository",
        root.display()
    );
    let path = root.join(id).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every file of a case scans without finding anything but unmanaged keys (the cases' files
/// have no testum block) and the invalid lines listed.
fn assert_only_unmanaged(id: &str, file: &str, invalid: &[usize]) -> ScanReport {
    let r = scan(Some(&case_file(id, file)), &[]);
    for f in &r.findings {
        match f.kind {
            FindingKind::UnmanagedKey => {}
            FindingKind::InvalidLine if invalid.contains(&f.line.expect("line")) => {}
            _ => panic!("{id}/{file}: unexpected finding {f:?}"),
        }
    }
    let bad: Vec<usize> = r
        .lines
        .iter()
        .filter(|l| l.class == LineClass::Invalid)
        .map(|l| l.number)
        .collect();
    assert_eq!(bad, invalid, "{id}/{file}: invalid lines");
    r
}

fn entry(r: &ScanReport, number: usize) -> &ScannedLine {
    let l = &r.lines[number - 1];
    assert_eq!(l.class, LineClass::Entry, "line {number}: {l:?}");
    l
}

fn opts(line: &ScannedLine) -> Vec<(&str, Option<&str>)> {
    line.options
        .iter()
        .map(|o| (o.name.as_str(), o.value.as_deref()))
        .collect()
}

#[test]
fn ak01_from_list_with_commas_is_one_option() {
    let id = "AK-01-from-list-comma";
    assert_only_unmanaged(id, "authorized_keys.expected", &[]);
    let r = assert_only_unmanaged(id, "authorized_keys.before", &[]);
    let from = r
        .lines
        .iter()
        .find(|l| l.options.iter().any(|o| o.name == "from"))
        .expect("a from= line");
    assert_eq!(opts(from)[0], ("from", Some("10.0.0.*,192.168.1.*")));
}

#[test]
fn ak02_quote_in_command_parses_and_ssh1_line_is_skipped() {
    let id = "AK-02-unrelated-line-breaks-parser";
    let r = assert_only_unmanaged(id, "authorized_keys.before", &[2]);
    let carol = entry(&r, 1);
    assert_eq!(opts(carol), vec![("command", Some("echo bar 'foo bar'"))]);
    assert_eq!(carol.fingerprint.as_deref(), Some(CAROL_FP));
    assert_eq!(carol.comment.as_deref(), Some("carol@example"));
    assert!(!r.findings[1].message.contains("65537"), "never echoes");
    assert_only_unmanaged(id, "authorized_keys.expected", &[2]);
}

#[test]
fn ak04_same_key_with_restricting_options_is_legitimate() {
    let id = "AK-04-same-key-different-options";
    let req: serde_json::Value =
        serde_json::from_slice(&case_file(id, "request.json")).expect("json");
    let entries: Vec<String> = req["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|v| v.as_str().expect("str").to_string())
        .collect();
    assert_eq!(entries.len(), 4);
    let content = apply(&case_file(id, "authorized_keys.before"), &entries)
        .expect("apply")
        .content;
    let r = scan(Some(&content), &entries);
    assert_eq!(
        kinds(&r),
        vec![],
        "no shadowing, no duplicate: {:?}",
        r.findings
    );
    assert_eq!(
        r.lines
            .iter()
            .filter(|l| l.class == LineClass::Entry)
            .count(),
        4
    );
    // The case's own expected file (no testum block): four unmanaged entries, nothing else.
    let r = assert_only_unmanaged(id, "authorized_keys.expected", &[]);
    assert_eq!(r.findings.len(), 4);
}

#[test]
fn ak05_ak07_ak08_ak10_files_scan_cleanly() {
    for (id, files) in [
        (
            "AK-05-readd-same-key",
            &["authorized_keys.before", "authorized_keys.expected"][..],
        ),
        (
            "AK-07-preserve-order-comments-blanks",
            &[
                "authorized_keys.before",
                "authorized_keys.after-absent",
                "authorized_keys.after-carol",
                "authorized_keys.after-present",
            ][..],
        ),
        (
            "AK-08-comment-with-spaces",
            &["authorized_keys.before", "authorized_keys.expected"][..],
        ),
        (
            "AK-10-missing-trailing-newline",
            &["authorized_keys.before", "authorized_keys.expected"][..],
        ),
    ] {
        for file in files {
            assert_only_unmanaged(id, file, &[]);
        }
    }
    // AK-08: inner runs of spaces in a comment are kept.
    let key = String::from_utf8(case_file("AK-08-comment-with-spaces", "key.pub")).expect("utf8");
    let r = scan(Some(key.as_bytes()), &[]);
    let want = key.trim().splitn(3, ' ').nth(2).expect("comment");
    assert_eq!(entry(&r, 1).comment.as_deref(), Some(want));
    // AK-10: the last line without a newline is an entry.
    let before = case_file("AK-10-missing-trailing-newline", "authorized_keys.before");
    assert_ne!(before.last(), Some(&b'\n'));
    let r = scan(Some(&before), &[]);
    assert_eq!(r.lines.last().expect("line").class, LineClass::Entry);
}

#[test]
fn ak09_valueless_options_match_parsed_json() {
    let id = "AK-09-valueless-options";
    let r = assert_only_unmanaged(id, "authorized_keys.before", &[]);
    assert_only_unmanaged(id, "authorized_keys.expected", &[]);
    let parsed: serde_json::Value =
        serde_json::from_slice(&case_file(id, "parsed.json")).expect("json");
    let list = parsed
        .as_array()
        .or_else(|| parsed["lines"].as_array())
        .expect("parsed.json holds a list");
    let entries: Vec<&ScannedLine> = r
        .lines
        .iter()
        .filter(|l| l.class == LineClass::Entry)
        .collect();
    assert_eq!(entries.len(), list.len());
    for (line, want) in entries.iter().zip(list) {
        assert_eq!(line.key_type.as_deref(), want["type"].as_str(), "{want}");
        let want_opts: Vec<(String, Option<String>)> = want["options"]
            .as_array()
            .expect("options")
            .iter()
            .map(option_pair)
            .collect();
        let got: Vec<(String, Option<String>)> = line
            .options
            .iter()
            .map(|o| (o.name.clone(), o.value.clone()))
            .collect();
        assert_eq!(got, want_opts, "{want}");
        assert_eq!(line.comment.as_deref(), want["comment"].as_str(), "{want}");
    }
}

/// An option in a JSON file: `"name"`, `["name", value]` or `{"name":..,"value":..}`.
fn option_pair(v: &serde_json::Value) -> (String, Option<String>) {
    if let Some(name) = v.as_str() {
        return (name.to_string(), None);
    }
    if let Some(pair) = v.as_array() {
        return (
            pair[0].as_str().expect("name").to_string(),
            pair.get(1).and_then(|x| x.as_str()).map(str::to_string),
        );
    }
    (
        v["name"].as_str().expect("name").to_string(),
        v["value"].as_str().map(str::to_string),
    )
}

#[test]
fn kf04_crlf_keeps_cr_out_of_comments_and_keys() {
    let id = "KF-04-crlf-authorized-keys";
    for file in ["authorized_keys.before", "authorized_keys.after-new"] {
        let r = assert_only_unmanaged(id, file, &[]);
        for l in r.lines.iter().filter(|l| l.class == LineClass::Entry) {
            assert!(l.fingerprint.is_some());
            assert!(
                l.comment.as_deref().is_none_or(|c| !c.contains('\r')),
                "{l:?}"
            );
        }
    }
    let r = scan(Some(&case_file(id, "authorized_keys.before")), &[]);
    let comments: Vec<Option<&str>> = r
        .lines
        .iter()
        .filter(|l| l.class == LineClass::Entry)
        .map(|l| l.comment.as_deref())
        .collect();
    assert_eq!(comments, vec![Some("alice@example"), None]);
}

// ---------------------------------------------------------------------------------------------
// Peer vectors (shared/cases/external/*/expected.json): OpenSSH's verdict.

/// Vectors where scan() knowingly differs from `expect` (OpenSSH 10), with the reason.
const DISAGREEMENTS: &[Deliberate<'_>] = &[
    Deliberate {
        reason: "DSA: OpenSSH 10 removed ssh-dss; 9.x reads it and can log in with it when \
                 PubkeyAcceptedAlgorithms allows DSA, so scan() classifies it as an entry and \
                 flags it weak_key",
        says: "class entry",
        ids: &["rustcrypto-ssh-key/authorized_keys/line25"],
    },
    Deliberate {
        reason: "DSA (as above): the file's one ssh-dss key counts as an entry",
        says: "1 entries, OpenSSH uses 0",
        ids: &[
            "python-sshpubkeys/authorized_keys/single_key",
            "python-sshpubkeys/authorized_keys/lines_with_spaces",
        ],
    },
];

/// The valid key put after an `options` vector (`<input> <key>`, as the README says).
const OPTIONS_KEY: &str = ALICE;

fn class_name(c: LineClass) -> &'static str {
    match c {
        LineClass::Entry => "entry",
        LineClass::Comment => "comment",
        LineClass::Blank => "blank",
        LineClass::Invalid => "invalid",
    }
}

/// Compare one scanned line with a vector's `expect`; `Err` says what differs.
fn check_line(line: &ScannedLine, expect: &serde_json::Value) -> Result<(), String> {
    let want_class = match expect["line_class"].as_str() {
        Some(c) => c,
        None if expect["valid"] == true => "entry",
        None => "invalid",
    };
    if class_name(line.class) != want_class {
        return Err(format!(
            "class {} (reason {:?}), OpenSSH says {want_class}",
            class_name(line.class),
            line.reason
        ));
    }
    if line.class != LineClass::Entry {
        return Ok(());
    }
    let mut diffs: Vec<String> = [
        differs(expect, "key_type", line.key_type.as_deref()),
        differs(expect, "fingerprint", line.fingerprint.as_deref()),
        differs(expect, "comment", line.comment.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(bits) = expect.get("bits").and_then(serde_json::Value::as_u64)
        && line.bits.map(u64::from) != Some(bits)
    {
        diffs.push(format!("bits {:?} != {bits}", line.bits));
    }
    if let Some(o) = expect.get("options").and_then(|v| v.as_array()) {
        let want: Vec<(String, Option<String>)> = o.iter().map(option_pair).collect();
        let got: Vec<(String, Option<String>)> = line
            .options
            .iter()
            .map(|o| (o.name.clone(), o.value.clone()))
            .collect();
        if got != want {
            diffs.push(format!("options {got:?} != {want:?}"));
        }
    }
    verdict(diffs)
}

/// Run one vector through scan(); `Err` says how scan() disagrees with `expect`.
fn check_vector(v: &serde_json::Value) -> Result<(), String> {
    let input = v["input"].as_str().expect("input is a string");
    let expect = &v["expect"];
    match v["kind"].as_str() {
        Some("options") => {
            let r = scan(Some(format!("{input} {OPTIONS_KEY}\n").as_bytes()), &[]);
            if r.lines.len() != 1 {
                return Err(format!("{} lines", r.lines.len()));
            }
            let mut want = expect.clone();
            want["line_class"] = if expect["valid"] == true {
                "entry".into()
            } else {
                "invalid".into()
            };
            check_line(&r.lines[0], &want)
        }
        Some("authorized_keys_line") => {
            // A newline is added so that an empty line is a (blank) line too.
            let r = scan(Some(format!("{input}\n").as_bytes()), &[]);
            if r.lines.len() != 1 {
                return Err(format!("{} lines", r.lines.len()));
            }
            check_line(&r.lines[0], expect)
        }
        Some("authorized_keys_file") => check_file(input, expect),
        other => Err(format!("unexpected kind {other:?}")),
    }
}

fn check_file(input: &str, expect: &serde_json::Value) -> Result<(), String> {
    let r = scan(Some(input.as_bytes()), &[]);
    let mut diffs = Vec::new();
    let entries = r
        .lines
        .iter()
        .filter(|l| l.class == LineClass::Entry)
        .count();
    if let Some(n) = expect
        .get("entries_openssh")
        .and_then(serde_json::Value::as_u64)
        && u64::try_from(entries).ok() != Some(n)
    {
        diffs.push(format!("{entries} entries, OpenSSH uses {n}"));
    }
    let raw: Vec<&str> = input.split('\n').collect();
    if let Some(want) = expect.get("invalid_lines").and_then(|v| v.as_array()) {
        let got: Vec<&str> = r
            .lines
            .iter()
            .filter(|l| l.class == LineClass::Invalid)
            .map(|l| raw[l.number - 1])
            .collect();
        let prefixes: Vec<&str> = want
            .iter()
            .map(|p| p.as_str().expect("str").trim_end_matches("..."))
            .collect();
        let same =
            got.len() == prefixes.len() && got.iter().zip(&prefixes).all(|(g, p)| g.starts_with(p));
        if !same {
            diffs.push(format!("invalid lines {got:?}, OpenSSH skips {prefixes:?}"));
        }
    }
    if let Some(keep) = expect.get("keep_verbatim_lines").and_then(|v| v.as_array()) {
        for k in keep {
            let k = k.as_str().expect("str");
            if !raw.contains(&k) {
                diffs.push(format!("line {k:?} not in the input"));
            }
        }
    }
    // Every line is accounted for; a scan never writes, so "verbatim" holds by construction.
    if r.lines.len() != input.lines().count() {
        diffs.push(format!("{} lines scanned", r.lines.len()));
    }
    verdict(diffs)
}

#[test]
fn peer_vectors_agree_with_openssh_except_the_documented_list() {
    let vectors = peer_vectors::load(&["authorized_keys_line", "authorized_keys_file", "options"]);
    // The README counts 91 lines, 9 files, 90 options.
    peer_vectors::assert_documented(&vectors, 91 + 9 + 90, DISAGREEMENTS, check_vector);
    // Past the verdict, the DSA line agrees: type, fingerprint, bits, options and comment.
    let dsa_line = vectors
        .iter()
        .find(|v| v["id"] == "rustcrypto-ssh-key/authorized_keys/line25")
        .expect("DSA vector");
    let mut as_entry = dsa_line.clone();
    as_entry["expect"]["line_class"] = "entry".into();
    assert_eq!(check_vector(&as_entry), Ok(()));
}
