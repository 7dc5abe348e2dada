//! The index of one archive segment (format 2): which output events a segment object holds and
//! where. Stored in the `entries` column of `archive_segments`, next to the segment's object key
//! and size, so a reader learns every byte range it needs from the database and then fetches only
//! those ranges from the object store.
//!
//! Binary, little-endian:
//!
//! ```text
//! b"TSX1"
//! u16 P, then P platform ids (16 bytes each)
//! u16 S, then S streams (u16 length + UTF-8 bytes each)
//! u32 N, then N entries of 16 bytes: i64 seq, u32 length, u16 platform, u16 stream
//! ```
//!
//! `platform` and `stream` index the tables before them (`0xFFFF`: none). Entries are in strictly
//! ascending seq; the segment object is their bytes concatenated in that order, so an entry's
//! offset is the sum of the lengths before it and the lengths add up to the object's size.
//! 16 bytes per entry: a 4 MiB segment of 16 KiB chunks has a 4 KiB index.

use std::ops::Range;

use uuid::Uuid;

use super::FormatError;

const MAGIC: &[u8; 4] = b"TSX1";
const NONE: u16 = u16::MAX;
/// Most entries in one segment (a 1 MiB index), whatever their size.
pub const MAX_ENTRIES: usize = 65_536;

/// One output event of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub platform_id: Option<Uuid>,
    /// `stdout` or `stderr` as the database held it.
    pub stream: Option<String>,
    /// Where its bytes are in the segment object.
    pub range: Range<u64>,
}

/// Builds the index of a segment as its events are appended.
#[derive(Debug, Default)]
pub struct IndexBuilder {
    platforms: Vec<Uuid>,
    streams: Vec<String>,
    /// (seq, length, platform, stream) per entry.
    entries: Vec<(i64, u32, u16, u16)>,
    size: u64,
}

/// Position of `value` in `table`, added when missing; `NONE` when the table is full.
fn slot<T: PartialEq + Clone>(table: &mut Vec<T>, value: &T) -> u16 {
    match table.iter().position(|v| v == value) {
        Some(i) => i as u16,
        None if table.len() < usize::from(NONE) => {
            table.push(value.clone());
            (table.len() - 1) as u16
        }
        None => NONE,
    }
}

impl IndexBuilder {
    /// Record the next event (seq above every earlier one) of `len` bytes. Errors when a table
    /// is full (65 535 platforms or streams in one segment: the caller starts a new segment
    /// first, see [`IndexBuilder::has_room`]) or `len` exceeds 4 GiB.
    pub fn push(
        &mut self,
        seq: i64,
        platform_id: Option<Uuid>,
        stream: Option<&str>,
        len: usize,
    ) -> Result<(), FormatError> {
        let platform = match platform_id {
            Some(p) => slot(&mut self.platforms, &p),
            None => NONE,
        };
        let stream_slot = match stream {
            Some(s) => slot(&mut self.streams, &s.to_string()),
            None => NONE,
        };
        if (platform_id.is_some() && platform == NONE) || (stream.is_some() && stream_slot == NONE)
        {
            return Err(FormatError::Malformed(
                "too many platforms or streams in one segment".into(),
            ));
        }
        let len32 = u32::try_from(len)
            .map_err(|_| FormatError::Malformed(format!("event {seq} of {len} bytes")))?;
        self.entries.push((seq, len32, platform, stream_slot));
        self.size += u64::from(len32);
        Ok(())
    }

    /// Whether one more event fits (entry count, platform and stream tables).
    pub fn has_room(&self) -> bool {
        self.entries.len() < MAX_ENTRIES
            && self.platforms.len() < usize::from(NONE) - 1
            && self.streams.len() < usize::from(NONE) - 1
    }

    /// Events recorded so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of the events recorded so far (the segment object's size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The seqs of the first and the last event, when there is one.
    pub fn seq_span(&self) -> Option<(i64, i64)> {
        Some((self.entries.first()?.0, self.entries.last()?.0))
    }

    /// The binary index, and a fresh builder for the next segment.
    pub fn finish(&mut self) -> Vec<u8> {
        let this = std::mem::take(self);
        let mut out = Vec::with_capacity(
            12 + this.platforms.len() * 16 + this.streams.len() * 8 + this.entries.len() * 16,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(this.platforms.len() as u16).to_le_bytes());
        for platform in &this.platforms {
            out.extend_from_slice(platform.as_bytes());
        }
        out.extend_from_slice(&(this.streams.len() as u16).to_le_bytes());
        for stream in &this.streams {
            out.extend_from_slice(&(stream.len() as u16).to_le_bytes());
            out.extend_from_slice(stream.as_bytes());
        }
        out.extend_from_slice(&(this.entries.len() as u32).to_le_bytes());
        for (seq, len, platform, stream) in &this.entries {
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&platform.to_le_bytes());
            out.extend_from_slice(&stream.to_le_bytes());
        }
        out
    }
}

/// Reads the fields of an index one after the other.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.bytes.len() < n {
            return Err(FormatError::Malformed("segment index is truncated".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Decode the index of a segment object of `size` bytes into its entries, in seq order. Fails on
/// another magic, a truncated or overlong index, seqs not strictly ascending, a dangling platform
/// or stream, or lengths that do not add up to `size`.
pub fn decode(bytes: &[u8], size: u64) -> Result<Vec<Entry>, FormatError> {
    let bad = |what: &str| FormatError::Malformed(format!("segment index: {what}"));
    let mut r = Reader { bytes };
    if r.take(4)? != MAGIC {
        return Err(bad("unknown format"));
    }
    let platforms = (0..u16::from_le_bytes(r.array()?))
        .map(|_| r.array::<16>().map(Uuid::from_bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let mut streams = Vec::new();
    for _ in 0..u16::from_le_bytes(r.array()?) {
        let len = u16::from_le_bytes(r.array()?);
        let text = std::str::from_utf8(r.take(usize::from(len))?).map_err(|_| bad("stream"))?;
        streams.push(text.to_string());
    }
    let count = u32::from_le_bytes(r.array()?) as usize;
    if r.bytes.len() != count * 16 {
        return Err(bad("entry count does not match its length"));
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(count);
    let mut offset = 0u64;
    for _ in 0..count {
        let seq = i64::from_le_bytes(r.array()?);
        let len = u64::from(u32::from_le_bytes(r.array()?));
        let platform = u16::from_le_bytes(r.array()?);
        let stream = u16::from_le_bytes(r.array()?);
        if entries.last().is_some_and(|e| e.seq >= seq) {
            return Err(bad("seqs out of order"));
        }
        let lookup = |i: u16, n: usize| (i != NONE).then_some(usize::from(i)).filter(|i| *i < n);
        if (platform != NONE && lookup(platform, platforms.len()).is_none())
            || (stream != NONE && lookup(stream, streams.len()).is_none())
        {
            return Err(bad("dangling platform or stream"));
        }
        entries.push(Entry {
            seq,
            platform_id: lookup(platform, platforms.len()).map(|i| platforms[i]),
            stream: lookup(stream, streams.len()).map(|i| streams[i].clone()),
            range: offset..offset + len,
        });
        offset += len;
    }
    if offset != size {
        return Err(bad("lengths do not add up to the segment's size"));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_offsets() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut index = IndexBuilder::default();
        index.push(3, Some(a), Some("stdout"), 10).unwrap();
        index.push(4, Some(b), Some("stderr"), 0).unwrap();
        index.push(7, Some(a), Some("stderr"), 5).unwrap();
        index.push(9, None, None, 1).unwrap();
        assert_eq!((index.len(), index.size()), (4, 16));
        assert_eq!(index.seq_span(), Some((3, 9)));
        let bytes = index.finish();
        assert!(index.is_empty(), "finish starts a fresh builder");
        let entries = decode(&bytes, 16).unwrap();
        let seen: Vec<_> = entries
            .iter()
            .map(|e| (e.seq, e.platform_id, e.stream.as_deref(), e.range.clone()))
            .collect();
        assert_eq!(
            seen,
            [
                (3, Some(a), Some("stdout"), 0..10),
                (4, Some(b), Some("stderr"), 10..10),
                (7, Some(a), Some("stderr"), 10..15),
                (9, None, None, 15..16),
            ]
        );
        // Two platforms and two streams, each stored once: 16 bytes per entry beyond the tables.
        assert_eq!(bytes.len(), 4 + 2 + 32 + 2 + 8 + 8 + 4 + 4 * 16);
    }

    #[test]
    fn damage_is_refused() {
        let mut index = IndexBuilder::default();
        index
            .push(1, Some(Uuid::new_v4()), Some("stdout"), 4)
            .unwrap();
        index
            .push(2, Some(Uuid::new_v4()), Some("stdout"), 4)
            .unwrap();
        let bytes = index.finish();
        assert!(decode(&bytes, 8).is_ok());
        assert!(decode(&bytes, 9).is_err(), "size mismatch");
        assert!(decode(&bytes[..bytes.len() - 1], 8).is_err(), "truncated");
        assert!(decode(b"XXXX", 0).is_err(), "magic");
        let mut swapped = bytes.clone();
        let first = bytes.len() - 32;
        swapped[first..first + 8].copy_from_slice(&5i64.to_le_bytes());
        assert!(decode(&swapped, 8).is_err(), "seqs out of order");
        let mut dangling = bytes.clone();
        dangling[first + 12..first + 14].copy_from_slice(&9u16.to_le_bytes());
        assert!(decode(&dangling, 8).is_err(), "dangling platform");
        let empty = IndexBuilder::default().finish();
        assert!(decode(&empty, 0).unwrap().is_empty());
    }
}
