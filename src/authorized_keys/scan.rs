//! Scan: what sshd makes of an authorized_keys file, line by line, and what an operator should
//! know about it (findings). Pure: bytes in, report out; nothing is written or looked up.
//!
//! Each line is classified as sshd reads it (sshd(8) AUTHORIZED_KEYS FILE FORMAT,
//! `auth2-pubkeyfile.c`): blank, comment, entry (a key sshd would try, with its options as
//! `auth-options.c` parses them) or invalid (a line sshd skips, with the reason). The key blob
//! of an entry is read like `sshkey_from_blob` does ([`crate::keys::blob::inspect`]); the
//! fingerprint is the `SHA256:` form `ssh-keygen -l` prints.
//!
//! Known differences from OpenSSH 10 (portable HEAD), kept on purpose:
//! - `ssh-dss` lines are entries (OpenSSH 9.x still reads them and sshd logs in with them when
//!   `PubkeyAcceptedAlgorithms` allows DSA; OpenSSH 10 dropped DSA), and get a
//!   [`FindingKind::WeakKey`] finding;
//! - a certificate's signature is not verified (sshd skips a certificate line whose CA
//!   signature is broken).
//!
//! The file is read in one pass plus hash lookups (no pairwise comparison), so a 16 MiB file
//! costs time linear in its size.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::options::OptionsError;
use super::parse::{KeyLine, KeyLineError, parse_key_line, split_lines};
use super::{
    BlockPos, canonical_line, find_block, is_cert_authority, is_restricted, marker_kind, shadows,
};
use crate::keys::KeyError;
use crate::keys::blob::{self, Inspected, RSA_MIN_BITS};

/// One line of a scanned authorized_keys file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScannedLine {
    /// 1-based line number.
    pub number: usize,
    /// What sshd makes of the line.
    pub class: LineClass,
    /// For an invalid line: why sshd skips it. Never echoes the line.
    pub reason: Option<String>,
    /// Whether the line is inside testum's managed block, markers included. Always `false`
    /// when the markers are damaged.
    pub managed: bool,
    /// Entries: the key type token as written (e.g. `ssh-ed25519`, or `rsa-sha2-512`, which
    /// sshd reads as an RSA key).
    pub key_type: Option<String>,
    /// Entries: `SHA256:<unpadded base64>` as `ssh-keygen -l` prints it (a certificate is
    /// fingerprinted by its plain key, as OpenSSH does).
    pub fingerprint: Option<String>,
    /// Entries: key size in bits as `ssh-keygen -l` prints it.
    pub bits: Option<u32>,
    /// Entries: the options as sshd parses them, in the order written.
    pub options: Vec<ScannedOption>,
    /// Entries: the comment (text after the key data, surrounding blanks and CR removed).
    pub comment: Option<String>,
    /// The registry key with this fingerprint; filled by the caller, [`scan`] leaves it `None`.
    pub key_id: Option<uuid::Uuid>,
    /// The registry key's name; filled by the caller.
    pub key_name: Option<String>,
    /// The registry key's owner; filled by the caller.
    pub owner: Option<String>,
}

/// One option of an entry: `no-pty` is `{name: "no-pty", value: null}`, `from="10.0.0.*"` is
/// `{name: "from", value: "10.0.0.*"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScannedOption {
    /// Option name as written (sshd matches names case-insensitively).
    pub name: String,
    /// The dequoted value (`\"` read as `"`); `None` for a flag.
    pub value: Option<String>,
}

/// What sshd makes of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineClass {
    /// A key sshd would try.
    Entry,
    /// First non-blank character is `#`.
    Comment,
    /// Empty or only spaces/tabs.
    Blank,
    /// A line sshd skips (see [`ScannedLine::reason`]).
    Invalid,
}

/// Something an operator should know about the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// The 1-based line it is about, if any.
    pub line: Option<usize>,
    /// The key it is about, if any (`SHA256:...`).
    pub fingerprint: Option<String>,
    /// One readable sentence for an operator, naming the line.
    pub message: String,
}

/// The kinds of [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// An entry outside the managed block (registered or unknown: the caller annotates).
    UnmanagedKey,
    /// An expected managed line is not in the block (removed or edited by hand).
    ManagedMissing,
    /// A line in the block that testum did not write (edited or added by hand).
    ManagedChanged,
    /// testum's own line for a key being revoked or past its expiry, still in the block until
    /// a sync removes it. [`scan`] never reports it (it has no assignments); the caller turns a
    /// [`FindingKind::ManagedChanged`] for such a line into this one.
    ManagedLeaving,
    /// A managed entry that an earlier line for the same key (with other options) always wins
    /// over: sshd uses the first matching line, so the managed options never apply. The
    /// earlier line has no `from=`, `principals=` or `expiry-time=` that could let sshd fall
    /// through; `cert-authority` lines and plain lines never shadow each other.
    Shadowed,
    /// The same key on more than one entry line, where the later line is never used: an earlier
    /// line for that key has no `from=`, `principals=` or `expiry-time=` to let sshd fall
    /// through (several lines whose earlier ones carry such checks are legitimate and not
    /// reported, case AK-04). A managed line with other options is [`FindingKind::Shadowed`]
    /// instead.
    Duplicate,
    /// DSA (any size) or RSA under 2048 bits.
    WeakKey,
    /// The block markers are damaged (BEGIN without END, two blocks, look-alike markers, ...).
    DamagedMarkers,
    /// A line sshd skips.
    InvalidLine,
    /// File or directory modes or owners sshd's StrictModes refuses. Emitted by the caller from
    /// the remote read, never by [`scan`].
    UnsafeModes,
    /// The file does not exist.
    FileMissing,
}

/// Result of [`scan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScanReport {
    /// Every line of the file, in order.
    pub lines: Vec<ScannedLine>,
    /// Findings: file-level ones first, then by line, then missing managed lines.
    pub findings: Vec<Finding>,
}

/// Whether a key of this type and size is weak: DSA of any size (OpenSSH disabled it in 7.0
/// and removed it in 10.0) and RSA under 2048 bits. `key_type` may be a type token as written
/// (`rsa-sha2-256`, certificate types) or a plain algorithm name.
pub fn is_weak(key_type: &str, bits: u32) -> bool {
    let base = key_type
        .strip_suffix("-cert-v01@openssh.com")
        .unwrap_or(key_type);
    match base {
        "ssh-dss" => true,
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => bits < RSA_MIN_BITS,
        _ => false,
    }
}

/// An entry line with what was read from it.
struct Entry {
    /// Index into the file's lines.
    index: usize,
    key: KeyLine,
    info: Inspected,
}

/// What identifies a key for duplicates and shadowing: role (`cert-authority` or not) and blob.
type KeyId<'a> = (bool, &'a [u8]);

fn key_id(key: &KeyLine) -> KeyId<'_> {
    (is_cert_authority(key), key.blob.as_slice())
}

/// Classify every line of an authorized_keys file and report findings.
///
/// `content`: the file's bytes, `None` when the file does not exist (one
/// [`FindingKind::FileMissing`] finding, no lines). `expected_block`: the lines testum believes
/// are in its block (what its last write put there), in order; lines are compared in canonical
/// form ([`super::KeyLine::render`]), so a hand-changed separator is not a change.
///
/// Never fails and never panics: CRLF and lone CR endings, a BOM (the first line is then
/// invalid, as sshd does not skip it), a missing final newline and non-UTF-8 bytes (read
/// lossily) are all classified. With damaged markers every line is still classified, `managed`
/// is `false` everywhere, and the block-related findings (unmanaged, missing, changed,
/// shadowed) are left out because nobody can tell which lines are testum's; a
/// [`FindingKind::DamagedMarkers`] finding says why.
pub fn scan(content: Option<&[u8]>, expected_block: &[String]) -> ScanReport {
    let Some(content) = content else {
        return ScanReport {
            lines: Vec::new(),
            findings: vec![Finding {
                kind: FindingKind::FileMissing,
                line: None,
                fingerprint: None,
                message: "the authorized_keys file does not exist, so no key logs in through it"
                    .to_string(),
            }],
        };
    };
    let raw = split_lines(content);
    let mut findings = Vec::new();
    // `markers_ok`: zero markers or one intact block, so `managed` means something.
    let (block, markers_ok) = match find_block(&raw) {
        Ok(block) => (block, true),
        Err(e) => {
            findings.push(Finding {
                kind: FindingKind::DamagedMarkers,
                line: raw
                    .iter()
                    .position(|(bytes, _)| marker_kind(bytes).is_some())
                    .map(|i| i + 1),
                fingerprint: None,
                message: format!(
                    "{e}; testum neither edits this file nor tells its lines apart until the \
                     markers are fixed by hand"
                ),
            });
            (None, false)
        }
    };
    let in_block =
        |index: usize| block.is_some_and(|b: BlockPos| (b.begin..=b.end).contains(&index));

    let mut lines = Vec::with_capacity(raw.len());
    let mut entries = Vec::new();
    let mut expected = ExpectedBlock::new(expected_block);
    for (index, (bytes, _)) in raw.iter().enumerate() {
        let text = String::from_utf8_lossy(bytes);
        let managed = in_block(index);
        let line = classify(index, &text, managed, &mut entries);
        if line.class == LineClass::Invalid {
            findings.push(Finding {
                kind: FindingKind::InvalidLine,
                line: Some(line.number),
                fingerprint: None,
                message: format!(
                    "line {}: sshd skips this line: {}",
                    line.number,
                    line.reason.as_deref().unwrap_or_default()
                ),
            });
        }
        let is_marker = block.is_some_and(|b| index == b.begin || index == b.end);
        if managed
            && !is_marker
            && let Some(canonical) = canonical_line(&text)
            && !expected.take(&canonical)
        {
            findings.push(Finding {
                kind: FindingKind::ManagedChanged,
                line: Some(line.number),
                fingerprint: line.fingerprint.clone(),
                message: format!(
                    "line {}: this line in testum's block was not written by testum \
                             (edited or added by hand)",
                    line.number
                ),
            });
        }
        lines.push(line);
    }
    entry_findings(&entries, markers_ok, &lines, &mut findings);
    if markers_ok {
        findings.extend(expected.missing());
    }
    ScanReport { lines, findings }
}

/// Classify one line; an entry is also pushed to `entries`.
fn classify(index: usize, text: &str, managed: bool, entries: &mut Vec<Entry>) -> ScannedLine {
    let mut line = ScannedLine {
        number: index + 1,
        class: LineClass::Invalid,
        reason: None,
        managed,
        key_type: None,
        fingerprint: None,
        bits: None,
        options: Vec::new(),
        comment: None,
        key_id: None,
        key_name: None,
        owner: None,
    };
    match parse_key_line(text) {
        Ok(key) => match blob::inspect(&key.blob) {
            Ok(info) => {
                line.class = LineClass::Entry;
                line.key_type = Some(key.key_type.clone());
                line.fingerprint = Some(info.fingerprint.clone());
                line.bits = Some(info.bits);
                line.options = key
                    .options
                    .iter()
                    .map(|o| ScannedOption {
                        name: o.name.clone(),
                        value: o.value.clone(),
                    })
                    .collect();
                line.comment = key.comment.clone();
                entries.push(Entry { index, key, info });
            }
            Err(e) => line.reason = Some(blob_reason(&key.key_type, &e)),
        },
        Err(KeyLineError::Empty) => line.class = LineClass::Blank,
        Err(KeyLineError::Comment) => line.class = LineClass::Comment,
        Err(e) => line.reason = Some(line_reason(&e)),
    }
    line
}

/// Why sshd skips a line, without echoing it. An unknown "option" that does not look like an
/// option name (a pasted private key, an SSH1 line, prose) is not quoted back.
fn line_reason(e: &KeyLineError) -> String {
    match e {
        KeyLineError::Options(OptionsError::Unknown(name))
            if name.len() > 32
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            "the first field is neither a key type sshd knows nor options it knows".to_string()
        }
        other => other.to_string(),
    }
}

/// Why sshd cannot read the key data of a line whose text is well formed.
fn blob_reason(key_type: &str, e: &KeyError) -> String {
    match e {
        KeyError::RsaTooSmall { bits } => format!(
            "the RSA key has {bits} bits; sshd refuses RSA keys under {} bits",
            blob::SSHD_RSA_MIN_BITS
        ),
        KeyError::RsaTooLarge { bits } => format!(
            "the RSA key has {bits} bits; sshd accepts at most {}",
            blob::RSA_MAX_BITS
        ),
        KeyError::BadBlob { reason } => {
            format!("the key data after {key_type} is not a valid key: {reason}")
        }
        _ => format!("the key data after {key_type} holds a key type sshd cannot read"),
    }
}

/// Findings about entries: unmanaged, weak, duplicate, shadowed. `trusted_block`: the markers
/// are intact, so `managed` means something.
fn entry_findings(
    entries: &[Entry],
    trusted_block: bool,
    lines: &[ScannedLine],
    findings: &mut Vec<Finding>,
) {
    // The first line for each key without from=/principals=/expiry-time=: sshd stops there
    // whenever the key matches, so no later line for that key is ever used.
    let mut first_unrestricted: HashMap<KeyId<'_>, &Entry> = HashMap::with_capacity(entries.len());
    let mut per_line: Vec<Finding> = Vec::new();
    for entry in entries {
        let number = entry.index + 1;
        let fp = &entry.info.fingerprint;
        let finding = |kind, message: String| Finding {
            kind,
            line: Some(number),
            fingerprint: Some(fp.clone()),
            message,
        };
        let managed = lines[entry.index].managed;
        if trusted_block && !managed {
            per_line.push(finding(
                FindingKind::UnmanagedKey,
                format!(
                    "line {number}: key {fp} is outside testum's managed block; it logs in \
                         whatever testum deploys or revokes"
                ),
            ));
        }
        if is_weak(&entry.info.key_type, entry.info.bits) {
            per_line.push(finding(
                FindingKind::WeakKey,
                format!(
                    "line {number}: key {fp} is weak ({} {} bits; use ed25519, ECDSA or RSA \
                         of at least {RSA_MIN_BITS} bits)",
                    entry.info.key_type, entry.info.bits
                ),
            ));
        }
        let id = key_id(&entry.key);
        if let Some(winner) = first_unrestricted.get(&id) {
            let first = winner.index + 1;
            per_line.push(
                if trusted_block && managed && shadows(&winner.key, &entry.key) {
                    finding(
                        FindingKind::Shadowed,
                        format!(
                            "line {number}: testum's entry for key {fp} never takes effect: sshd \
                         uses line {first} first, which has other options and no from=, \
                         principals= or expiry-time= to fall through"
                        ),
                    )
                } else {
                    finding(
                        FindingKind::Duplicate,
                        format!(
                            "line {number}: key {fp} is already on line {first}, which sshd \
                         reaches first, so this line is never used"
                        ),
                    )
                },
            );
        }
        if !is_restricted(&entry.key) {
            first_unrestricted.entry(id).or_insert(entry);
        }
    }
    // Merge with the line-ordered findings already collected (invalid, changed): stable sort by
    // line keeps each line's own order.
    findings.extend(per_line);
    findings.sort_by_key(|f| match f.kind {
        FindingKind::DamagedMarkers | FindingKind::FileMissing => 0,
        _ => f.line.unwrap_or(usize::MAX),
    });
}

/// The lines testum expects in its block, as a multiset of canonical lines.
struct ExpectedBlock<'a> {
    /// `(canonical, original)` in the given order.
    lines: Vec<(String, &'a String)>,
    /// How many of each canonical line are still unmatched.
    remaining: HashMap<String, usize>,
}

impl<'a> ExpectedBlock<'a> {
    fn new(expected: &'a [String]) -> Self {
        let lines: Vec<(String, &String)> = expected
            .iter()
            .filter_map(|l| canonical_line(l).map(|c| (c, l)))
            .collect();
        let mut remaining = HashMap::with_capacity(lines.len());
        for (c, _) in &lines {
            *remaining.entry(c.clone()).or_insert(0) += 1;
        }
        ExpectedBlock { lines, remaining }
    }

    /// Match one line found in the block; `false` when testum did not write it.
    fn take(&mut self, canonical: &str) -> bool {
        match self.remaining.get_mut(canonical) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// One finding per expected line that was not found, in expected order.
    fn missing(mut self) -> Vec<Finding> {
        let mut out = Vec::new();
        for (canonical, original) in &self.lines {
            let Some(n) = self.remaining.get_mut(canonical).filter(|n| **n > 0) else {
                continue;
            };
            *n -= 1;
            let fingerprint = parse_key_line(original)
                .ok()
                .and_then(|k| blob::inspect(&k.blob).ok())
                .map(|i| i.fingerprint);
            let what = fingerprint.as_deref().map_or_else(
                || "a line".to_string(),
                |fp| format!("the entry for key {fp}"),
            );
            out.push(Finding {
                kind: FindingKind::ManagedMissing,
                line: None,
                fingerprint,
                message: format!(
                    "{what} that testum wrote into its block is no longer there (removed or \
                     edited by hand)"
                ),
            });
        }
        out
    }
}
