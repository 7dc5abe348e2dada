//! OpenSSH `known_hosts` files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): parsing, host matching
//! as `ssh` does it, and the plan of which platform pins which host key on an import. Pure: no
//! I/O; the API applies the plan.
//!
//! A line is `[marker] hostnames keytype base64-key [comment]`, its fields separated by spaces and
//! tabs only (a Unicode space such as U+2000 belongs to the field it is in, as in OpenSSH):
//! - `hostnames` is a comma-separated pattern list (`*` and `?` wildcards, `!` negation), matched
//!   case-insensitively against the name `ssh` looks up: `host` for port 22, `[host]:port` for any
//!   other port (so a key for port 2222 never counts for port 22). A hashed name
//!   `|1|base64-salt|base64-hash` matches when HMAC-SHA1(salt, lookup name) equals the hash, as
//!   written by `ssh-keygen -H` / `HashKnownHosts yes`.
//! - `@revoked` marks a key that must never be trusted for the hosts it names; it wins over any
//!   other line. `@cert-authority` names a CA for host certificates, not a host key: it is
//!   reported and never pinned.
//! - Blank lines, comments, unknown markers, unsupported key types (DSA included) and garbage
//!   are reported with their line number and skipped; every other line still applies.
//!
//! testum pins one host key per platform. When several lines list keys for a platform (one per
//! algorithm, or two of one type during a rotation) the plan pins the first by algorithm
//! preference (Ed25519, then ECDSA P-256/384/521, then RSA), then by line order, and reports the
//! others as skipped. A key that differs from the platform's current pin is refused: replacing a
//! pin is a deliberate re-trust (`POST /api/platforms/{id}/host_key/trust`), not an import.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use russh::keys::{HashAlg, PublicKey};
use serde::Serialize;
use sha1::Sha1;
use uuid::Uuid;

/// Host-key algorithms testum pins, in the order it prefers them when a host has several.
pub const HOST_KEY_TYPES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// The field separators of a line (OpenSSH hostfile.c: space and tab, nothing else).
const BLANKS: [char; 2] = [' ', '\t'];

/// The marker of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `@cert-authority`: a CA key for host certificates.
    CertAuthority,
    /// `@revoked`: a key never to trust for the named hosts.
    Revoked,
}

/// The host names of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    /// A comma-separated pattern list.
    Patterns(String),
    /// `|1|salt|hash`: HMAC-SHA1 of the lookup name under `salt`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// A host-key line that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based line number.
    pub line: usize,
    pub marker: Option<Marker>,
    hosts: Hosts,
    /// Key algorithm as `ssh-keygen -l` names it, e.g. `ssh-ed25519`, `ssh-rsa`.
    pub key_type: String,
    /// `SHA256:...` as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// One line of a known_hosts text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A host key (or CA, or revoked key) line.
    Entry(Entry),
    /// A line that names no key: blank, a comment (`invalid: false`), or one that cannot be used
    /// (`invalid: true`), with the reason.
    Ignored {
        line: usize,
        reason: String,
        invalid: bool,
    },
}

/// Parse every line of `text` (LF or CRLF line ends).
pub fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .map(|(index, raw)| parse_line(index + 1, raw))
        .collect()
}

fn parse_line(line: usize, raw: &str) -> Line {
    let ignored = |reason: &str, invalid: bool| Line::Ignored {
        line,
        reason: reason.to_string(),
        invalid,
    };
    // hostfile.c skips and splits on space and tab only: a Unicode space (U+00A0, U+2000, ...)
    // is part of a host pattern or key field, never a separator.
    let text = raw.trim_matches(BLANKS);
    if text.is_empty() {
        return ignored("blank line", false);
    }
    if text.starts_with('#') {
        return ignored("comment", false);
    }
    let mut fields = text.split(BLANKS).filter(|field| !field.is_empty());
    let mut first = fields.next().unwrap_or_default();
    let marker = match first {
        "@cert-authority" => Some(Marker::CertAuthority),
        "@revoked" => Some(Marker::Revoked),
        other if other.starts_with('@') => {
            return ignored(
                "unknown marker (only @cert-authority and @revoked exist)",
                true,
            );
        }
        _ => None,
    };
    if marker.is_some() {
        first = fields.next().unwrap_or_default();
    }
    let (Some(key_type), Some(blob)) = (fields.next(), fields.next()) else {
        return ignored(
            "not a known_hosts line: expected `[@marker] hostnames key-type base64-key [comment]`",
            true,
        );
    };
    let hosts = match parse_hosts(first) {
        Ok(hosts) => hosts,
        Err(reason) => return ignored(reason, true),
    };
    if marker != Some(Marker::CertAuthority) && !HOST_KEY_TYPES.contains(&key_type) {
        let shown: String = key_type.chars().take(64).collect();
        return ignored(
            &format!(
                "unsupported key type {shown:?} (testum pins {})",
                HOST_KEY_TYPES.join(", ")
            ),
            true,
        );
    }
    let key = match PublicKey::from_openssh(&format!("{key_type} {blob}")) {
        Ok(key) => key,
        Err(e) => return ignored(&format!("the {key_type} key does not parse: {e}"), true),
    };
    Line::Entry(Entry {
        line,
        marker,
        hosts,
        key_type: key.algorithm().as_str().to_string(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
    })
}

fn parse_hosts(field: &str) -> Result<Hosts, &'static str> {
    let Some(hashed) = field.strip_prefix('|') else {
        return Ok(Hosts::Patterns(field.to_string()));
    };
    let invalid = "hashed host name is not |1|base64-salt|base64-hash";
    let mut parts = hashed.split('|');
    let (Some("1"), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid);
    };
    let decode = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
    match (decode(salt), decode(hash)) {
        (Ok(salt), Ok(hash)) if hash.len() == 20 => Ok(Hosts::Hashed { salt, hash }),
        _ => Err(invalid),
    }
}

/// The name `ssh` looks up in known_hosts for `host` on `port`: `host` for port 22,
/// `[host]:port` otherwise (IPv6 addresses without brackets inside), lowercase.
pub fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

impl Entry {
    /// Whether this line names `host` on `port`: a positive pattern matches and no negated one.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.matches_name(&lookup_name(host, port))
    }

    /// Whether this line names the lookup name `name` (see [`lookup_name`]).
    fn matches_name(&self, name: &str) -> bool {
        match &self.hosts {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = <Hmac<Sha1>>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(list) => {
                let mut positive = false;
                for pattern in list.split(',') {
                    let pattern = pattern.to_ascii_lowercase();
                    match pattern.strip_prefix('!') {
                        Some(negated) if wildcard_match(name, negated) => return false,
                        Some(_) => {}
                        None => positive |= wildcard_match(name, &pattern),
                    }
                }
                positive
            }
        }
    }
}

/// OpenSSH's `match_pattern`: `*` matches any run of characters, `?` exactly one.
fn wildcard_match(text: &str, pattern: &str) -> bool {
    let (text, pattern): (Vec<char>, Vec<char>) =
        (text.chars().collect(), pattern.chars().collect());
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// A platform as the import plan sees it.
#[derive(Debug, Clone)]
pub struct PlatformPin {
    pub id: Uuid,
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The pinned fingerprint, if any.
    pub pinned: Option<String>,
}

/// What an import did (or would do) with one line for one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The key was pinned for the platform.
    Pinned,
    /// The platform already had exactly this key pinned.
    Unchanged,
    /// The key is not pinned: it would replace another pin, or it is revoked.
    Refused,
    /// Nothing to pin here (comment, marker, no matching platform, another line chosen).
    Skipped,
    /// The line cannot be used (garbage, unsupported key type, bad key).
    Invalid,
}

/// One row of an import's answer: a line, and the platform it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub line: usize,
    pub status: Status,
    pub reason: Option<String>,
    pub platform_id: Option<Uuid>,
    pub platform: Option<String>,
    pub key_type: Option<String>,
    pub fingerprint: Option<String>,
}

impl Outcome {
    fn of_line(line: usize, status: Status, reason: impl Into<String>) -> Outcome {
        Outcome {
            line,
            status,
            reason: Some(reason.into()),
            platform_id: None,
            platform: None,
            key_type: None,
            fingerprint: None,
        }
    }

    fn of_entry(
        entry: &Entry,
        platform: &PlatformPin,
        status: Status,
        reason: Option<String>,
    ) -> Outcome {
        Outcome {
            line: entry.line,
            status,
            reason,
            platform_id: Some(platform.id),
            platform: Some(platform.name.clone()),
            key_type: Some(entry.key_type.clone()),
            fingerprint: Some(entry.fingerprint.clone()),
        }
    }
}

/// Decide, for every line of `lines`, what it means for `platforms` (see the module docs). The
/// result is ordered by line, then platform name; `Pinned` rows are the pins to write.
pub fn plan(lines: &[Line], platforms: &[PlatformPin]) -> Vec<Outcome> {
    let entries: Vec<&Entry> = lines
        .iter()
        .filter_map(|line| match line {
            Line::Entry(entry) => Some(entry),
            Line::Ignored { .. } => None,
        })
        .collect();
    let mut outcomes: Vec<Outcome> = Vec::new();
    for line in lines {
        match line {
            Line::Ignored {
                line,
                reason,
                invalid,
            } => {
                let status = if *invalid {
                    Status::Invalid
                } else {
                    Status::Skipped
                };
                outcomes.push(Outcome::of_line(*line, status, reason.clone()));
            }
            Line::Entry(entry) => match entry.marker {
                Some(Marker::CertAuthority) => outcomes.push(Outcome::of_line(
                    entry.line,
                    Status::Skipped,
                    "@cert-authority names a CA for host certificates, not a host key; testum \
                     pins plain host keys only",
                )),
                Some(Marker::Revoked) => outcomes.push(Outcome::of_line(
                    entry.line,
                    Status::Skipped,
                    "@revoked: this key is refused for the hosts the line names",
                )),
                None if !platforms.iter().any(|p| entry.matches(&p.host, p.port)) => {
                    outcomes.push(Outcome::of_line(
                        entry.line,
                        Status::Skipped,
                        "no platform has this host name and port",
                    ))
                }
                None => {}
            },
        }
    }
    for platform in platforms {
        outcomes.extend(plan_platform(&entries, platform));
    }
    outcomes.sort_by(|a, b| (a.line, &a.platform).cmp(&(b.line, &b.platform)));
    outcomes
}

/// The rows of one platform: every unmarked line that names it.
fn plan_platform(entries: &[&Entry], platform: &PlatformPin) -> Vec<Outcome> {
    let names = |e: &&&Entry| e.matches(&platform.host, platform.port);
    let revoked: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker == Some(Marker::Revoked))
        .filter(names)
        .copied()
        .collect();
    let mut rows = Vec::new();
    let mut usable: Vec<&Entry> = Vec::new();
    for entry in entries.iter().filter(|e| e.marker.is_none()).filter(names) {
        match revoked.iter().find(|r| r.fingerprint == entry.fingerprint) {
            Some(r) => rows.push(Outcome::of_entry(
                entry,
                platform,
                Status::Refused,
                Some(format!("the key is revoked by line {} (@revoked)", r.line)),
            )),
            None => usable.push(entry),
        }
    }
    let chosen = match &platform.pinned {
        Some(pin) => usable.iter().find(|e| &e.fingerprint == pin).copied(),
        None => usable
            .iter()
            .min_by_key(|e| (preference(&e.key_type), e.line))
            .copied(),
    };
    for entry in usable {
        let row = match (&platform.pinned, chosen) {
            (Some(_), Some(c)) if c.line == entry.line => (Status::Unchanged, None),
            (None, Some(c)) if c.line == entry.line => (Status::Pinned, None),
            (_, Some(c)) => (
                Status::Skipped,
                Some(format!(
                    "the platform's host key is the one on line {}; testum pins one host key \
                     per platform",
                    c.line
                )),
            ),
            (Some(pin), None) => (
                Status::Refused,
                Some(format!(
                    "the platform has another host key pinned ({pin}); replacing a pin is a \
                     re-trust: POST /api/platforms/{}/host_key/trust",
                    platform.id
                )),
            ),
            (None, None) => continue,
        };
        rows.push(Outcome::of_entry(entry, platform, row.0, row.1));
    }
    rows
}

fn preference(key_type: &str) -> usize {
    HOST_KEY_TYPES
        .iter()
        .position(|t| *t == key_type)
        .unwrap_or(HOST_KEY_TYPES.len())
}

#[cfg(test)]
#[path = "known_hosts_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "known_hosts_vectors_tests.rs"]
mod vectors_tests;
