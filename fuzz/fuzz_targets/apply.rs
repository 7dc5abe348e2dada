//! `apply`: an authorized_keys file and a desired set of managed lines -> the new file.
//!
//! Input: the current file up to the first NUL byte; after it, the desired lines separated by
//! `\n` (no NUL: the whole input is the file and the desired set is empty).
//!
//! Invariants when `apply` accepts: every byte outside the managed block is unchanged (only a
//! missing final newline is added before a new block appended at the end); the new file has a
//! block exactly when something is desired; `changed` says whether the bytes changed; applying
//! the same set to the result changes nothing (idempotent).
#![no_main]

use libfuzzer_sys::fuzz_target;
use testum::authorized_keys::{BEGIN_MARKER, END_MARKER, apply, parse};

/// The bytes before the block and after it, or `None` when the file has no block. Only called on
/// files `apply` accepted, so there is at most one BEGIN, followed by one END.
fn around_block(file: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lines = parse(file);
    let marker = |raw: &[u8], marker: &str| {
        String::from_utf8_lossy(raw).trim_end_matches([' ', '\t', '\r']) == marker
    };
    let begin = lines.iter().position(|l| marker(&l.raw, BEGIN_MARKER))?;
    let end = lines.iter().position(|l| marker(&l.raw, END_MARKER))?;
    let concat = |part: &[testum::authorized_keys::Line]| {
        part.iter()
            .flat_map(|l| l.raw.iter().chain(l.ending.as_bytes()).copied())
            .collect::<Vec<u8>>()
    };
    Some((concat(&lines[..begin]), concat(&lines[end + 1..])))
}

fuzz_target!(|data: &[u8]| {
    let (current, desired) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let desired: Vec<String> = if desired.is_empty() {
        Vec::new()
    } else {
        String::from_utf8_lossy(desired)
            .split('\n')
            .map(str::to_string)
            .collect()
    };
    let Ok(applied) = apply(current, &desired) else {
        return;
    };
    let new = &applied.content;
    assert_eq!(applied.changed, new != current, "`changed` is wrong");

    let outside_new = around_block(new);
    assert_eq!(
        outside_new.is_some(),
        !desired.is_empty(),
        "a block must exist exactly when lines are desired"
    );
    match (around_block(current), outside_new) {
        (Some(old), Some(now)) => assert_eq!(old, now, "bytes outside the block changed"),
        (Some((before, after)), None) => {
            assert_eq!(
                *new,
                [before, after].concat(),
                "bytes outside the block changed"
            )
        }
        (None, Some((before, after))) => {
            assert!(after.is_empty(), "a new block is not at the end");
            let added = before
                .strip_prefix(current)
                .expect("bytes before a new block changed");
            let ends_open = !current.is_empty() && !current.ends_with(b"\n");
            match added {
                b"" => assert!(!ends_open, "no newline added before the block"),
                b"\n" | b"\r\n" => assert!(ends_open, "a newline added after a newline"),
                _ => panic!("more than a newline added before the block"),
            }
        }
        (None, None) => assert_eq!(new, current, "a file without block changed"),
    }

    let again = apply(new, &desired).expect("apply refuses its own output");
    assert_eq!(again.content, *new, "applying twice is not idempotent");
    assert!(!again.changed && again.added.is_empty() && again.removed.is_empty());
});
