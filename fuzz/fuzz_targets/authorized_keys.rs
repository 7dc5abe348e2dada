//! The authorized_keys reader on any bytes: `parse` (line split and sshd's line grammar),
//! `scan` (the read-only report) and `validate_line` (what testum accepts to write).
//!
//! Invariants: nothing panics; the parsed lines (raw bytes plus endings) concatenate back to the
//! input and are numbered 1, 2, ...; a line `validate_line` accepts is rendered in a canonical
//! form that validates again to the same entry and is its own canonical form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use testum::authorized_keys::{
    clean_submitted_line, parse, parse_key_line, scan, unparseable_lines, validate_line,
};

fuzz_target!(|bytes: &[u8]| {
    let lines = parse(bytes);
    let mut joined = Vec::with_capacity(bytes.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line.number, i + 1, "line numbers are not 1, 2, ...");
        joined.extend_from_slice(&line.raw);
        joined.extend_from_slice(line.ending.as_bytes());
    }
    assert_eq!(joined, bytes, "lines do not concatenate back to the file");
    let _ = unparseable_lines(bytes);
    let _ = scan(Some(bytes), &[]);

    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // The whole text as one submitted entry (several lines get a hint, never a panic).
    let _ = clean_submitted_line(text);
    for line in text.split('\n') {
        let Ok(entry) = validate_line(line) else {
            continue;
        };
        let canonical = entry.render();
        assert_eq!(
            validate_line(&canonical).as_ref(),
            Ok(&entry),
            "canonical line validates to another entry"
        );
        assert_eq!(parse_key_line(&canonical).as_ref(), Ok(&entry));
        assert_eq!(
            clean_submitted_line(line).as_deref(),
            Ok(canonical.as_str())
        );
    }
});
