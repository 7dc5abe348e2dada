//! The authorized_keys engine: pure functions from file bytes and a desired set of managed lines to
//! new file bytes. No I/O.
//!
//! testum owns only the lines between [`BEGIN_MARKER`] and [`END_MARKER`]; every byte outside that
//! block is kept byte for byte (CRLF, BOM, odd spacing, unknown key types, garbage, comments,
//! blank lines, order). A new block is appended at the end of the file; a missing final newline is
//! added first, which is the only change ever made outside the block (case AK-10).
//!
//! - [`parse`] splits a file into [`Line`]s (blank, comment, key with options, unparseable), the
//!   way sshd reads it; [`parse_options`] parses an options field with sshd's grammar.
//! - [`apply`] makes the block equal to a desired set and reports what changed.
//! - [`unmanaged_copies`], [`shadowed_entries`] and [`unparseable_lines`] give the caller what it
//!   needs for warnings (cases AK-02, AK-04, AK-05).
//!
//! Decisions (see also the docs of [`apply`]):
//! - An empty desired set removes the block entirely, so the file returns to its unmanaged bytes
//!   and a host from which every key was revoked carries no testum trace.
//! - Desired lines are deduplicated by entry identity (options, key type, key blob; never the
//!   comment, cases AK-04/AK-05); the first occurrence wins and keeps its position.
//! - The block is always written with `\n`, whatever the rest of the file uses (case KF-04).

mod exclusive;
mod key_options;
mod options;
mod parse;
mod scan;

#[cfg(test)]
mod case_tests;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;

pub use exclusive::{RemovedLines, remove_unmanaged_keys, shadowing_conflict};
pub use key_options::{KeyOptions, KeyOptionsError};
pub use options::{KeyOption, OptionsError, parse_options, render_option, split_options_field};
pub use parse::{
    EntryIdentity, KNOWN_KEY_TYPES, KeyLine, KeyLineError, Line, LineEnding, LineKind,
    is_known_key_type, parse, parse_key_line,
};
pub use scan::{
    Finding, FindingKind, LineClass, ScanReport, ScannedLine, ScannedOption, is_weak, scan,
};

use parse::split_lines;

/// Marker line that opens the block testum owns.
pub const BEGIN_MARKER: &str = "# BEGIN testum managed keys - do not edit";
/// Marker line that closes the block testum owns.
pub const END_MARKER: &str = "# END testum managed keys";

/// Result of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The complete new file content.
    pub content: Vec<u8>,
    /// `false` when `content` equals the input byte for byte (nothing to write).
    pub changed: bool,
    /// Managed lines that were not in the block before (in block order).
    pub added: Vec<String>,
    /// Managed lines that were in the block before and are no longer desired (in old block
    /// order). A line whose comment or options changed shows up as removed and added.
    pub removed: Vec<String>,
}

/// Why [`apply`] refused to produce new content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The file's markers are damaged (e.g. BEGIN without END, two blocks). Nothing is guessed and
    /// nothing is written; a human fixes the file.
    #[error("authorized_keys markers are damaged: {0}")]
    DamagedMarkers(String),
    /// A desired line is not a single valid authorized_keys line. The message says which entry
    /// (0-based index into `desired`) and why, and never echoes the raw input.
    #[error("invalid managed line: {0}")]
    InvalidLine(String),
    /// The new content would not do what the sync promises (a managed entry an earlier line
    /// always wins over, see [`shadowing_conflict`]); nothing is written.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Where the block sits: indices (into the file's lines) of the BEGIN and END marker lines.
#[derive(Debug, Clone, Copy)]
struct BlockPos {
    begin: usize,
    end: usize,
}

enum MarkerKind {
    Begin,
    End,
    LookAlike,
}

fn marker_kind(raw: &[u8]) -> Option<MarkerKind> {
    let text = String::from_utf8_lossy(raw);
    // A CR or trailing blanks after a marker (a file converted to CRLF) still count.
    let exact = text.trim_end_matches([' ', '\t', '\r']);
    if exact == BEGIN_MARKER {
        return Some(MarkerKind::Begin);
    }
    if exact == END_MARKER {
        return Some(MarkerKind::End);
    }
    let loose = text
        .trim_start_matches([' ', '\t', '\u{feff}'])
        .trim_start_matches('#')
        .trim_start_matches([' ', '\t'])
        .to_ascii_lowercase();
    if loose.starts_with("begin testum") || loose.starts_with("end testum") {
        return Some(MarkerKind::LookAlike);
    }
    None
}

fn join_numbers(idx: &[usize]) -> String {
    idx.iter()
        .map(|i| (i + 1).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Find the managed block. Refuses anything but zero markers or exactly one BEGIN followed by
/// exactly one END; a line that looks like a marker but is not exact is refused too.
fn find_block(lines: &[(&[u8], LineEnding)]) -> Result<Option<BlockPos>, EngineError> {
    let (mut begins, mut ends, mut lookalikes) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (raw, _)) in lines.iter().enumerate() {
        match marker_kind(raw) {
            Some(MarkerKind::Begin) => begins.push(i),
            Some(MarkerKind::End) => ends.push(i),
            Some(MarkerKind::LookAlike) => lookalikes.push(i),
            None => {}
        }
    }
    let damaged = |reason: String| Err(EngineError::DamagedMarkers(reason));
    if !lookalikes.is_empty() {
        return damaged(format!(
            "line {} looks like a testum marker but does not match it exactly; \
             fix or remove it by hand",
            join_numbers(&lookalikes)
        ));
    }
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok(None),
        ([b], [e]) if b < e => Ok(Some(BlockPos { begin: *b, end: *e })),
        ([b], [e]) => damaged(format!(
            "END marker on line {} comes before BEGIN marker on line {}",
            e + 1,
            b + 1
        )),
        ([b], []) => damaged(format!("BEGIN marker on line {} has no END marker", b + 1)),
        ([], [e]) => damaged(format!("END marker on line {} has no BEGIN marker", e + 1)),
        _ => damaged(format!(
            "more than one managed block (BEGIN markers on lines [{}], END markers on lines [{}])",
            join_numbers(&begins),
            join_numbers(&ends)
        )),
    }
}

/// Describe `text` safely for an error message: escaped and shortened, never raw.
fn escaped_excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

/// Validate one desired line: exactly one line, no control characters (TAB allowed as a field
/// separator), surrounding spaces/tabs ignored, and a key line sshd accepts: options per sshd's
/// grammar (without the trailing comma sshd would tolerate), a known key type, base64 whose
/// embedded type matches, optional comment (cases AK-09, AK-12). Returns the parsed line; [`KeyLine::render`] is what [`apply`] writes.
///
/// # Errors
/// [`EngineError::InvalidLine`] with the reason. A line with CR/LF that is a key wrapped over
/// several lines, or that holds several key lines, gets a hint saying so; the raw input is never
/// echoed (only an escaped excerpt).
pub fn validate_line(line: &str) -> Result<KeyLine, EngineError> {
    if let Some((pos, c)) = line
        .chars()
        .enumerate()
        .find(|(_, c)| (c.is_control() && *c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        let pieces: Vec<&str> = line
            .split(['\r', '\n'])
            .map(|p| p.trim_matches([' ', '\t']))
            .filter(|p| !p.is_empty())
            .collect();
        let hint = if pieces.len() > 1 && pieces.iter().all(|p| parse_key_line(p).is_ok()) {
            " (it holds several key lines; submit one entry per key)"
        } else if pieces.len() > 1 && parse_key_line(&pieces.join(" ")).is_ok() {
            " (it looks like one key wrapped over several lines; put it on one line)"
        } else {
            ""
        };
        return Err(EngineError::InvalidLine(format!(
            "contains control character U+{:04X} at position {pos}: key, comment and options \
             must be a single line without CR, LF or NUL{hint}",
            u32::from(c)
        )));
    }
    let trimmed = line.trim_matches([' ', '\t']);
    let refuse = |e: KeyLineError| {
        EngineError::InvalidLine(format!(
            "{e} (line starts \"{}\")",
            escaped_excerpt(trimmed)
        ))
    };
    let key = parse_key_line(trimmed).map_err(refuse)?;
    // sshd reads `pty, ssh-ed25519 ...` (see [`parse_key_line`]), but a line testum writes
    // holds options exactly as they are meant: a dangling comma is a mistake, not a style.
    if key.options_raw.as_deref().is_some_and(|o| o.ends_with(',')) {
        return Err(refuse(OptionsError::TrailingComma.into()));
    }
    Ok(key)
}

/// Prepare a line pasted into a form or API: drop one trailing CR LF / LF / CR and surrounding
/// spaces/tabs (case AK-12 `submit-trailing-newline`), then [`validate_line`]. Returns the
/// canonical line ([`KeyLine::render`]). [`apply`] itself never trims line breaks.
///
/// # Errors
/// As [`validate_line`]: any CR, LF or NUL left after that one trailing line break is refused.
pub fn clean_submitted_line(input: &str) -> Result<String, EngineError> {
    let s = input.trim_matches([' ', '\t']);
    let s = s
        .strip_suffix("\r\n")
        .or_else(|| s.strip_suffix('\n'))
        .or_else(|| s.strip_suffix('\r'))
        .unwrap_or(s);
    validate_line(s).map(|k| k.render())
}

/// [`validate_line`] with the entry's index in the error message.
fn validate_entry(index: usize, line: &str) -> Result<KeyLine, EngineError> {
    validate_line(line).map_err(|e| match e {
        EngineError::InvalidLine(m) => EngineError::InvalidLine(format!("entry {index}: {m}")),
        other => other,
    })
}

/// Validate every desired line and collapse duplicates by [`EntryIdentity`] (first wins).
fn desired_entries(desired: &[String]) -> Result<Vec<KeyLine>, EngineError> {
    let mut seen = std::collections::HashSet::with_capacity(desired.len());
    let mut out: Vec<KeyLine> = Vec::with_capacity(desired.len());
    for (i, line) in desired.iter().enumerate() {
        let key = validate_entry(i, line)?;
        if seen.insert(key.identity()) {
            out.push(key);
        }
    }
    Ok(out)
}

/// The managed lines as they appear in the block, canonicalised where they parse so that a
/// hand-edited separator is not reported as a removal. Blank lines are skipped.
fn block_lines(lines: &[(&[u8], LineEnding)], pos: BlockPos) -> Vec<String> {
    lines[pos.begin + 1..pos.end]
        .iter()
        .filter_map(|(raw, _)| canonical_line(&String::from_utf8_lossy(raw)))
        .collect()
}

/// A line of the block as compared with what testum wrote: [`KeyLine::render`] when it parses
/// (so a hand-edited separator does not count as a change), else the text without a trailing
/// CR; `None` for a blank line.
fn canonical_line(text: &str) -> Option<String> {
    match parse_key_line(text) {
        Ok(k) => Some(k.render()),
        Err(KeyLineError::Empty) => None,
        Err(_) => Some(text.trim_end_matches('\r').to_string()),
    }
}

/// Items of `a` not matched one-for-one in `b` (multiset difference, order of `a`).
fn multiset_minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut pool: Vec<Option<&String>> = b.iter().map(Some).collect();
    a.iter()
        .filter(
            |x| match pool.iter_mut().find(|slot| slot.is_some_and(|y| y == *x)) {
                Some(slot) => {
                    *slot = None;
                    false
                }
                None => true,
            },
        )
        .cloned()
        .collect()
}

fn render_block(entries: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(BEGIN_MARKER.as_bytes());
    out.push(b'\n');
    for e in entries {
        out.extend_from_slice(e.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(END_MARKER.as_bytes());
    out.push(b'\n');
    out
}

fn concat(lines: &[(&[u8], LineEnding)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (raw, ending) in lines {
        out.extend_from_slice(raw);
        out.extend_from_slice(ending.as_bytes());
    }
    out
}

/// Make the managed block of `current` equal to `desired` (each a whole authorized_keys line
/// without line terminator: `[options ]type base64[ comment]`).
///
/// - Each desired line is checked with [`validate_line`] and written in canonical form
///   ([`KeyLine::render`]: options field verbatim, single spaces between fields, comment
///   verbatim), in the order of `desired`; duplicates by identity (options, type, blob) collapse
///   to the first.
/// - An existing block is rewritten in place (with `\n` endings); bytes before and after it are
///   kept byte for byte. Without a block, a new one is appended at the end; when the file does
///   not end with a newline, one is added first (`\r\n` if the line before uses CRLF, else `\n`).
/// - An empty `desired` removes an existing block with its markers (and leaves a file without a
///   block unchanged), so the file returns to its unmanaged bytes. Keeping an empty block would
///   be idempotent as well, but would leave a trace on hosts testum no longer manages.
/// - Unmanaged lines are never touched, even when they hold a desired key (see
///   [`unmanaged_copies`]).
/// - Idempotent: `apply(apply(x, d).content, d)` gives the same bytes with `changed == false`.
///
/// # Errors
/// [`EngineError::InvalidLine`] for a bad desired line; [`EngineError::DamagedMarkers`] when the
/// file's markers are not exactly one BEGIN followed by one END (or a line looks like a marker
/// but is not exact). In both cases nothing is to be written.
pub fn apply(current: &[u8], desired: &[String]) -> Result<Applied, EngineError> {
    let entries: Vec<String> = desired_entries(desired)?
        .iter()
        .map(KeyLine::render)
        .collect();
    let lines = split_lines(current);
    let block = find_block(&lines)?;

    let (content, old) = match block {
        Some(pos) => {
            let old = block_lines(&lines, pos);
            let mut content = concat(&lines[..pos.begin]);
            if !entries.is_empty() {
                content.extend_from_slice(&render_block(&entries));
            }
            content.extend_from_slice(&concat(&lines[pos.end + 1..]));
            (content, old)
        }
        None if entries.is_empty() => (current.to_vec(), Vec::new()),
        None => {
            let mut content = current.to_vec();
            if let Some((last_raw, LineEnding::None)) = lines.last() {
                let previous_crlf =
                    lines.len() > 1 && matches!(lines[lines.len() - 2].1, LineEnding::CrLf);
                if last_raw.ends_with(b"\r") || !previous_crlf {
                    content.push(b'\n');
                } else {
                    content.extend_from_slice(b"\r\n");
                }
            }
            content.extend_from_slice(&render_block(&entries));
            (content, Vec::new())
        }
    };
    let added = multiset_minus(&entries, &old);
    let removed = multiset_minus(&old, &entries);
    let changed = content != current;
    Ok(Applied {
        content,
        changed,
        added,
        removed,
    })
}

/// The managed lines currently in the block of `current` (empty without a block), canonicalised
/// like [`apply`] writes them. Useful to show a platform's last known managed state.
///
/// # Errors
/// [`EngineError::DamagedMarkers`] as in [`apply`].
pub fn managed_lines(current: &[u8]) -> Result<Vec<String>, EngineError> {
    let lines = split_lines(current);
    Ok(match find_block(&lines)? {
        Some(pos) => block_lines(&lines, pos),
        None => Vec::new(),
    })
}

/// For each of `desired`, whether its key (type and blob, whatever its options and comment) is
/// in the block of `current`: what a failed sync still knows about each assignment.
///
/// # Errors
/// [`EngineError::DamagedMarkers`] as in [`apply`].
pub fn present_in_block(current: &[u8], desired: &[String]) -> Result<Vec<bool>, EngineError> {
    let block: Vec<KeyLine> = managed_lines(current)?
        .iter()
        .filter_map(|line| parse_key_line(line).ok())
        .collect();
    Ok(desired
        .iter()
        .map(|line| {
            parse_key_line(line.trim()).is_ok_and(|want| block.iter().any(|b| b.same_key(&want)))
        })
        .collect())
}

/// Lines sshd would skip, as `(line number, reason)`, for warnings such as "line 2: unrecognised
/// format, left untouched" (case AK-02). They never make [`apply`] fail; they are kept verbatim.
pub fn unparseable_lines(current: &[u8]) -> Vec<(usize, String)> {
    parse(current)
        .into_iter()
        .filter_map(|l| match l.kind {
            LineKind::Unparseable { reason } => Some((l.number, reason)),
            _ => None,
        })
        .collect()
}

/// A desired key that also appears on a line testum does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmanagedCopy {
    /// Index into the `desired` slice given to [`unmanaged_copies`].
    pub desired_index: usize,
    /// 1-based line number of the unmanaged line in the current file.
    pub line_number: usize,
    /// Whether the unmanaged line has the same options (then it is a plain duplicate).
    pub same_options: bool,
    /// Whether the unmanaged line comes before the managed block, so sshd reaches it first and
    /// its options (not testum's) apply when both match. Always true when there is no block yet,
    /// because a new block is appended at the end.
    pub precedes_block: bool,
    /// The unmanaged line's comment (case AK-05: "present, comment differs").
    pub comment: Option<String>,
}

/// Which desired keys are also present on unmanaged lines, compared by key type and decoded blob
/// (cases AK-04, AK-05). testum never edits those lines, so revoking the key removes only the
/// managed copy and the hand-written one keeps working: the caller should warn. With
/// `same_options == false && precedes_block`, the managed options do not protect anything.
///
/// # Errors
/// [`EngineError::InvalidLine`] for a bad desired line; [`EngineError::DamagedMarkers`].
pub fn unmanaged_copies(
    current: &[u8],
    desired: &[String],
) -> Result<Vec<UnmanagedCopy>, EngineError> {
    let wanted: Vec<KeyLine> = desired
        .iter()
        .enumerate()
        .map(|(i, d)| validate_entry(i, d))
        .collect::<Result<_, _>>()?;
    let lines = parse(current);
    let split = split_lines(current);
    let block = find_block(&split)?;
    let mut out = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        if block.is_some_and(|b| (b.begin..=b.end).contains(&idx)) {
            continue;
        }
        let LineKind::Key(found) = &line.kind else {
            continue;
        };
        for (desired_index, want) in wanted.iter().enumerate() {
            if want.same_key(found) {
                out.push(UnmanagedCopy {
                    desired_index,
                    line_number: line.number,
                    same_options: want.identity().options == found.identity().options,
                    precedes_block: block.is_none_or(|b| idx < b.begin),
                    comment: found.comment.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// A desired entry sshd can never use because an earlier entry with the same key always matches
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shadowed {
    /// Index (into `desired`) of the entry that can never be used.
    pub index: usize,
    /// Index of the earlier entry that wins.
    pub shadowed_by: usize,
}

/// Whether sshd, reading `earlier` before `later`, always stops at `earlier` when `later` would
/// match, so `later`'s own options never apply: same key, same role (`cert-authority` or not),
/// different options, and `earlier` has no option that lets sshd fall through to a later line
/// when its check fails (`from=`, `principals=`, `expiry-time=`).
fn shadows(earlier: &KeyLine, later: &KeyLine) -> bool {
    earlier.same_key(later)
        && earlier.identity() != later.identity()
        && is_cert_authority(earlier) == is_cert_authority(later)
        && !is_restricted(earlier)
}

/// Whether the line carries `cert-authority` (sshd matches such lines against certificates'
/// CA keys, and plain lines against plain keys: the two never compete).
fn is_cert_authority(line: &KeyLine) -> bool {
    line.has_option("cert-authority")
}

/// Whether the line has an option that can make sshd skip it and go on to the next line with
/// the same key ([`options::RESTRICTING`]).
fn is_restricted(line: &KeyLine) -> bool {
    options::RESTRICTING.iter().any(|o| line.has_option(o))
}

/// Entries that share a key with an earlier entry which has no restricting option (`from=`,
/// `principals=`, `expiry-time=`), so sshd, which tries lines in order and stops at the first
/// that matches, never reaches them (case AK-04: "the manager may warn"). `cert-authority` lines
/// and plain lines are matched separately by sshd, so they never shadow each other. Exact
/// duplicates (same identity) are not reported: [`apply`] collapses them.
///
/// # Errors
/// [`EngineError::InvalidLine`] for a bad desired line.
pub fn shadowed_entries(desired: &[String]) -> Result<Vec<Shadowed>, EngineError> {
    let parsed: Vec<KeyLine> = desired
        .iter()
        .enumerate()
        .map(|(i, d)| validate_entry(i, d))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (j, later) in parsed.iter().enumerate() {
        let winner = parsed[..j]
            .iter()
            .position(|earlier| shadows(earlier, later));
        if let Some(i) = winner {
            out.push(Shadowed {
                index: j,
                shadowed_by: i,
            });
        }
    }
    Ok(out)
}
