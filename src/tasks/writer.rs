//! The output writer of a worker: one task that stores the output chunks of every running target
//! in batches ([`Store::append_outputs`]), so fast output from hundreds of hosts costs a few
//! multi-row transactions a second instead of one transaction per chunk.
//!
//! Each target's chunker waits for its chunk to be stored before it sends the next one, so a
//! target has at most one chunk in flight: memory stays bounded by the number of running targets
//! (not by output size), and a database slower than the hosts slows the commands' output through
//! the SSH window instead of growing buffers. Chunks that wait while a batch is written form the
//! next batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::store::{OutputChunk, Store, StoreResult};

use super::EventBus;

/// Most bytes, and most chunks, one batch writes.
const BATCH_BYTES: usize = 4 * 1024 * 1024;
const BATCH_CHUNKS: usize = 512;

/// Why a chunk was not stored, in words for the target's warning (the store's own error is in
/// the worker's log, never here).
#[derive(Debug, thiserror::Error)]
#[error("storing output failed: {0}")]
pub struct WriteFailed(String);

struct Pending {
    chunk: OutputChunk,
    stored: oneshot::Sender<Result<u64, WriteFailed>>,
}

/// The running digest of one target's stored output: one SHA-256 per stream (how chunks of the
/// two streams interleave depends on timing, so they are hashed apart) and the bytes stored.
#[derive(Default)]
struct RunningDigest {
    stdout: Sha256,
    stderr: Sha256,
    bytes: u64,
}

impl RunningDigest {
    fn update(&mut self, stream: &str, data: &[u8]) {
        match stream {
            "stderr" => self.stderr.update(data),
            _ => self.stdout.update(data),
        }
        self.bytes += data.len() as u64;
    }

    /// `(hex SHA-256 of the stdout digest followed by the stderr digest, bytes)`.
    fn finish(self) -> (String, u64) {
        let mut both = Sha256::new();
        both.update(self.stdout.finalize());
        both.update(self.stderr.finalize());
        (crate::crypto::hex(&both.finalize()), self.bytes)
    }
}

/// Running digests by (task, platform): one entry per target with output, removed when the
/// target ends, so the map is bounded by the targets running on this worker.
type Digests = Arc<Mutex<HashMap<(Uuid, Uuid), RunningDigest>>>;

/// Handle to a worker's output writer; cheap to clone. The writer task ends when every handle is
/// dropped.
#[derive(Clone)]
pub struct OutputWriter {
    queue: mpsc::Sender<Pending>,
    digests: Digests,
}

impl OutputWriter {
    /// Start the writer: it stores chunks in `store`, keeps at most `task_cap` output bytes per
    /// task, and wakes `bus` subscribers of each task a batch touched.
    pub fn start(store: Store, bus: EventBus, task_cap: u64) -> OutputWriter {
        let (queue, received) = mpsc::channel(BATCH_CHUNKS);
        let digests = Digests::default();
        tokio::spawn(write_batches(
            store,
            bus,
            task_cap,
            received,
            digests.clone(),
        ));
        OutputWriter { queue, digests }
    }

    /// Count `data`, stored as `stream` of `platform` in `task` outside this writer (a note about
    /// a limit), in the target's output digest.
    pub fn count_stored(&self, task: Uuid, platform: Uuid, stream: &str, data: &[u8]) {
        count(&self.digests, task, platform, stream, data);
    }

    /// The digest of everything stored for `platform` in `task` (see
    /// [`crate::store::Target::output_digest`]) and its bytes; forgets the target. A target that
    /// stored nothing has the digest of empty output.
    pub fn take_digest(&self, task: Uuid, platform: Uuid) -> (String, u64) {
        let running = match self.digests.lock() {
            Ok(mut map) => map.remove(&(task, platform)),
            Err(poisoned) => poisoned.into_inner().remove(&(task, platform)),
        };
        running.unwrap_or_default().finish()
    }

    /// Store `chunk` and wait until it is committed. Returns the bytes kept: fewer than given
    /// once the task's output cap is reached (0 when nothing more is kept).
    pub async fn write(&self, chunk: OutputChunk) -> Result<u64, WriteFailed> {
        let (stored, answer) = oneshot::channel();
        let stopped = || WriteFailed("the output writer has stopped".into());
        self.queue
            .send(Pending { chunk, stored })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn count(digests: &Digests, task: Uuid, platform: Uuid, stream: &str, data: &[u8]) {
    let mut map = match digests.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    map.entry((task, platform))
        .or_default()
        .update(stream, data);
}

/// Pauses before the retries of a batch that failed (a busy SQLite file under load, a dropped
/// PostgreSQL connection): the batch is one transaction, so retrying it stores it exactly once.
const RETRY_AFTER: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

async fn append_with_retries(
    store: &Store,
    chunks: &[OutputChunk],
    task_cap: u64,
) -> StoreResult<Vec<u64>> {
    let mut result = store.append_outputs(chunks, task_cap).await;
    for pause in RETRY_AFTER {
        let Err(e) = &result else { break };
        tracing::warn!(error = %e, "storing output failed; retrying");
        tokio::time::sleep(pause).await;
        result = store.append_outputs(chunks, task_cap).await;
    }
    result
}

async fn write_batches(
    store: Store,
    bus: EventBus,
    task_cap: u64,
    mut received: mpsc::Receiver<Pending>,
    digests: Digests,
) {
    while let Some(first) = received.recv().await {
        let mut bytes = first.chunk.data.len();
        let mut batch = vec![first];
        while bytes < BATCH_BYTES && batch.len() < BATCH_CHUNKS {
            match received.try_recv() {
                Ok(next) => {
                    bytes += next.chunk.data.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let (chunks, answers): (Vec<OutputChunk>, Vec<_>) =
            batch.into_iter().map(|p| (p.chunk, p.stored)).unzip();
        match append_with_retries(&store, &chunks, task_cap).await {
            Ok(kept) => {
                let mut tasks: Vec<_> = chunks.iter().map(|c| c.task_id).collect();
                tasks.sort_unstable();
                tasks.dedup();
                for task in tasks {
                    bus.notify(task);
                }
                for ((answer, kept), chunk) in answers.into_iter().zip(kept).zip(&chunks) {
                    // What was kept is a prefix of the chunk.
                    let stored = chunk.data.get(..kept as usize).unwrap_or(&chunk.data);
                    count(
                        &digests,
                        chunk.task_id,
                        chunk.platform_id,
                        chunk.stream,
                        stored,
                    );
                    let _ = answer.send(Ok(kept));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, chunks = chunks.len(), "storing output failed");
                for answer in answers {
                    // The database's words are in the log line above; the target's warning
                    // says only what failed.
                    let _ = answer.send(Err(WriteFailed(
                        "internal database error; the worker's log has the details".into(),
                    )));
                }
            }
        }
    }
}
