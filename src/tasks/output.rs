//! The output chunker: takes `(stream, bytes)` as the SSH engine reads them and hands chunks of
//! exact bytes to the worker's [`OutputWriter`], cut so that no UTF-8 character is split across
//! chunks (so each chunk renders on its own), flushing at 32 KiB or 50 ms after the first
//! unflushed byte, whichever comes first. At most `limit` bytes are kept per target, and the
//! writer keeps at most its cap per task; the rest is read (so the command is never blocked) and
//! dropped, and one note on the target's stderr says which limit was reached.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::ssh::Stream;
use crate::store::{OutputChunk, Store};

use super::EventBus;
use super::writer::{OutputWriter, WriteFailed};

const FLUSH_BYTES: usize = 32 * 1024;
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

/// One target's output on its way to the store: where it goes, and how much was kept.
struct Sink {
    target: OutputTarget,
    /// Bytes kept so far (at most `target.limit`).
    kept: u64,
    /// Set once a limit was reached: nothing more is kept.
    full: bool,
}

impl Sink {
    /// Store what `buf` holds up to its last complete character (everything when `last`).
    async fn flush(
        &mut self,
        stream: Stream,
        buf: &mut Vec<u8>,
        last: bool,
    ) -> Result<(), WriteFailed> {
        let mut cut = if last { buf.len() } else { utf8_boundary(buf) };
        if cut == 0 {
            return Ok(());
        }
        if self.full {
            buf.drain(..cut);
            return Ok(());
        }
        let room = self.target.limit - self.kept;
        let over_target_limit = cut as u64 > room;
        if over_target_limit {
            cut = utf8_boundary(&buf[..room as usize]);
        }
        let mut stored = 0;
        if cut > 0 {
            let chunk = OutputChunk {
                task_id: self.target.task,
                platform_id: self.target.platform,
                stream: stream_name(stream),
                data: buf[..cut].to_vec(),
            };
            stored = self.target.writer.write(chunk).await?;
            self.kept += stored;
        }
        if stored < cut as u64 {
            self.stop(
                "the task's output limit (TESTUM_MAX_TASK_OUTPUT_BYTES) was reached; further \
                 output of this host is not kept",
            )
            .await;
        } else if over_target_limit {
            self.stop(&format!(
                "output limit of {} bytes reached (TESTUM_MAX_OUTPUT_BYTES); further output is \
                 not kept",
                self.target.limit
            ))
            .await;
        }
        if self.full {
            buf.clear();
        } else {
            buf.drain(..cut);
        }
        Ok(())
    }

    /// Keep nothing more, and say why on the target's stderr (outside the caps: a note).
    async fn stop(&mut self, why: &str) {
        self.full = true;
        let note = format!("\n[testum: {why}]\n");
        match self
            .target
            .store
            .append_output(
                self.target.task,
                self.target.platform,
                "stderr",
                note.as_bytes(),
            )
            .await
        {
            Ok(_) => {
                self.target.writer.count_stored(
                    self.target.task,
                    self.target.platform,
                    "stderr",
                    note.as_bytes(),
                );
                self.target.bus.notify(self.target.task);
            }
            Err(e) => tracing::error!(error = %e, "storing an output note failed"),
        }
    }

    async fn flush_all(
        &mut self,
        pending: &mut [Vec<u8>; 2],
        last: bool,
    ) -> Result<(), WriteFailed> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.flush(stream, &mut pending[stream as usize], last)
                .await?;
        }
        Ok(())
    }
}

/// Where [`store_output`] sends a target's output: chunks to the writer (batched into the task's
/// event log), notes about limits straight to the store.
pub struct OutputTarget {
    pub writer: OutputWriter,
    pub store: Store,
    pub bus: EventBus,
    pub task: Uuid,
    pub platform: Uuid,
    /// Most bytes kept for this target.
    pub limit: u64,
}

/// Store what is received on `rx` as output of the target, at most `target.limit` bytes (and
/// within the writer's per-task cap), until the sender closes.
pub async fn store_output(
    target: OutputTarget,
    mut rx: mpsc::Receiver<(Stream, Bytes)>,
) -> Result<(), WriteFailed> {
    let mut sink = Sink {
        target,
        kept: 0,
        full: false,
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
