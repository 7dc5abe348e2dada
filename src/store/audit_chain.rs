//! The audit log as a hash chain: pure hashing and checking, no I/O.
//!
//! Every event carries a sequence number `seq` (1, 2, 3, ... with no gap), the hash of the event
//! before it (`prev_hash`; [`GENESIS`] for `seq` 1), its own `hash` and the rule that made it
//! (`hash_rule`, see [`HashRule`]). Both rules read a canonical encoding of all the event's
//! columns: an ASCII domain tag followed by each field in a fixed order (seq, id, created_at,
//! actor, action, target, outcome, details, prev_hash), each field written as one presence byte
//! (`0` absent, `1` present), the length of its bytes as a big-endian `u64`, then the bytes (`seq`
//! as 8 big-endian bytes, text as UTF-8 exactly as stored). Length prefixes make the encoding
//! injective: no two different rows share an encoding, so moving bytes from one column to the
//! next changes the hash.
//!
//! - `sha256` (events written before migration 0013): lowercase hex SHA-256 of the encoding with
//!   the tag `testum-audit-v1`. Anyone who can write the database can recompute it.
//! - `hmac-sha256` (every event since): lowercase hex HMAC-SHA-256 (RFC 2104) of the encoding
//!   with the tag `testum-audit-v2-hmac` under the audit chain key ([`ChainKey`]), which the
//!   database holds only sealed under the master key ([`crate::audit_key`]). Without the master
//!   key, an edited event's MAC cannot be recomputed.
//!
//! Editing any column of an event breaks its own hash; deleting or inserting an event breaks the
//! sequence and the next event's `prev_hash`; rewriting a keyed event to the `sha256` rule breaks
//! the rule order ([`Keying`]). Dropping keyed events from the *end* of the log (but not all of
//! them) leaves a shorter chain that is still valid, so operators record the head hash that
//! `testum audit verify` prints somewhere the database's writers cannot change.

use hmac::Mac as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::hex;

/// `prev_hash` of the first event: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"testum-audit-v1";
const KEYED_DOMAIN: &[u8] = b"testum-audit-v2-hmac";

crate::words! {
    /// Which rule made an event's `hash` (column `audit_events.hash_rule`).
    pub enum HashRule {
        /// Plain SHA-256: events written before the chain was keyed.
        Sha256 => "sha256",
        /// HMAC-SHA-256 under the audit chain key.
        HmacSha256 => "hmac-sha256",
    }
}

/// The 256-bit key of the `hmac-sha256` rule. Its `Debug` shows no key bytes.
#[derive(Clone)]
pub struct ChainKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(<secret>)")
    }
}

impl ChainKey {
    /// A key from exactly 32 bytes; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<ChainKey> {
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(ChainKey(Zeroizing::new(bytes)))
    }

    /// The key's bytes (to seal them).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// An audit event's columns as stored, with its chain columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    pub id: String,
    /// RFC 3339 text exactly as stored.
    pub created_at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    /// JSON text exactly as stored.
    pub details: String,
    /// `hash` of the event before, or [`GENESIS`].
    pub prev_hash: String,
    /// The rule of `hash`.
    pub rule: HashRule,
    /// Hex SHA-256 or HMAC-SHA-256 of this event (see the module docs).
    pub hash: String,
}

impl ChainedEvent {
    /// The hash this event's columns (all but `hash` itself) call for under its rule; `None` for
    /// a keyed event when `key` is `None`.
    pub fn expected_hash(&self, key: Option<&ChainKey>) -> Option<String> {
        match self.rule {
            HashRule::Sha256 => Some(self.sha256()),
            HashRule::HmacSha256 => {
                let mut mac = crate::crypto::hmac_sha256(key?.as_bytes());
                self.encode(KEYED_DOMAIN, |bytes| mac.update(bytes));
                Some(hex(&mac.finalize().into_bytes()))
            }
        }
    }

    /// The hash of the `sha256` rule, whatever `self.rule` says.
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        self.encode(DOMAIN, |bytes| hasher.update(bytes));
        hex(&hasher.finalize())
    }

    /// Feed the canonical encoding (module docs) under `domain` to `put`.
    fn encode(&self, domain: &[u8], mut put: impl FnMut(&[u8])) {
        put(domain);
        let mut field = |bytes: Option<&[u8]>| match bytes {
            None => put(&[0u8]),
            Some(bytes) => {
                put(&[1u8]);
                put(&(bytes.len() as u64).to_be_bytes());
                put(bytes);
            }
        };
        field(Some(&self.seq.to_be_bytes()));
        for text in [
            Some(&self.id),
            Some(&self.created_at),
            Some(&self.actor),
            Some(&self.action),
            self.target.as_ref(),
            Some(&self.outcome),
            Some(&self.details),
            Some(&self.prev_hash),
        ] {
            field(text.map(|t| t.as_bytes()));
        }
    }
}

/// The first place a chain is broken: the event, and what differs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at event seq {seq} (id {id}): {what}")]
pub struct ChainBreak {
    /// The event's `seq` (0 for an event that has none).
    pub seq: i64,
    /// The event's id (empty when the break is a missing end of the chain).
    pub id: String,
    /// What differs, in words, with the expected and found values.
    pub what: String,
}

/// The end of an intact chain and what was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Events in the chain.
    pub count: u64,
    /// Events of the `hmac-sha256` rule among them.
    pub keyed: u64,
    /// Keyed events whose MAC was not checked: the key was not at hand ([`Keying::Unopened`]).
    pub unchecked: u64,
    /// Hash of the last event ([`GENESIS`] when there is none).
    pub hash: String,
}

/// What a walk knows about the chain's key, which fixes the rule every event must have.
#[derive(Debug, Clone, Copy)]
pub enum Keying<'a> {
    /// The database holds no audit chain key record: no keyed event may exist.
    Unkeyed,
    /// A record exists but the master key that opens it is not at hand: keyed events are counted,
    /// not checked; none may come before an unkeyed one, and there must be at least one.
    Unopened,
    /// The key, and the `seq` of the first keyed event from the record: every event before it
    /// must be `sha256` and every event from it on `hmac-sha256`, and the chain must reach it.
    Known { key: &'a ChainKey, keyed_from: i64 },
}

/// Checks events one by one in `seq` order, remembering only the previous hash.
#[derive(Debug, Clone)]
pub struct ChainWalker<'a> {
    keying: Keying<'a>,
    head: ChainHead,
}

impl<'a> ChainWalker<'a> {
    /// A walk from the start of the chain under `keying`.
    pub fn new(keying: Keying<'a>) -> ChainWalker<'a> {
        ChainWalker {
            keying,
            head: ChainHead {
                count: 0,
                keyed: 0,
                unchecked: 0,
                hash: GENESIS.to_string(),
            },
        }
    }

    /// Check the next event (in `seq` order).
    pub fn check(&mut self, event: &ChainedEvent) -> Result<(), ChainBreak> {
        let broken = |what: String| ChainBreak {
            seq: event.seq,
            id: event.id.clone(),
            what,
        };
        let expected_seq = self.head.count as i64 + 1;
        if event.seq != expected_seq {
            return Err(broken(format!(
                "expected seq {expected_seq} next, found {}: events are missing or were inserted",
                event.seq
            )));
        }
        if event.prev_hash != self.head.hash {
            return Err(broken(format!(
                "prev_hash is {} but the event before has hash {}: an event before it was \
                 removed, replaced or reordered",
                event.prev_hash, self.head.hash
            )));
        }
        self.check_rule(event).map_err(broken)?;
        let key = match self.keying {
            Keying::Known { key, .. } => Some(key),
            Keying::Unkeyed | Keying::Unopened => None,
        };
        match event.expected_hash(key) {
            Some(expected) if event.hash != expected => {
                return Err(broken(format!(
                    "stored hash {} but its columns hash to {expected} under the {} rule: the \
                     row was edited after it was written",
                    event.hash, event.rule
                )));
            }
            Some(_) => {}
            None => self.head.unchecked += 1,
        }
        self.head.count += 1;
        if event.rule == HashRule::HmacSha256 {
            self.head.keyed += 1;
        }
        self.head.hash = event.hash.clone();
        Ok(())
    }

    /// Whether `event`'s rule is the one its place in the chain calls for; else what is wrong.
    fn check_rule(&self, event: &ChainedEvent) -> Result<(), String> {
        let rule = event.rule;
        match self.keying {
            Keying::Unkeyed if rule == HashRule::HmacSha256 => Err(
                "the event is keyed (hmac-sha256) but the database holds no audit chain key \
                 record: the record was deleted"
                    .into(),
            ),
            Keying::Unopened if rule == HashRule::Sha256 && self.head.keyed > 0 => Err(
                "the event uses the unkeyed sha256 rule after keyed events: a keyed event was \
                 rewritten to the unkeyed rule"
                    .into(),
            ),
            Keying::Known { keyed_from, .. } => {
                let expected = if event.seq >= keyed_from {
                    HashRule::HmacSha256
                } else {
                    HashRule::Sha256
                };
                if rule == expected {
                    return Ok(());
                }
                Err(format!(
                    "the event uses the {rule} rule but the chain is keyed from seq \
                     {keyed_from} on (the audit chain key record says so): its hash_rule was \
                     rewritten"
                ))
            }
            Keying::Unkeyed | Keying::Unopened => Ok(()),
        }
    }

    /// End the walk: the chain so far, or the break of a chain that lacks the keyed events its
    /// key record calls for: it stops before the first keyed event the record names, or (record
    /// not opened) has none at all, although the record is always written with one. Such a
    /// chain lost its keyed end, deleted or rewritten to the unkeyed rule.
    pub fn finish(self) -> Result<ChainHead, ChainBreak> {
        let count = self.head.count as i64;
        let missing = match self.keying {
            Keying::Known { keyed_from, .. } if count < keyed_from => Some(format!(
                "the chain ends at seq {count} but the audit chain key record says events are \
                 keyed from seq {keyed_from} on"
            )),
            Keying::Unopened if self.head.keyed == 0 => Some(format!(
                "the chain ends at seq {count} without a keyed event but the database holds an \
                 audit chain key record, which is always written with one"
            )),
            _ => None,
        };
        match missing {
            Some(what) => Err(ChainBreak {
                seq: count + 1,
                id: String::new(),
                what: format!("{what}: its keyed events were deleted or rewritten unkeyed"),
            }),
            None => Ok(self.head),
        }
    }

    /// The chain so far.
    pub fn head(&self) -> &ChainHead {
        &self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::from_bytes(&[9u8; 32]).unwrap()
    }

    /// `n` events, keyed from seq `keyed_from` on.
    fn chain(n: i64, keyed_from: i64) -> Vec<ChainedEvent> {
        let key = key();
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut event = ChainedEvent {
                    seq,
                    id: format!("id-{seq}"),
                    created_at: "2026-01-01T00:00:00.000000Z".into(),
                    actor: "admin".into(),
                    action: "key.create".into(),
                    target: (seq % 2 == 0).then(|| format!("key:{seq}")),
                    outcome: "success".into(),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    rule: if seq >= keyed_from {
                        HashRule::HmacSha256
                    } else {
                        HashRule::Sha256
                    },
                    hash: String::new(),
                };
                event.hash = event.expected_hash(Some(&key)).unwrap();
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    fn walk(events: &[ChainedEvent], keying: Keying<'_>) -> Result<ChainHead, ChainBreak> {
        let mut walker = ChainWalker::new(keying);
        for event in events {
            walker.check(event)?;
        }
        walker.finish()
    }

    fn known(key: &ChainKey, keyed_from: i64) -> Keying<'_> {
        Keying::Known { key, keyed_from }
    }

    #[test]
    fn intact_chain_reports_count_and_head() {
        let events = chain(4, 5);
        let head = walk(&events, Keying::Unkeyed).unwrap();
        assert_eq!((head.count, head.keyed), (4, 0));
        assert_eq!(head.hash, events[3].hash);
        assert_eq!(walk(&[], Keying::Unkeyed).unwrap().hash, GENESIS);
        let key = key();
        let mixed = chain(5, 3);
        let head = walk(&mixed, known(&key, 3)).unwrap();
        assert_eq!((head.count, head.keyed, head.unchecked), (5, 3, 0));
        let head = walk(&mixed, Keying::Unopened).unwrap();
        assert_eq!((head.count, head.keyed, head.unchecked), (5, 3, 3));
    }

    #[test]
    fn an_edited_column_names_the_event() {
        let key = key();
        for (keyed_from, keying) in [(9, Keying::Unkeyed), (1, known(&key, 1))] {
            let mut events = chain(4, keyed_from);
            events[2].details = r#"{"edited":true}"#.into();
            let err = walk(&events, keying).unwrap_err();
            assert_eq!((err.seq, err.id.as_str()), (3, "id-3"));
            assert!(err.what.contains("edited"), "{}", err.what);
        }
    }

    #[test]
    fn a_keyed_event_forged_without_the_key_is_found() {
        let key = key();
        let mut events = chain(4, 2);
        events[3].actor = "mallory".into();
        // The forger recomputes the MAC under a key of their own.
        events[3].hash = events[3]
            .expected_hash(Some(&ChainKey::from_bytes(&[1u8; 32]).unwrap()))
            .unwrap();
        let err = walk(&events, known(&key, 2)).unwrap_err();
        assert_eq!(err.seq, 4);
        assert!(err.what.contains("hmac-sha256 rule"), "{}", err.what);
    }

    #[test]
    fn a_keyed_event_rewritten_to_the_unkeyed_rule_is_found() {
        let key = key();
        // The keyed end of the chain rewritten as plain SHA-256 events, every hash recomputed.
        let mut events = chain(4, 3);
        let mut prev = events[1].hash.clone();
        for event in &mut events[2..] {
            event.rule = HashRule::Sha256;
            event.prev_hash = prev;
            event.hash = event.expected_hash(None).unwrap();
            prev = event.hash.clone();
        }
        let err = walk(&events, known(&key, 3)).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.what.contains("hash_rule was rewritten"), "{}", err.what);
        // Without the key: a chain with a key record but no keyed event left.
        let err = walk(&events, Keying::Unopened).unwrap_err();
        assert_eq!(err.seq, 5);
        assert!(err.what.contains("without a keyed event"), "{}", err.what);
        let mut events = chain(4, 2);
        events[3].rule = HashRule::Sha256;
        events[3].hash = events[3].expected_hash(None).unwrap();
        let err = walk(&events, Keying::Unopened).unwrap_err();
        assert!(err.what.contains("after keyed events"), "{}", err.what);
        // A keyed event with no key record at all.
        let err = walk(&chain(2, 2), Keying::Unkeyed).unwrap_err();
        assert!(err.what.contains("record was deleted"), "{}", err.what);
    }

    #[test]
    fn a_chain_cut_before_its_first_keyed_event_is_found() {
        let key = key();
        let events = chain(4, 3);
        let err = walk(&events[..2], known(&key, 3)).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.what.contains("deleted"), "{}", err.what);
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut events = chain(4, 9);
        events.remove(1);
        let err = walk(&events, Keying::Unkeyed).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.what.contains("expected seq 2"), "{}", err.what);
    }

    #[test]
    fn length_prefixes_keep_column_boundaries() {
        let mut a = chain(1, 9).remove(0);
        let mut b = a.clone();
        a.actor = "ab".into();
        a.action = "c".into();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(a.expected_hash(None), b.expected_hash(None));
        let mut none = a.clone();
        none.target = None;
        let mut empty = a.clone();
        empty.target = Some(String::new());
        assert_ne!(none.expected_hash(None), empty.expected_hash(None));
    }

    /// Vectors computed apart from this code (Python's hashlib and hmac, from the encoding in
    /// the module docs): the `sha256` rule is the one testum used before the chain was keyed, so
    /// events written then still verify.
    #[test]
    fn both_rules_match_independent_vectors() {
        let mut event = chain(1, 9).remove(0);
        event.target = None;
        assert_eq!(
            event.expected_hash(None).unwrap(),
            "3fd721193d834488eaaa8da923f906968d8d93999660e12d277859aa595b0263"
        );
        event.rule = HashRule::HmacSha256;
        assert_eq!(
            event.expected_hash(Some(&key())).unwrap(),
            "8334392ca5c73699abb8a2ec7fc534ed688e3adcee0f54314824091223c7bd10"
        );
    }

    #[test]
    fn the_rules_differ_and_the_keyed_one_needs_the_key() {
        let mut event = chain(1, 9).remove(0);
        let plain = event.expected_hash(None).unwrap();
        event.rule = HashRule::HmacSha256;
        assert_eq!(event.expected_hash(None), None);
        let keyed = event.expected_hash(Some(&key())).unwrap();
        assert_ne!(plain, keyed);
        assert_eq!(keyed.len(), 64);
    }
}
