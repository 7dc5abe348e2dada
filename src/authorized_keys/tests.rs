//! Unit and property-style tests of the engine (generated inputs, no extra crates).

use super::*;

const ALICE: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi alice@example";
const BOB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example";
const CAROL: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJckazTNTt9zJt8bfM1WvsavNQyKMH6jEkL5wXCoT8s8 carol@example";
const CI: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKif/UohpVQKjLot63SrKCSUFhqQMc5BD8uZR/QPu+Zd ci@example";

/// The managed block holding `lines`, as the engine writes it.
pub(super) fn block(lines: &[&str]) -> Vec<u8> {
    let mut out = format!("{BEGIN_MARKER}\n");
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(END_MARKER);
    out.push('\n');
    out.into_bytes()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A tiny deterministic generator (xorshift64*), so the property tests need no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("small")).expect("small")
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Unmanaged line contents a real file may hold (no line ending).
const UNMANAGED: &[&[u8]] = &[
    b"",
    b"   ",
    b"\t",
    b"# a comment",
    b"#ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJckazTNTt9zJt8bfM1WvsavNQyKMH6jEkL5wXCoT8s8 off",
    b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi alice@example",
    b"  ssh-ed25519\tAAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1   bob  ",
    b"command=\"echo 'a, b'\",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKif/UohpVQKjLot63SrKCSUFhqQMc5BD8uZR/QPu+Zd",
    b"2048 65537 1234567890123456789012345678901234567890 legacy-ssh1@example",
    b"ssh-foo AAAAB3NzaC1yc2E unknown type",
    b"\xff\xfe garbage \x00 bytes \x80",
    b"no-pty,bogus-option ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi x",
    b"from=\"unterminated ssh-ed25519 AAAA",
    b"stray\rcarriage return",
    b"# END of the hand-written part",
];

const ENDINGS: &[&[u8]] = &[b"\n", b"\r\n", b"\n", b"\r\n", b"\r\r\n"];

fn gen_file(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.below(4) == 0 {
        out.extend_from_slice(b"\xef\xbb\xbf");
    }
    let n = rng.below(7);
    for i in 0..n {
        out.extend_from_slice(rng.pick::<&[u8]>(UNMANAGED));
        let last = i + 1 == n;
        if !last || rng.below(3) != 0 {
            out.extend_from_slice(rng.pick::<&[u8]>(ENDINGS));
        }
    }
    out
}

const DESIRED: &[&str] = &[
    ALICE,
    BOB,
    CAROL,
    CI,
    "from=\"10.0.0.*,192.168.1.*\",no-agent-forwarding ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example",
    "restrict,command=\"/usr/bin/rrsync -ro /srv/backup\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi",
    "cert-authority,principals=\"root\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPC8VLVHNlAjtHyd5fEj5TSzX7aaptLlAO6qCCMQPvXd root access",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi other comment",
];

fn gen_desired(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(5))
        .map(|_| rng.pick(DESIRED).to_string())
        .collect()
}

/// The desired lines after identity dedup, rendered as apply writes them.
fn expected_block_lines(desired: &[String]) -> Vec<String> {
    let mut seen: Vec<EntryIdentity> = Vec::new();
    let mut out = Vec::new();
    for d in desired {
        let k = validate_line(d).expect("valid");
        if !seen.contains(&k.identity()) {
            seen.push(k.identity());
            out.push(k.render());
        }
    }
    out
}

/// `file` with its final newline fixed the way apply fixes it before appending a block.
fn with_final_newline(file: &[u8]) -> Vec<u8> {
    let mut out = file.to_vec();
    if !out.is_empty() && !out.ends_with(b"\n") {
        let crlf_before = {
            let lines = parse::split_lines(file);
            lines.len() > 1 && lines[lines.len() - 2].1 == LineEnding::CrLf
        };
        if crlf_before && !out.ends_with(b"\r") {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b'\n');
        }
    }
    out
}

#[test]
fn property_parse_round_trips_bytes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let file = gen_file(&mut rng);
        let lines = parse(&file);
        let mut back = Vec::new();
        for l in &lines {
            back.extend_from_slice(&l.raw);
            back.extend_from_slice(l.ending.as_bytes());
        }
        assert_eq!(back, file);
        assert!(lines.iter().all(|l| !l.raw.contains(&b'\n')));
    }
}

#[test]
fn property_apply_keeps_unmanaged_bytes_and_is_idempotent() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let file = gen_file(&mut rng);
        let desired = gen_desired(&mut rng);
        let want_lines = expected_block_lines(&desired);
        let want_refs: Vec<&str> = want_lines.iter().map(String::as_str).collect();

        let first = apply(&file, &desired).expect("apply");
        if desired.is_empty() {
            assert_eq!(first.content, file);
            assert!(!first.changed);
        } else {
            // Unmanaged bytes first, untouched (final newline fixed), then exactly the block.
            let mut want = with_final_newline(&file);
            want.extend_from_slice(&block(&want_refs));
            assert_eq!(first.content, want, "file {file:?}");
            assert!(first.changed);
            assert_eq!(first.added, want_lines);
        }
        assert!(first.removed.is_empty());
        assert_eq!(managed_lines(&first.content).expect("block"), want_lines);

        // Idempotent.
        let second = apply(&first.content, &desired).expect("re-apply");
        assert_eq!(second.content, first.content);
        assert!(!second.changed && second.added.is_empty() && second.removed.is_empty());

        // Another desired set changes only the block; going back restores the same bytes.
        let other = gen_desired(&mut rng);
        let moved = apply(&first.content, &other).expect("other set");
        let back = apply(&moved.content, &desired).expect("back");
        if !desired.is_empty() && !other.is_empty() {
            assert_eq!(back.content, first.content);
            assert!(moved.content.starts_with(&with_final_newline(&file)));
        }
        // Revoking everything returns the file to its unmanaged bytes (plus the newline fix).
        let cleared = apply(&first.content, &[]).expect("clear");
        let unmanaged = if desired.is_empty() {
            file.clone()
        } else {
            with_final_newline(&file)
        };
        assert_eq!(cleared.content, unmanaged);
        assert_eq!(cleared.removed, want_lines);
        assert!(!apply(&cleared.content, &[]).expect("clear again").changed);
    }
}

#[test]
fn property_block_in_the_middle_stays_in_place() {
    let mut rng = Rng(42);
    for _ in 0..500 {
        let head = with_final_newline(&gen_file(&mut rng));
        let tail = gen_file(&mut rng);
        let desired = gen_desired(&mut rng);
        let mut file = head.clone();
        file.extend_from_slice(&block(&[ALICE, "# hand edit inside the block", ""]));
        file.extend_from_slice(&tail);
        let out = apply(&file, &desired).expect("apply");
        assert!(out.content.starts_with(&head));
        assert!(out.content.ends_with(&tail));
        let want = expected_block_lines(&desired);
        let refs: Vec<&str> = want.iter().map(String::as_str).collect();
        let middle = &out.content[head.len()..out.content.len() - tail.len()];
        if desired.is_empty() {
            assert!(middle.is_empty());
        } else {
            assert_eq!(middle, block(&refs).as_slice());
        }
        assert!(
            out.removed
                .contains(&"# hand edit inside the block".to_string())
        );
        let again = apply(&out.content, &desired).expect("again");
        assert!(!again.changed);
    }
}

/// Values with commas, spaces, single quotes, escaped double quotes, `=` and backslashes survive
/// rendering, parsing, a round through apply and a parse of the written file (case AK-01).
#[test]
fn property_quoted_option_values_survive() {
    let alphabet: &[char] = &[
        'a', 'Z', '0', ',', ' ', '"', '\'', '=', '\\', '*', '.', ':', '/', '#', '$', '`', ';', 'é',
    ];
    let mut rng = Rng(7);
    for _ in 0..3000 {
        let len = rng.below(12);
        let mut value: String = (0..len).map(|_| *rng.pick(alphabet)).collect();
        if value.ends_with('\\') {
            // Not representable in sshd's grammar; render_option refuses it (tested below).
            value.push('x');
        }
        let name = *rng.pick(&["command", "from", "principals"]);
        let opt = render_option(name, Some(&value)).expect("renders");
        let parsed = parse_options(&opt).expect("parses back");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].value.as_deref(), Some(value.as_str()), "{opt}");

        let line = format!("{opt},no-pty {CI}");
        let out = apply(b"# head\n", std::slice::from_ref(&line)).expect("apply");
        let written = parse(&out.content);
        let LineKind::Key(k) = &written[2].kind else {
            panic!("managed line must parse: {line}")
        };
        assert_eq!(
            k.options_raw.as_deref(),
            Some(format!("{opt},no-pty").as_str())
        );
        assert_eq!(k.options[0].value.as_deref(), Some(value.as_str()));
        assert_eq!(k.options[1].name, "no-pty");
        assert_eq!(k.comment.as_deref(), Some("ci@example"));
        assert!(!apply(&out.content, &[line]).expect("again").changed);
    }
    assert!(render_option("command", Some("ends with \\")).is_err());
    assert!(render_option("command", Some("tab\there")).is_err());
    assert!(render_option("bogus", None).is_err());
    assert!(render_option("pty", Some("x")).is_err());
    assert_eq!(render_option("no-pty", None).as_deref(), Ok("no-pty"));
}

#[test]
fn options_grammar_details() {
    let o = parse_options(r#"command="echo \"hi, there\" 'x'",no-pty"#).expect("ok");
    assert_eq!(o[0].value.as_deref(), Some(r#"echo "hi, there" 'x'"#));
    assert_eq!(o[1].name, "no-pty");
    // sshd skips empty items but refuses a trailing comma.
    assert_eq!(parse_options(",no-pty,,pty").expect("ok").len(), 2);
    assert_eq!(parse_options("no-pty,"), Err(OptionsError::TrailingComma));
    // A backslash not before a quote is literal.
    let o = parse_options(r#"command="a\b\\c""#).expect("ok");
    assert_eq!(o[0].value.as_deref(), Some(r"a\b\\c"));
    assert_eq!(
        parse_options(r#"command="x"y"#),
        Err(OptionsError::GarbageAfterValue("command".into()))
    );
    assert_eq!(
        parse_options(r#"command="x"#),
        Err(OptionsError::UnterminatedQuote)
    );
    assert_eq!(
        parse_options("from=\"a\",FROM=\"b\""),
        Err(OptionsError::Duplicate("from".into()))
    );
    assert!(matches!(
        parse_options("ptyx"),
        Err(OptionsError::Unknown(_))
    ));
    // The options field ends at the first blank outside quotes.
    let (field, rest) =
        split_options_field(r#"command="a b",from="x\" y" ssh-ed25519 AAAA"#).expect("ok");
    assert_eq!(field, r#"command="a b",from="x\" y""#);
    assert_eq!(rest, " ssh-ed25519 AAAA");
    assert_eq!(
        split_options_field(r#"command="a b ssh-ed25519 AAAA"#),
        Err(OptionsError::UnterminatedQuote)
    );
}

#[test]
fn parse_line_kinds() {
    let file = format!(
        "\u{feff}{ALICE}\r\n\r\n  # note\n{BOB}\nssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi x\nssh-ed25519 !!!! x\nssh-ed25519\ncert-authority {CAROL}\r"
    );
    let lines = parse(file.as_bytes());
    assert_eq!(lines.len(), 8);
    assert!(
        matches!(&lines[0].kind, LineKind::Unparseable { reason } if reason.contains("byte order mark")),
        "sshd does not skip a BOM: {:?}",
        lines[0].kind
    );
    assert_eq!(lines[0].ending, LineEnding::CrLf);
    assert_eq!(lines[1].kind, LineKind::Blank);
    assert_eq!(lines[2].kind, LineKind::Comment);
    assert!(matches!(lines[3].kind, LineKind::Key(_)));
    let reason = |i: usize| match &lines[i].kind {
        LineKind::Unparseable { reason } => reason.clone(),
        other => panic!("line {} should be unparseable: {other:?}", i + 1),
    };
    assert!(reason(4).contains("does not hold a ssh-rsa key"));
    assert!(reason(5).contains("base64"));
    assert!(reason(6).contains("not followed by key data"));
    let LineKind::Key(carol) = &lines[7].kind else {
        panic!("cert-authority line")
    };
    assert_eq!(lines[7].ending, LineEnding::None);
    assert_eq!(
        carol.comment.as_deref(),
        Some("carol@example"),
        "lone CR at EOF"
    );
    assert!(carol.has_option("cert-authority"));
}

#[test]
fn all_known_key_types_are_recognised() {
    use base64::Engine as _;
    for ty in KNOWN_KEY_TYPES {
        let mut blob = u32::try_from(ty.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        blob.extend_from_slice(ty.as_bytes());
        blob.extend_from_slice(&[0, 0, 0, 1, 7]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&blob);
        let line = format!("{ty} {b64} c");
        let k = parse_key_line(&line).expect("known type");
        assert_eq!(&k.key_type, ty);
        let with_opts = format!("restrict {line}");
        assert_eq!(
            parse_key_line(&with_opts).expect("options").options.len(),
            1
        );
        assert!(apply(b"", &[with_opts]).is_ok());
    }
    assert!(!is_known_key_type("SSH-ED25519"));
}

#[test]
fn damaged_markers_are_refused() {
    let b = format!("{BEGIN_MARKER}\n");
    let e = format!("{END_MARKER}\n");
    let cases: Vec<(String, &str)> = vec![
        (format!("{ALICE}\n{b}{BOB}\n"), "no END marker"),
        (format!("{ALICE}\n{e}"), "no BEGIN marker"),
        (format!("{e}{b}"), "comes before"),
        (format!("{b}{e}{b}{e}"), "more than one"),
        (format!("{b}{b}{e}"), "more than one"),
        (format!("{b}{e}{e}"), "more than one"),
        (
            format!("  {BEGIN_MARKER}\n{e}"),
            "does not match it exactly",
        ),
        (
            format!("{b}# END testum managed\n"),
            "does not match it exactly",
        ),
        (
            "# begin TESTUM managed keys\n".to_string(),
            "does not match it exactly",
        ),
    ];
    for (file, why) in cases {
        for desired in [vec![], s(&[ALICE])] {
            match apply(file.as_bytes(), &desired) {
                Err(EngineError::DamagedMarkers(m)) => assert!(m.contains(why), "{m}"),
                other => panic!("{file:?} must be refused, got {other:?}"),
            }
            assert!(matches!(
                unmanaged_copies(file.as_bytes(), &desired),
                Err(EngineError::DamagedMarkers(_))
            ));
        }
        assert!(managed_lines(file.as_bytes()).is_err());
    }
    // Markers with a CR or trailing blanks (a file converted to CRLF) are still markers.
    let crlf = format!("{ALICE}\r\n{BEGIN_MARKER}  \r\n{BOB}\r\n{END_MARKER}\r\n");
    assert_eq!(managed_lines(crlf.as_bytes()).expect("ok"), s(&[BOB]));
}

#[test]
fn duplicates_collapse_by_identity_first_wins() {
    let bob_other_comment = BOB.replace("bob@example", "bob@laptop");
    let bob_tabs = BOB.replace(' ', "\t");
    let desired = vec![
        CAROL.to_string(),
        BOB.to_string(),
        bob_other_comment,
        bob_tabs,
        CAROL.to_string(),
        format!("no-pty {BOB}"),
    ];
    let out = apply(b"", &desired).expect("apply");
    assert_eq!(out.content, block(&[CAROL, BOB, &format!("no-pty {BOB}")]));
}

#[test]
fn existing_block_changes_are_reported() {
    let file = [b"# mine\n".as_slice(), &block(&[ALICE, BOB])].concat();
    let out = apply(&file, &s(&[BOB, CAROL])).expect("apply");
    assert_eq!(out.added, s(&[CAROL]));
    assert_eq!(out.removed, s(&[ALICE]));
    assert_eq!(
        out.content,
        [b"# mine\n".as_slice(), &block(&[BOB, CAROL])].concat()
    );
    // Reordering is a change of bytes but adds and removes nothing.
    let re = apply(&out.content, &s(&[CAROL, BOB])).expect("apply");
    assert!(re.changed && re.added.is_empty() && re.removed.is_empty());
    // A comment change is reported as the old line leaving and the new one entering.
    let renamed = BOB.replace("bob@example", "bob@new");
    let c = apply(
        &out.content,
        &[BOB.to_string(), renamed.clone(), CAROL.to_string()],
    )
    .expect("apply");
    assert_eq!(c.content, out.content, "same identity: first spelling wins");
    let c = apply(&out.content, &[renamed.clone(), CAROL.to_string()]).expect("apply");
    assert_eq!(c.added, vec![renamed]);
    assert_eq!(c.removed, s(&[BOB]));
}

#[test]
fn final_newline_follows_the_file_convention() {
    let crlf = format!("{ALICE}\r\n# last");
    let out = apply(crlf.as_bytes(), &s(&[BOB])).expect("apply");
    assert_eq!(
        out.content,
        [format!("{ALICE}\r\n# last\r\n").as_bytes(), &block(&[BOB])].concat()
    );
    let lone_cr = format!("{ALICE}\r\n# last\r");
    let out = apply(lone_cr.as_bytes(), &s(&[BOB])).expect("apply");
    assert!(
        out.content
            .starts_with(format!("{ALICE}\r\n# last\r\n{BEGIN_MARKER}").as_bytes())
    );
    let lf = ALICE.to_string();
    let out = apply(lf.as_bytes(), &s(&[BOB])).expect("apply");
    assert!(
        out.content
            .starts_with(format!("{ALICE}\n{BEGIN_MARKER}").as_bytes())
    );
}

#[test]
fn invalid_desired_lines() {
    let bad = [
        "",
        "   ",
        "# comment",
        BEGIN_MARKER,
        "ssh-ed25519",
        "ssh-ed25519 notbase64!",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi",
        "ssh-foo AAAA",
        "2048 65537 12345 ssh1",
        "\u{feff}ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi",
    ];
    for (i, line) in bad.iter().enumerate() {
        let desired = vec![ALICE.to_string(), line.to_string()];
        match apply(b"", &desired) {
            Err(EngineError::InvalidLine(m)) => {
                assert!(m.starts_with("entry 1:"), "{m}");
                assert!(!m.chars().any(char::is_control), "{m:?}");
            }
            other => panic!("case {i} must be refused: {other:?}"),
        }
    }
    // The escaped excerpt never carries the raw characters.
    let err = validate_line("from=\"\u{202e}x\" nokey").expect_err("bad");
    assert!(!err.to_string().contains('\u{202e}'), "{err}");
}

#[test]
fn unmanaged_copies_report_options_and_position() {
    let file = format!(
        "from=\"10.0.0.1\" {ALICE}\n{}{BOB}\n",
        String::from_utf8(block(&[ALICE])).expect("utf-8")
    );
    let copies = unmanaged_copies(file.as_bytes(), &s(&[ALICE, BOB, CAROL])).expect("ok");
    assert_eq!(
        copies,
        vec![
            UnmanagedCopy {
                desired_index: 0,
                line_number: 1,
                same_options: false,
                precedes_block: true,
                comment: Some("alice@example".into()),
            },
            UnmanagedCopy {
                desired_index: 1,
                line_number: 5,
                same_options: true,
                precedes_block: false,
                comment: Some("bob@example".into()),
            },
        ]
    );
}

#[test]
fn shadowing_rules() {
    let plain = format!("no-pty {ALICE}");
    let ca = format!("cert-authority {ALICE}");
    let from = format!("from=\"10.0.0.1\" {ALICE}");
    // Plain then plain: the second is unreachable.
    assert_eq!(
        shadowed_entries(&[plain.clone(), format!("pty {ALICE}")]).expect("ok"),
        vec![Shadowed {
            index: 1,
            shadowed_by: 0
        }]
    );
    // A CA line and a plain line are matched separately; from= lets sshd fall through.
    assert!(
        shadowed_entries(&[ca, plain.clone()])
            .expect("ok")
            .is_empty()
    );
    assert!(
        shadowed_entries(&[from, plain.clone()])
            .expect("ok")
            .is_empty()
    );
    // Exact duplicates are collapsed by apply, not reported.
    assert!(
        shadowed_entries(&[plain.clone(), plain])
            .expect("ok")
            .is_empty()
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(99);
    let alphabet: &[u8] = b" \t\r\n\",=#\\azAZ09+/\xff\x00";
    for _ in 0..3000 {
        let len = rng.below(60);
        let file: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
        let _ = parse(&file);
        let out = apply(&file, &s(&[ALICE])).expect("no markers possible in this alphabet");
        assert!(out.content.starts_with(&file));
        let text = String::from_utf8_lossy(&file).into_owned();
        let _ = validate_line(&text);
        let _ = parse_options(&text);
    }
}

#[test]
fn rsa_sha2_names_and_trailing_commas_read_as_sshd_does() {
    use base64::Engine as _;
    let rsa = |name: &str| {
        let mut blob = u32::try_from(name.len())
            .expect("short")
            .to_be_bytes()
            .to_vec();
        blob.extend_from_slice(name.as_bytes());
        blob.extend_from_slice(&[0, 0, 0, 1, 3, 0, 0, 0, 1, 7]);
        base64::engine::general_purpose::STANDARD.encode(&blob)
    };
    // sshkey_type_from_name maps the signature names to RSA, in the text and in the blob.
    for (text, blob) in [
        ("rsa-sha2-256", "ssh-rsa"),
        ("rsa-sha2-512", "rsa-sha2-512"),
        ("ssh-rsa", "rsa-sha2-256"),
    ] {
        let k = parse_key_line(&format!("{text} {} c", rsa(blob))).expect(text);
        assert_eq!(k.key_type, text);
    }
    assert_eq!(
        parse_key_line(&format!("ssh-ed25519 {}", rsa("rsa-sha2-256"))),
        Err(KeyLineError::TypeMismatch("ssh-ed25519".into()))
    );
    // In a line, sshd stops at the blank before the key: trailing commas are read, ...
    let k = parse_key_line(&format!("pty,, {ALICE}")).expect("sshd accepts it");
    assert_eq!(k.options_raw.as_deref(), Some("pty,,"));
    assert_eq!(k.options.len(), 1);
    assert!(parse_key_line(&format!(", {ALICE}")).is_ok_and(|k| k.options.is_empty()));
    // ... but testum does not write them.
    assert!(matches!(
        validate_line(&format!("pty, {ALICE}")),
        Err(EngineError::InvalidLine(m)) if m.contains("comma")
    ));
}
