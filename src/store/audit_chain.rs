//! The audit log as a hash chain: pure hashing and checking, no I/O.
//!
//! Every event carries a sequence number `seq` (1, 2, 3, ... with no gap), the hash of the event
//! before it (`prev_hash`; [`GENESIS`] for `seq` 1) and its own `hash`: the lowercase hex SHA-256
//! of a canonical encoding of all its columns. The encoding is the ASCII tag `testum-audit-v1`
//! followed by each field in a fixed order (seq, id, created_at, actor, action, target, outcome,
//! details, prev_hash), each field written as one presence byte (`0` absent, `1` present), the
//! length of its bytes as a big-endian `u64`, then the bytes (`seq` as 8 big-endian bytes, text as
//! UTF-8 exactly as stored). Length prefixes make the encoding injective: no two different rows
//! share an encoding, so moving bytes from one column to the next changes the hash.
//!
//! Editing any column of an event breaks its own hash; deleting or inserting an event breaks the
//! sequence and the next event's `prev_hash`. Dropping events from the *end* of the log leaves a
//! shorter chain that is still valid, so operators record the head hash that
//! `testum audit verify` prints somewhere the database's writers cannot change.

use crate::crypto::hex;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first event: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"testum-audit-v1";

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
    /// Hex SHA-256 of the event before, or [`GENESIS`].
    pub prev_hash: String,
    /// Hex SHA-256 of this event (see the module docs).
    pub hash: String,
}

impl ChainedEvent {
    /// The hash this event's columns (all but `hash` itself) call for.
    pub fn expected_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(DOMAIN);
        field(&mut hasher, Some(&self.seq.to_be_bytes()));
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
            field(&mut hasher, text.map(|t| t.as_bytes()));
        }
        hex(&hasher.finalize())
    }
}

fn field(hasher: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        None => hasher.update([0u8]),
        Some(bytes) => {
            hasher.update([1u8]);
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
    }
}

/// The first place a chain is broken: the event, and what differs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at event seq {seq} (id {id}): {what}")]
pub struct ChainBreak {
    /// The event's `seq` (0 for an event that has none).
    pub seq: i64,
    pub id: String,
    /// What differs, in words, with the expected and found values.
    pub what: String,
}

/// The end of an intact chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Events in the chain.
    pub count: u64,
    /// Hash of the last event ([`GENESIS`] when there is none).
    pub hash: String,
}

/// Checks events one by one in `seq` order, remembering only the previous hash.
#[derive(Debug, Clone)]
pub struct ChainWalker {
    head: ChainHead,
}

impl Default for ChainWalker {
    fn default() -> Self {
        ChainWalker {
            head: ChainHead {
                count: 0,
                hash: GENESIS.to_string(),
            },
        }
    }
}

impl ChainWalker {
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
        let expected = event.expected_hash();
        if event.hash != expected {
            return Err(broken(format!(
                "stored hash {} but its columns hash to {expected}: the row was edited after it \
                 was written",
                event.hash
            )));
        }
        self.head.count += 1;
        self.head.hash = expected;
        Ok(())
    }

    /// The chain so far.
    pub fn head(&self) -> &ChainHead {
        &self.head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainedEvent> {
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
                    hash: String::new(),
                };
                event.hash = event.expected_hash();
                prev = event.hash.clone();
                event
            })
            .collect()
    }

    fn walk(events: &[ChainedEvent]) -> Result<ChainHead, ChainBreak> {
        let mut walker = ChainWalker::default();
        for event in events {
            walker.check(event)?;
        }
        Ok(walker.head().clone())
    }

    #[test]
    fn intact_chain_reports_count_and_head() {
        let events = chain(4);
        let head = walk(&events).unwrap();
        assert_eq!(head.count, 4);
        assert_eq!(head.hash, events[3].hash);
        assert_eq!(walk(&[]).unwrap().hash, GENESIS);
    }

    #[test]
    fn an_edited_column_names_the_event() {
        let mut events = chain(4);
        events[2].details = r#"{"edited":true}"#.into();
        let err = walk(&events).unwrap_err();
        assert_eq!((err.seq, err.id.as_str()), (3, "id-3"));
        assert!(err.what.contains("edited"), "{}", err.what);
    }

    #[test]
    fn a_removed_event_is_found() {
        let mut events = chain(4);
        events.remove(1);
        let err = walk(&events).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.what.contains("expected seq 2"), "{}", err.what);
    }

    #[test]
    fn length_prefixes_keep_column_boundaries() {
        let mut a = chain(1).remove(0);
        let mut b = a.clone();
        a.actor = "ab".into();
        a.action = "c".into();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(a.expected_hash(), b.expected_hash());
        let mut none = a.clone();
        none.target = None;
        let mut empty = a.clone();
        empty.target = Some(String::new());
        assert_ne!(none.expected_hash(), empty.expected_hash());
    }
}
