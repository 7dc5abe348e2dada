//! The shared cases (`shared/cases/AK-*` and `KF-04-crlf-authorized-keys`) as tests of the pure
//! engine. The cases are written for a tool that edits authorized_keys in place; testum instead
//! keeps its lines in one managed block at the end. Each test says how the case maps:
//! unmanaged bytes stay identical, new lines go into the block at the end, a repeat is a no-op,
//! and the parsed options are what the case states.
//!
//! The neutral JSON requests map onto [`apply`] like this: the caller holds a desired set (the
//! platform's assignments); `ensure_present` adds each entry whose identity (options, type, blob)
//! is not in the set yet, `ensure_absent` removes entries with the same identity; then the whole
//! set is applied.

use std::path::PathBuf;

use super::tests::block;
use super::*;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/");

/// The folder of one case; fails loudly (never skips) when the shared cases are missing.
fn case_dir(id: &str) -> PathBuf {
    let root = PathBuf::from(CASES);
    assert!(
        root.is_dir(),
        "shared cases folder {} is missing: tests/cases is part of the repository",
        root.display()
    );
    let dir = root.join(id);
    assert!(dir.is_dir(), "case folder {} is missing", dir.display());
    dir
}

fn read(id: &str, file: &str) -> Vec<u8> {
    let path = case_dir(id).join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json(id: &str, file: &str) -> serde_json::Value {
    serde_json::from_slice(&read(id, file))
        .unwrap_or_else(|e| panic!("{id}/{file} is not JSON: {e}"))
}

/// `entry` or `entries` of a neutral request.
fn entries(req: &serde_json::Value) -> Vec<String> {
    if let Some(e) = req.get("entry").and_then(|v| v.as_str()) {
        return vec![e.to_string()];
    }
    req["entries"]
        .as_array()
        .expect("request has entry or entries")
        .iter()
        .map(|v| v.as_str().expect("entry is a string").to_string())
        .collect()
}

fn identity(line: &str) -> EntryIdentity {
    validate_line(line).expect("valid entry").identity()
}

/// Apply one neutral request to the caller's desired set.
fn request(desired: &mut Vec<String>, req: &serde_json::Value) {
    let list = entries(req);
    match req["action"].as_str() {
        Some("ensure_present") => {
            for e in list {
                if !desired.iter().any(|d| identity(d) == identity(&e)) {
                    desired.push(e);
                }
            }
        }
        Some("ensure_absent") => {
            desired.retain(|d| !list.iter().any(|e| identity(e) == identity(d)));
        }
        other => panic!("unknown action {other:?}"),
    }
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

/// Key lines sshd would use, in file order, canonicalised.
fn key_lines(bytes: &[u8]) -> Vec<String> {
    parse(bytes)
        .into_iter()
        .filter_map(|l| match l.kind {
            LineKind::Key(k) => Some(k.render()),
            _ => None,
        })
        .collect()
}

/// Apply twice; the second run must be a byte-identical no-op.
fn apply_idempotent(current: &[u8], desired: &[String]) -> Applied {
    let first = apply(current, desired).expect("apply");
    let second = apply(&first.content, desired).expect("re-apply");
    assert_eq!(second.content, first.content, "re-apply changed bytes");
    assert!(!second.changed, "re-apply reported a change");
    assert!(second.added.is_empty() && second.removed.is_empty());
    first
}

fn key_of(bytes: &[u8], number: usize) -> KeyLine {
    match &parse(bytes)[number - 1].kind {
        LineKind::Key(k) => k.clone(),
        other => panic!("line {number} is not a key line: {other:?}"),
    }
}

// AK-01: the quoted from= list with a comma is one value; testum appends bob's line to its block
// verbatim (options in the given order, quoting unchanged) instead of after alice's line.
#[test]
fn ak01_from_list_comma() {
    let id = "AK-01-from-list-comma";
    let before = read(id, "authorized_keys.before");
    let expected = read(id, "authorized_keys.expected");
    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));

    let alice = key_of(&before, 2);
    assert_eq!(alice.options.len(), 2);
    assert_eq!(alice.options[0].name, "from");
    assert_eq!(
        alice.options[0].value.as_deref(),
        Some("10.0.0.*,192.168.1.*")
    );
    assert_eq!(alice.options[1].name, "no-agent-forwarding");
    assert_eq!(alice.options[1].value, None);

    let out = apply_idempotent(&before, &desired);
    assert_eq!(out.content, cat(&before, &block(&[desired[0].as_str()])));
    assert_eq!(out.added, desired);
    assert_eq!(key_lines(&out.content), key_lines(&expected));
    // The line testum wrote is the expected file's new line, byte for byte.
    let expected_text = String::from_utf8(expected).expect("utf-8");
    assert_eq!(expected_text.lines().nth(2), Some(desired[0].as_str()));
    let bob = key_of(&out.content, 4);
    assert_eq!(bob.options, alice.options);
}

// AK-02: an apostrophe inside a double-quoted command and an SSH1 line do not block the account:
// the SSH1 line is reported unparseable and kept; bob's key goes into the block.
#[test]
fn ak02_unrelated_line_breaks_parser() {
    let id = "AK-02-unrelated-line-breaks-parser";
    let before = read(id, "authorized_keys.before");
    let expected = read(id, "authorized_keys.expected");
    let lines = parse(&before);
    let carol = key_of(&before, 1);
    assert_eq!(carol.options.len(), 1);
    assert_eq!(carol.options[0].name, "command");
    assert_eq!(
        carol.options[0].value.as_deref(),
        Some("echo bar 'foo bar'")
    );
    assert_eq!(carol.key_type, "ssh-ed25519");
    assert_eq!(carol.comment.as_deref(), Some("carol@example"));
    match &lines[1].kind {
        LineKind::Unparseable { reason } => assert!(!reason.is_empty()),
        other => panic!("SSH1 line should be unparseable, got {other:?}"),
    }
    assert!(matches!(lines[2].kind, LineKind::Key(_)));
    let warnings = unparseable_lines(&before);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].0, 2);

    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));
    let out = apply_idempotent(&before, &desired);
    assert_eq!(out.content, cat(&before, &block(&[desired[0].as_str()])));
    assert_eq!(key_lines(&out.content), key_lines(&expected));
}

const CA_ROOT: usize = 0;
const CA_MONITOR: usize = 1;
const CI_A: usize = 2;
const CI_B: usize = 3;

// AK-04: identity is (options, type, blob); four entries sharing two keys are all written, in
// request order, into the block; removing or changing one leaves the other with the same key.
#[test]
fn ak04_same_key_different_options() {
    let id = "AK-04-same-key-different-options";
    let before = read(id, "authorized_keys.before");
    let expected = read(id, "authorized_keys.expected");
    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));
    assert_eq!(desired.len(), 4, "no entry may replace another");

    let out = apply_idempotent(&before, &desired);
    let lines: Vec<&str> = desired.iter().map(String::as_str).collect();
    assert_eq!(out.content, cat(&before, &block(&lines)));
    assert_eq!(key_lines(&out.content), key_lines(&expected));
    assert_eq!(out.added, desired);
    assert_eq!(managed_lines(&out.content).expect("block"), desired);

    // Every entry has a restricting option, so none shadows another.
    assert!(shadowed_entries(&desired).expect("valid").is_empty());

    // Removing the monitor entry removes only that line.
    let mut without_monitor = desired.clone();
    request(
        &mut without_monitor,
        &serde_json::json!({"action": "ensure_absent", "entry": desired[CA_MONITOR]}),
    );
    let removed = apply_idempotent(&out.content, &without_monitor);
    assert_eq!(removed.removed, vec![desired[CA_MONITOR].clone()]);
    assert!(removed.added.is_empty());
    assert_eq!(
        managed_lines(&removed.content).expect("block"),
        vec![
            desired[CA_ROOT].clone(),
            desired[CI_A].clone(),
            desired[CI_B].clone()
        ]
    );

    // Updating the options of one CI entry does not touch the other CI entry.
    let mut updated = desired.clone();
    updated[CI_A] = updated[CI_A].replace("10.1.0.5", "10.1.0.6");
    let changed = apply_idempotent(&out.content, &updated);
    assert_eq!(changed.removed, vec![desired[CI_A].clone()]);
    assert_eq!(changed.added, vec![updated[CI_A].clone()]);
    let now = managed_lines(&changed.content).expect("block");
    assert_eq!(now[CI_B], desired[CI_B]);
    assert_eq!(now[CA_ROOT], desired[CA_ROOT]);

    // The warning the case allows: same key, earlier entry without from=/principals=.
    let ci_key = desired[CI_A].split_once(' ').expect("options then key").1;
    let unrestricted = vec![
        format!("command=\"/usr/local/bin/deploy-a\" {ci_key}"),
        desired[CI_B].clone(),
    ];
    assert_eq!(
        shadowed_entries(&unrestricted).expect("valid"),
        vec![Shadowed {
            index: 1,
            shadowed_by: 0
        }]
    );
}

// AK-05: re-adding the same key (new comment, tabs, stray spaces, no comment) never grows the
// file. testum's equivalent of "already present": the first request puts one managed copy into
// the block (testum never adopts the hand-written line) and reports the unmanaged copy so the
// caller can say "present unmanaged, comment differs" and warn that a revoke will not remove it;
// the later submissions have the same identity, so the file stays byte-identical.
#[test]
fn ak05_readd_same_key() {
    let id = "AK-05-readd-same-key";
    let before = read(id, "authorized_keys.before");
    assert_eq!(read(id, "authorized_keys.expected"), before);
    let reqs = json(id, "requests.json");
    let reqs = reqs.as_array().expect("array of requests");
    assert_eq!(reqs.len(), 3);

    let mut desired = Vec::new();
    request(&mut desired, &reqs[0]);
    let first = apply_idempotent(&before, &desired);
    assert!(
        first.content.starts_with(&before),
        "unmanaged line untouched"
    );
    assert_eq!(first.added.len(), 1);
    let copies = unmanaged_copies(&before, &desired).expect("copies");
    assert_eq!(
        copies,
        vec![UnmanagedCopy {
            desired_index: 0,
            line_number: 1,
            same_options: true,
            precedes_block: true,
            comment: Some("bob@laptop-old".into()),
        }]
    );

    let mut content = first.content.clone();
    for req in &reqs[1..] {
        request(&mut desired, req);
        assert_eq!(desired.len(), 1, "same key, same options: already present");
        let again = apply(&content, &desired).expect("apply");
        assert!(!again.changed);
        assert_eq!(again.content, content);
        content = again.content;
    }

    // Whitespace variants render to the same canonical line; only the comment is data.
    for req in &reqs[..2] {
        let line = &entries(req)[0];
        assert_eq!(
            apply(&before, std::slice::from_ref(line)).expect("apply"),
            first
        );
    }
    // If the caller's set itself lists the key twice in different spellings, one line results.
    let all: Vec<String> = reqs.iter().flat_map(entries).collect();
    assert_eq!(apply(&before, &all).expect("apply").content, first.content);
}

// AK-07: comments, blank lines and their order are never touched; new entries go to the block
// at the end; a commented-out key is a comment.
#[test]
fn ak07_preserve_order_comments_blanks() {
    let id = "AK-07-preserve-order-comments-blanks";
    let before = read(id, "authorized_keys.before");
    let lines = parse(&before);
    assert_eq!(lines[2].kind, LineKind::Blank);
    assert_eq!(lines[0].kind, LineKind::Comment);
    assert_eq!(
        lines[5].kind,
        LineKind::Comment,
        "#ssh-ed25519 ... is a comment"
    );

    for (req, after) in [
        ("request-present.json", "authorized_keys.after-present"),
        ("request-carol.json", "authorized_keys.after-carol"),
    ] {
        let mut desired = Vec::new();
        request(&mut desired, &json(id, req));
        let out = apply_idempotent(&before, &desired);
        assert_eq!(out.content, cat(&before, &block(&[desired[0].as_str()])));
        assert_eq!(
            key_lines(&out.content),
            key_lines(&read(id, after)),
            "{req}"
        );
        // Carol only appears commented out: that is not an unmanaged copy.
        assert!(
            unmanaged_copies(&before, &desired)
                .expect("copies")
                .is_empty()
        );
    }

    // request-absent: testum can only remove what it manages. Equivalent: bob's key is managed
    // (in the block, his hand-written line gone); ensure_absent removes exactly that line and
    // the result is the expected file byte for byte, comments and blank lines in place.
    let after_absent = read(id, "authorized_keys.after-absent");
    let req = json(id, "request-absent.json");
    let bob = entries(&req)[0].clone();
    let managed = cat(&after_absent, &block(&[bob.as_str()]));
    let mut desired = vec![bob.clone()];
    request(&mut desired, &req);
    assert!(desired.is_empty());
    let out = apply_idempotent(&managed, &desired);
    assert_eq!(out.content, after_absent);
    assert_eq!(out.removed, vec![bob.clone()]);

    // With bob's hand-written line (the `before` file) testum leaves it alone and reports it.
    let untouched = apply_idempotent(&before, &desired);
    assert!(!untouched.changed);
    let copies = unmanaged_copies(&before, &[bob]).expect("copies");
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].line_number, 5);
}

// AK-08: a comment with spaces, angle brackets, commas and parentheses is accepted and written
// back verbatim; into an empty file the block is written with no leading blank line.
#[test]
fn ak08_comment_with_spaces() {
    let id = "AK-08-comment-with-spaces";
    let before = read(id, "authorized_keys.before");
    assert!(before.is_empty());
    let key_pub = String::from_utf8(read(id, "key.pub")).expect("utf-8");
    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));
    assert_eq!(desired[0], key_pub.trim_end());

    let out = apply_idempotent(&before, &desired);
    assert_eq!(out.content, block(&[desired[0].as_str()]));
    assert_eq!(
        key_lines(&out.content),
        key_lines(&read(id, "authorized_keys.expected"))
    );
    assert_eq!(
        key_of(&out.content, 2).comment.as_deref(),
        Some("Alice Example <alice@example> (laptop, 2024)")
    );

    // Internal runs of spaces in a comment are kept as given.
    let spaced = desired[0].replace("Alice Example", "Alice   Example\t x");
    let out = apply_idempotent(&before, std::slice::from_ref(&spaced));
    assert_eq!(out.content, block(&[spaced.as_str()]));
}

// AK-09: flag options are detected as options (the first token is not a key type), parse as
// parsed.json says, and every line is kept; options testum writes are checked against sshd.
#[test]
fn ak09_valueless_options() {
    let id = "AK-09-valueless-options";
    let before = read(id, "authorized_keys.before");
    let parsed = json(id, "parsed.json");
    let parsed = parsed.as_array().expect("array");
    let lines = parse(&before);
    assert_eq!(lines.len(), parsed.len());
    for (line, want) in lines.iter().zip(parsed) {
        let LineKind::Key(k) = &line.kind else {
            panic!("line {} should be a key line", line.number)
        };
        let names: Vec<String> = k
            .options
            .iter()
            .map(|o| match &o.value {
                None => o.name.clone(),
                Some(v) => format!("{}={v}", o.name),
            })
            .collect();
        let want_names: Vec<String> = want["options"]
            .as_array()
            .expect("options")
            .iter()
            .map(|v| v.as_str().expect("string").to_string())
            .collect();
        assert_eq!(names, want_names);
        assert_eq!(Some(k.key_type.as_str()), want["type"].as_str());
        assert_eq!(k.comment.as_deref(), want["comment"].as_str());
    }

    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));
    let out = apply_idempotent(&before, &desired);
    assert_eq!(out.content, cat(&before, &block(&[desired[0].as_str()])));
    assert_eq!(
        key_lines(&out.content),
        key_lines(&read(id, "authorized_keys.expected"))
    );

    // Entries testum writes: names checked against sshd's list, values exactly where required.
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKif/UohpVQKjLot63SrKCSUFhqQMc5BD8uZR/QPu+Zd ci";
    for bad in [
        "no-pty,bogus-option",
        "command",
        "from",
        "no-pty=\"yes\"",
        "restrict=\"1\"",
        "from=10.0.0.1",
        "no-restrict",
        "no-cert-authority",
        "pty,",
        "command=\"a\",command=\"b\"",
        "expiry-time=\"tomorrow\"",
        "environment=\"=x\"",
        "tunnel=\"eth0\"",
        "permitopen=\"localhost\"",
        "permitlisten=\"host:99999\"",
    ] {
        let line = format!("{bad} {key}");
        assert!(
            matches!(apply(&before, &[line]), Err(EngineError::InvalidLine(_))),
            "{bad} must be refused"
        );
    }
    for good in [
        "restrict",
        "cert-authority",
        "no-port-forwarding,port-forwarding",
        "no-agent-forwarding,agent-forwarding",
        "no-x11-forwarding,x11-forwarding",
        "no-pty,pty",
        "no-user-rc,user-rc",
        "no-touch-required,touch-required",
        "verify-required,no-verify-required",
        "NO-PTY,Restrict",
        "command=\"x\",principals=\"a,b\",from=\"*.example\",expiry-time=\"20301231\"",
        "environment=\"A_1=x y\",tunnel=\"any\",tunnel=\"3\"",
        "permitopen=\"localhost:80\",permitopen=\"[::1]:*\",permitlisten=\"8080\"",
        "permitlisten=\"localhost:8080\",expiry-time=\"203012312359Z\"",
    ] {
        let line = format!("{good} {key}");
        let out = apply(&before, std::slice::from_ref(&line));
        assert!(out.is_ok(), "{good} must be accepted: {out:?}");
    }
}

// AK-10: a file without a final newline gets one before the block; nothing else changes.
#[test]
fn ak10_missing_trailing_newline() {
    let id = "AK-10-missing-trailing-newline";
    let before = read(id, "authorized_keys.before");
    assert!(!before.ends_with(b"\n"));
    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request.json"));
    let out = apply_idempotent(&before, &desired);
    let mut want = before.clone();
    want.push(b'\n');
    want.extend_from_slice(&block(&[desired[0].as_str()]));
    assert_eq!(out.content, want);
    assert_eq!(
        key_lines(&out.content),
        key_lines(&read(id, "authorized_keys.expected"))
    );
    // Empty and blank-only files: no leading blank line is added.
    assert_eq!(
        apply(b"", &desired).expect("apply").content,
        block(&[desired[0].as_str()])
    );
    assert_eq!(
        apply(b"\n", &desired).expect("apply").content,
        cat(b"\n", &block(&[desired[0].as_str()]))
    );
}

fn submitted_line(sub: &serde_json::Value) -> String {
    let mut line = String::new();
    if let Some(o) = sub.get("options").and_then(|v| v.as_str()) {
        line.push_str(o);
        line.push(' ');
    }
    line.push_str(sub["key"].as_str().expect("key"));
    if let Some(c) = sub.get("comment").and_then(|v| v.as_str()) {
        line.push(' ');
        line.push_str(c);
    }
    line
}

fn assert_safe_message(err: &EngineError) {
    let msg = err.to_string();
    assert!(
        !msg.chars().any(|c| c.is_control()),
        "message must not carry raw control characters: {msg:?}"
    );
    assert!(
        !msg.contains("AAAAICh9EY"),
        "message echoes key material: {msg}"
    );
}

// AK-12: CR, LF and NUL inside a line are refused with a message that does not echo the input;
// a wrapped key gets a hint; one trailing CR LF from copy-paste is trimmed by
// `clean_submitted_line` (apply itself is strict), and exactly one line is written.
#[test]
fn ak12_newline_in_submitted_key() {
    let id = "AK-12-newline-in-submitted-key";
    let before = read(id, "authorized_keys.before");
    for file in [
        "submit-comment-injection.json",
        "submit-key-injection.json",
        "submit-options-injection.json",
        "submit-wrapped.json",
        "submit-trailing-newline.json",
    ] {
        let line = submitted_line(&json(id, file));
        let err = apply(&before, std::slice::from_ref(&line)).expect_err(file);
        assert!(
            matches!(err, EngineError::InvalidLine(_)),
            "{file}: {err:?}"
        );
        assert!(err.to_string().contains("single line"), "{file}: {err}");
        assert_safe_message(&err);
        assert!(clean_submitted_line(&line).is_err() || file.contains("trailing"));
    }
    let wrapped = submitted_line(&json(id, "submit-wrapped.json"));
    let err = apply(&before, std::slice::from_ref(&wrapped)).expect_err("wrapped");
    assert!(err.to_string().contains("wrapped"), "{err}");
    assert!(
        clean_submitted_line(&wrapped).is_err(),
        "never guess how to rejoin"
    );
    let two = submitted_line(&json(id, "submit-key-injection.json"));
    let err = apply(&before, &[two]).expect_err("two keys");
    assert!(err.to_string().contains("several key lines"), "{err}");

    let pasted = submitted_line(&json(id, "submit-trailing-newline.json"));
    let clean = clean_submitted_line(&pasted).expect("trailing CR LF is trimmed");
    assert_eq!(clean, pasted.trim_end());
    let out = apply_idempotent(&before, std::slice::from_ref(&clean));
    assert_eq!(out.added, vec![clean.clone()]);
    assert_eq!(out.content, cat(&before, &block(&[clean.as_str()])));
    // Invariant: lines added equal entries requested (one line, plus the two markers).
    assert_eq!(
        out.content.iter().filter(|&&b| b == b'\n').count(),
        before.iter().filter(|&&b| b == b'\n').count() + 3
    );
    // NUL and other control characters are refused as well; TAB is a field separator.
    for c in ['\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}'] {
        let bad = clean.replace("alice@", &format!("alice{c}@"));
        let err = apply(&before, &[bad]).expect_err("control character");
        assert_safe_message(&err);
    }
}

// KF-04: CRLF files: the CR is part of the line ending, never of the comment or the blob; the
// CRLF bytes stay as they are and testum's block uses `\n`.
#[test]
fn kf04_crlf_authorized_keys() {
    let id = "KF-04-crlf-authorized-keys";
    let before = read(id, "authorized_keys.before");
    let lines = parse(&before);
    assert!(lines.iter().all(|l| l.ending == LineEnding::CrLf));
    assert_eq!(key_of(&before, 1).comment.as_deref(), Some("alice@example"));
    let bob = key_of(&before, 2);
    assert_eq!(bob.comment, None);
    assert_eq!(bob.blob.len(), 51, "bob's key decodes");

    // request-new: existing bytes unchanged, the new line ends with \n, no CR inside a line.
    let mut desired = Vec::new();
    request(&mut desired, &json(id, "request-new.json"));
    let out = apply_idempotent(&before, &desired);
    assert_eq!(out.content, cat(&before, &block(&[desired[0].as_str()])));
    assert_eq!(
        key_lines(&out.content),
        key_lines(&read(id, "authorized_keys.after-new"))
    );
    assert!(!out.content[before.len()..].contains(&b'\r'));

    // request-existing: both keys are already there (unmanaged), despite the CRs; testum
    // reports them (alice's comment without CR, bob's "comment differs") instead of guessing.
    let existing = entries(&json(id, "request-existing.json"));
    let copies = unmanaged_copies(&before, &existing).expect("copies");
    assert_eq!(copies.len(), 2);
    assert_eq!(copies[0].comment.as_deref(), Some("alice@example"));
    assert!(copies.iter().all(|c| c.same_options && c.precedes_block));
    assert_eq!(copies[1].comment, None);
    // When testum manages them and the whole file was later converted to CRLF, the block is
    // recognised, its entries are not reported as removed/added, and it is rewritten once with \n.
    let managed = apply(&before, &existing).expect("apply").content;
    let converted = String::from_utf8(managed)
        .expect("utf-8")
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes();
    let out = apply_idempotent(&converted, &existing);
    assert!(out.added.is_empty() && out.removed.is_empty());
    assert!(out.content.starts_with(&before));
    let block_bytes = &out.content[before.len()..];
    assert_eq!(
        block_bytes,
        block(&[existing[0].as_str(), existing[1].as_str()])
    );
}
