//! Reading a task's events, wherever they are, a bounded page at a time: the one reading path of
//! the API (JSON pages, raw download) and the WebSocket.
//!
//! A page is at most `limit` events and about [`PAGE_BYTES`] of data (at least one event). For a
//! task archived in format 2 it costs: one page query on `task_events` (the events still in the
//! database: `target`, `done`, and any output appended after the move), one query on
//! `archive_segments` for the segments ending after `after_seq` (a batch of a few, with their
//! indexes), and one ranged read per segment the page touches (adjacent events are one range).
//! Nothing else of the archive is fetched.
//!
//! Race: the rows of an archived task are deleted in the transaction that sets its archived
//! flag. So the database is read first and the flag after: when the flag is still unset, that
//! read happened before the move and is complete; when it is set (before, or just now), the
//! output is read from the archive and merged by seq with the events still in the database, read
//! again after the flag. Retention works the same way: its flag and its deletion are one
//! transaction.

use std::collections::BTreeMap;
use std::ops::Range;

use uuid::Uuid;

use super::index::{self, Entry};
use super::{ArchiveError, OutputArchive};
use crate::store::{EventKind, EventScope, OutputLocation, PageQuery, Store, TaskEvent};

/// About the most bytes of output one page holds (8 MiB; a single larger event is a page of its
/// own).
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Segments read per index query.
const SEGMENTS_PER_QUERY: u32 = 8;

/// A page of a task's events.
#[derive(Debug, Clone, Default)]
pub struct OutputPage {
    /// In seq order, exact bytes.
    pub events: Vec<TaskEvent>,
    /// More events may follow the last one (the page stopped at `limit` or at [`PAGE_BYTES`]);
    /// `false`: these were all the events after `after` for now.
    pub more: bool,
    /// Retention deleted the task's output: `events` holds only what is left (target changes,
    /// done).
    pub output_expired: bool,
}

/// Up to `limit` events of task `task` with `seq > after` (output, target changes, done), in
/// seq order, bounded by [`PAGE_BYTES`]: the same whether the output is still in the database,
/// archived (format 2 or 1), or being archived right now.
pub async fn events_after(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    after: i64,
    limit: u32,
) -> Result<OutputPage, ArchiveError> {
    read_scope(store, archive, task, EventScope::All, after, limit).await
}

/// Like [`events_after`], but only the output events of `platform_id`'s `stream` (`stdout` or
/// `stderr`), filtered at the source: a filtered database query, and index entries filtered
/// before any object is read.
pub async fn output_after(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    platform_id: Uuid,
    stream: &str,
    after: i64,
    limit: u32,
) -> Result<OutputPage, ArchiveError> {
    let scope = EventScope::Stream {
        platform_id,
        stream,
    };
    read_scope(store, archive, task, scope, after, limit).await
}

/// Like [`events_after`], but only the output events of `platform_id` (both streams, in seq
/// order), filtered at the source like [`output_after`].
pub async fn platform_output_after(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    platform_id: Uuid,
    after: i64,
    limit: u32,
) -> Result<OutputPage, ArchiveError> {
    let scope = EventScope::Platform(platform_id);
    read_scope(store, archive, task, scope, after, limit).await
}

/// A page of the events of `scope` (at most `limit` after `after`, about [`PAGE_BYTES`]),
/// filtered at the source like [`output_after`].
pub async fn read_scope(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    scope: EventScope<'_>,
    after: i64,
    limit: u32,
) -> Result<OutputPage, ArchiveError> {
    let query = PageQuery {
        after,
        limit,
        max_bytes: PAGE_BYTES,
        scope,
    };
    read(store, archive, task, &query).await
}

async fn read(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    query: &PageQuery<'_>,
) -> Result<OutputPage, ArchiveError> {
    let first = store.events_page(task, query).await?;
    let location = store.output_location(task).await?;
    match location {
        OutputLocation::Database => {
            return Ok(OutputPage {
                events: first.events,
                more: first.more,
                output_expired: false,
            });
        }
        OutputLocation::Expired => {
            let left = store.events_page(task, query).await?;
            return Ok(OutputPage {
                events: left.events,
                more: left.more,
                output_expired: true,
            });
        }
        OutputLocation::ArchivedV1 | OutputLocation::Archived { .. } => {}
    }
    let live = store.events_page(task, query).await?;
    let live = Side {
        items: live.events.into_iter().map(Candidate::Live).collect(),
        more: live.more,
    };
    let (segments, stored) = match location {
        OutputLocation::Archived { run } => stored_candidates(store, task, run, query).await?,
        _ => (Vec::new(), v1_candidates(archive, task, query).await?),
    };
    let (picked, more) = merge(stored, live, query.limit as usize, query.max_bytes);
    Ok(OutputPage {
        events: fetch(archive, task, &segments, picked).await?,
        more,
        output_expired: false,
    })
}

/// An event a page may hold: read from the database (or a format-1 object) with its bytes, or
/// known from a segment index, its bytes still in segment `segment`.
#[derive(Debug)]
enum Candidate {
    Live(TaskEvent),
    Stored { segment: usize, entry: Entry },
}

impl Candidate {
    fn seq(&self) -> i64 {
        match self {
            Candidate::Live(event) => event.seq,
            Candidate::Stored { entry, .. } => entry.seq,
        }
    }

    fn len(&self) -> usize {
        match self {
            Candidate::Live(event) => event.data.len(),
            Candidate::Stored { entry, .. } => (entry.range.end - entry.range.start) as usize,
        }
    }
}

/// Candidates from one source in seq order; `more`: the source holds more after the last.
#[derive(Debug, Default)]
struct Side {
    items: Vec<Candidate>,
    more: bool,
}

/// Whether an archived output event belongs to `scope`.
fn in_scope(
    scope: &EventScope<'_>,
    seq: i64,
    platform: Option<Uuid>,
    stream: Option<&str>,
) -> bool {
    match *scope {
        EventScope::All => true,
        EventScope::OutputThrough(through) => seq <= through,
        EventScope::Stream {
            platform_id,
            stream: wanted,
        } => platform == Some(platform_id) && stream == Some(wanted),
        // Output events carry a stream; target events are never archived, but say it anyway.
        EventScope::Platform(platform_id) => platform == Some(platform_id) && stream.is_some(),
        EventScope::NoOutput => stream.is_none(),
        EventScope::OutputOf(platform_id) => stream.is_none() || platform == Some(platform_id),
    }
}

/// The archived events of a page from the segment indexes of run `run`: at most `limit`, about
/// `max_bytes`, and the object keys of the segments they are in (indexed by
/// `Candidate::Stored::segment`).
async fn stored_candidates(
    store: &Store,
    task: Uuid,
    run: Uuid,
    query: &PageQuery<'_>,
) -> Result<(Vec<String>, Side), ArchiveError> {
    let mut segments = Vec::new();
    let mut items = Vec::new();
    let mut bytes = 0usize;
    let mut cursor = query.after;
    loop {
        let batch = store
            .archive_segments_after(task, run, cursor, SEGMENTS_PER_QUERY)
            .await?;
        if batch.is_empty() {
            return Ok((segments, Side { items, more: false }));
        }
        for segment in batch {
            cursor = segment.last_seq;
            let mut used = false;
            for entry in index::decode(&segment.entries, segment.size)? {
                let wanted = entry.seq > query.after
                    && in_scope(
                        &query.scope,
                        entry.seq,
                        entry.platform_id,
                        entry.stream.as_deref(),
                    );
                if !wanted {
                    continue;
                }
                let len = (entry.range.end - entry.range.start) as usize;
                if items.len() == query.limit as usize
                    || (!items.is_empty() && bytes + len > query.max_bytes)
                {
                    return Ok((segments, Side { items, more: true }));
                }
                if !used {
                    segments.push(segment.object.clone());
                    used = true;
                }
                bytes += len;
                items.push(Candidate::Stored {
                    segment: segments.len() - 1,
                    entry,
                });
            }
        }
    }
}

/// The archived events of a page from a format-1 object (read whole: the old format has no
/// index).
async fn v1_candidates(
    archive: &OutputArchive,
    task: Uuid,
    query: &PageQuery<'_>,
) -> Result<Side, ArchiveError> {
    let items = archive
        .load_v1(task)
        .await?
        .into_iter()
        .filter(|e| {
            e.seq > query.after && in_scope(&query.scope, e.seq, e.platform_id, e.stream.as_deref())
        })
        .map(Candidate::Live)
        .collect();
    Ok(Side { items, more: false })
}

/// The first events by seq of two seq-ordered sources (one per seq; the live one wins a tie), at
/// most `limit` and about `max_bytes` (at least one). A source that runs out while it has more
/// ends the page (what it holds next is unknown). Returns the events and whether more may
/// follow.
fn merge(stored: Side, live: Side, limit: usize, max_bytes: usize) -> (Vec<Candidate>, bool) {
    let mut picked = Vec::new();
    let mut bytes = 0usize;
    let mut a = stored.items.into_iter().peekable();
    let mut b = live.items.into_iter().peekable();
    loop {
        if picked.len() >= limit {
            return (picked, true);
        }
        let from_stored = match (a.peek(), b.peek()) {
            (None, _) if stored.more => return (picked, true),
            (_, None) if live.more => return (picked, true),
            (None, None) => return (picked, false),
            (Some(x), Some(y)) if x.seq() == y.seq() => {
                a.next();
                continue;
            }
            (Some(x), Some(y)) => x.seq() < y.seq(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
        };
        let source = if from_stored { &mut a } else { &mut b };
        let len = source.peek().map(Candidate::len).unwrap_or(0);
        if !picked.is_empty() && bytes + len > max_bytes {
            return (picked, true);
        }
        bytes += len;
        picked.extend(source.next());
    }
}

/// The events of `picked`, with the bytes of archived ones read from their segments: per
/// segment, one ranged read per run of adjacent events (the object store may merge nearby runs
/// into one request).
async fn fetch(
    archive: &OutputArchive,
    task: Uuid,
    segments: &[String],
    picked: Vec<Candidate>,
) -> Result<Vec<TaskEvent>, ArchiveError> {
    let mut events = Vec::with_capacity(picked.len());
    let mut wanted: BTreeMap<usize, Vec<(usize, Range<u64>)>> = BTreeMap::new();
    for candidate in picked {
        match candidate {
            Candidate::Live(event) => events.push(event),
            Candidate::Stored { segment, entry } => {
                if !entry.range.is_empty() {
                    wanted
                        .entry(segment)
                        .or_default()
                        .push((events.len(), entry.range));
                }
                events.push(TaskEvent {
                    seq: entry.seq,
                    kind: EventKind::Output,
                    platform_id: entry.platform_id,
                    stream: entry.stream,
                    data: Vec::new(),
                });
            }
        }
    }
    for (segment, parts) in wanted {
        let spans = coalesce(parts.iter().map(|(_, range)| range.clone()));
        let key = segments.get(segment).ok_or(ArchiveError::Missing(task))?;
        let buffers = archive.get_ranges(task, key, &spans).await?;
        let mut span = 0;
        for (position, range) in parts {
            while spans.get(span).is_some_and(|s| s.end < range.end) {
                span += 1;
            }
            let base = spans.get(span).map_or(0, |s| s.start);
            let (start, end) = ((range.start - base) as usize, (range.end - base) as usize);
            let data = buffers
                .get(span)
                .and_then(|buffer| buffer.get(start..end))
                .ok_or(ArchiveError::Missing(task))?;
            events[position].data = data.to_vec();
        }
    }
    Ok(events)
}

/// Ascending, non-overlapping `ranges` with adjacent ones joined.
fn coalesce(ranges: impl Iterator<Item = Range<u64>>) -> Vec<Range<u64>> {
    let mut spans: Vec<Range<u64>> = Vec::new();
    for range in ranges {
        match spans.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => spans.push(range),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(seq: i64, len: usize) -> Candidate {
        Candidate::Live(TaskEvent {
            seq,
            kind: EventKind::Target,
            platform_id: None,
            stream: None,
            data: vec![b'x'; len],
        })
    }

    fn stored(seq: i64, at: u64, len: u64) -> Candidate {
        Candidate::Stored {
            segment: 0,
            entry: Entry {
                seq,
                platform_id: None,
                stream: None,
                range: at..at + len,
            },
        }
    }

    fn side(items: Vec<Candidate>, more: bool) -> Side {
        Side { items, more }
    }

    fn seqs(picked: &(Vec<Candidate>, bool)) -> (Vec<i64>, bool) {
        (picked.0.iter().map(Candidate::seq).collect(), picked.1)
    }

    #[test]
    fn merge_orders_by_seq_and_pages() {
        let a = || {
            side(
                vec![stored(1, 0, 1), stored(2, 1, 1), stored(4, 2, 1)],
                false,
            )
        };
        let b = || side(vec![live(3, 1), live(5, 1)], false);
        assert_eq!(
            seqs(&merge(a(), b(), 10, 100)),
            (vec![1, 2, 3, 4, 5], false)
        );
        assert_eq!(seqs(&merge(a(), b(), 2, 100)), (vec![1, 2], true));
        assert_eq!(
            seqs(&merge(a(), side(vec![], false), 10, 100)),
            (vec![1, 2, 4], false)
        );
        // A tie keeps one event, the live one.
        let tie = merge(side(vec![stored(3, 0, 1)], false), b(), 10, 100);
        assert_eq!(seqs(&tie), (vec![3, 5], false));
        assert!(matches!(tie.0[0], Candidate::Live(_)));
    }

    #[test]
    fn merge_caps_bytes_but_always_moves_on() {
        let a = || {
            side(
                vec![stored(1, 0, 6), stored(2, 6, 6), stored(3, 12, 6)],
                false,
            )
        };
        assert_eq!(
            seqs(&merge(a(), side(vec![], false), 10, 12)),
            (vec![1, 2], true)
        );
        assert_eq!(
            seqs(&merge(a(), side(vec![], false), 10, 1)),
            (vec![1], true)
        );
    }

    #[test]
    fn a_source_with_more_that_runs_out_ends_the_page() {
        // The archive side stopped at seq 2 (its next event, unknown, may be seq 4): live seq 5
        // must not be returned before it; the next page goes on from seq 2.
        let a = side(vec![stored(1, 0, 1), stored(2, 1, 1)], true);
        let b = side(vec![live(3, 1), live(5, 1)], false);
        assert_eq!(seqs(&merge(a, b, 10, 100)), (vec![1, 2], true));
        let a = side(vec![stored(4, 0, 1)], false);
        let b = side(vec![live(3, 1)], true);
        assert_eq!(seqs(&merge(a, b, 10, 100)), (vec![3], true));
    }

    #[test]
    fn adjacent_ranges_are_one_read() {
        assert_eq!(
            coalesce([0..4, 4..9, 12..13, 13..20].into_iter()),
            vec![0..9, 12..20]
        );
        assert!(coalesce(std::iter::empty()).is_empty());
    }

    #[test]
    fn scope_filters_archived_entries() {
        let p = Uuid::new_v4();
        let stream = EventScope::Stream {
            platform_id: p,
            stream: "stdout",
        };
        assert!(in_scope(&stream, 1, Some(p), Some("stdout")));
        assert!(!in_scope(&stream, 1, Some(p), Some("stderr")));
        assert!(!in_scope(&stream, 1, Some(Uuid::new_v4()), Some("stdout")));
        assert!(in_scope(&EventScope::OutputThrough(5), 5, None, None));
        assert!(in_scope(
            &EventScope::Platform(p),
            1,
            Some(p),
            Some("stderr")
        ));
        assert!(!in_scope(
            &EventScope::Platform(p),
            1,
            Some(Uuid::new_v4()),
            Some("stdout")
        ));
        assert!(!in_scope(&EventScope::Platform(p), 1, Some(p), None));
        assert!(in_scope(&EventScope::NoOutput, 1, Some(p), None));
        assert!(!in_scope(&EventScope::NoOutput, 1, Some(p), Some("stdout")));
        let other = Some(Uuid::new_v4());
        assert!(in_scope(&EventScope::OutputOf(p), 1, other, None));
        assert!(in_scope(
            &EventScope::OutputOf(p),
            1,
            Some(p),
            Some("stdout")
        ));
        assert!(!in_scope(
            &EventScope::OutputOf(p),
            1,
            other,
            Some("stdout")
        ));
        assert!(!in_scope(&EventScope::OutputThrough(5), 6, None, None));
    }
}
