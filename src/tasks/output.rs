//! The output chunker: takes `(stream, bytes)` as the SSH engine reads them and stores chunks of
//! exact bytes, cut so that no UTF-8 character is split across chunks (so each chunk renders on
//! its own), flushing at 16 KiB or 50 ms after the first unflushed byte, whichever comes first.
//! At most `limit` bytes are kept per target; the rest is read (so the command is never blocked)
//! and dropped, and one note on stderr says so.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::ssh::Stream;
use crate::store::{Store, StoreResult};

use super::EventBus;

const FLUSH_BYTES: usize = 16 * 1024;
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// Length of the longest prefix of `buf` that does not end inside a UTF-8 character: what is
/// left (at most 3 bytes) is the start of a character whose remaining bytes have not arrived.
/// Invalid bytes count as complete (they are shown as U+FFFD and kept exactly in the store).
pub fn utf8_boundary(buf: &[u8]) -> usize {
    let n = buf.len();
    for back in 1..=n.min(3) {
        let byte = buf[n - back];
        if byte & 0xC0 == 0x80 {
            continue; // continuation byte: look further back for the lead
        }
        let width = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        return if width > back { n - back } else { n };
    }
    n
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// Where one target's output goes: the task's event log, then a wake-up for subscribers.
struct Sink {
    store: Store,
    bus: EventBus,
    task: Uuid,
    platform: Uuid,
    /// Bytes kept so far, and the most that may be.
    kept: u64,
    limit: u64,
}

impl Sink {
    /// Store what `buf` holds up to its last complete character (everything when `last`).
    async fn flush(&mut self, stream: Stream, buf: &mut Vec<u8>, last: bool) -> StoreResult<()> {
        let mut cut = if last { buf.len() } else { utf8_boundary(buf) };
        if cut == 0 {
            return Ok(());
        }
        let room = self.limit.saturating_sub(self.kept);
        if room == 0 {
            buf.drain(..cut);
            return Ok(());
        }
        let truncated = cut as u64 > room;
        if truncated {
            cut = utf8_boundary(&buf[..room as usize]);
        }
        if cut > 0 {
            self.store
                .append_output(self.task, self.platform, stream_name(stream), &buf[..cut])
                .await?;
        }
        self.kept += cut as u64;
        if truncated {
            self.kept = self.limit;
            buf.clear();
            let note = format!(
                "\n[testum: output limit of {} bytes reached; further output is not kept]\n",
                self.limit
            );
            self.store
                .append_output(self.task, self.platform, "stderr", note.as_bytes())
                .await?;
        } else {
            buf.drain(..cut);
        }
        self.bus.notify(self.task);
        Ok(())
    }

    async fn flush_all(&mut self, pending: &mut [Vec<u8>; 2], last: bool) -> StoreResult<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.flush(stream, &mut pending[stream as usize], last)
                .await?;
        }
        Ok(())
    }
}

/// Store what is received on `rx` as output of (`task`, `platform`), at most `limit` bytes, until
/// the sender closes; wakes subscribers after each stored chunk.
pub async fn store_output(
    store: Store,
    bus: EventBus,
    task: Uuid,
    platform: Uuid,
    limit: u64,
    mut rx: mpsc::Receiver<(Stream, Bytes)>,
) -> StoreResult<()> {
    let mut sink = Sink {
        store,
        bus,
        task,
        platform,
        kept: 0,
        limit,
    };
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut deadline: Option<Instant> = None;
    loop {
        let received = match deadline {
            Some(at) => tokio::select! {
                r = rx.recv() => Some(r),
                _ = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        match received {
            Some(Some((stream, data))) => {
                let buf = &mut pending[stream as usize];
                buf.extend_from_slice(&data);
                if buf.len() >= FLUSH_BYTES {
                    sink.flush(stream, buf, false).await?;
                }
                if deadline.is_none() {
                    deadline = Some(Instant::now() + FLUSH_AFTER);
                }
            }
            Some(None) => return sink.flush_all(&mut pending, true).await,
            None => {
                sink.flush_all(&mut pending, false).await?;
                deadline = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utf8_boundary;

    #[test]
    fn boundary_never_splits_a_character() {
        let text = "aé€😀z".as_bytes();
        for end in 0..=text.len() {
            let cut = utf8_boundary(&text[..end]);
            assert!(
                std::str::from_utf8(&text[..cut]).is_ok(),
                "cut {cut} of {end}"
            );
            assert!(end - cut <= 3);
            // Nothing is held back once the character is complete.
            if std::str::from_utf8(&text[..end]).is_ok() {
                assert_eq!(cut, end);
            }
        }
    }

    #[test]
    fn invalid_bytes_are_not_held_back() {
        assert_eq!(utf8_boundary(b"ab\xff"), 3);
        assert_eq!(utf8_boundary(b"ab\x80\x80\x80"), 5);
        assert_eq!(utf8_boundary(b"ab\xc0"), 3);
    }
}
