//! Archiving an ended task's output in format 2 (see the module doc of `crate::archive` for the
//! layout and the order of steps): database pages in, segment objects out, one at a time.

use uuid::Uuid;

use super::index::IndexBuilder;
use super::{ArchiveError, OutputArchive};
use crate::store::{ArchiveSegment, EventScope, MarkArchived, PageQuery, Store, TaskEvent};

/// A segment object is closed once it holds this many bytes (4 MiB), or
/// [`super::index::MAX_ENTRIES`] events. One event larger than this is a segment of its own.
pub const SEGMENT_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of output read from the database per page while archiving (1 MiB; at least one row).
const READ_PAGE_BYTES: usize = 1024 * 1024;
/// Rows per database page while archiving.
const READ_PAGE_ROWS: u32 = 1000;

/// What [`archive_task`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// The output moved now: `events` output events (`bytes` bytes) written into `segments`
    /// objects, `deleted` rows removed from the database.
    Moved {
        events: u64,
        bytes: u64,
        segments: u64,
        deleted: u64,
    },
    /// It had been archived already; nothing changed.
    Already,
    /// The task has not ended, its output expired, or it does not exist; nothing changed.
    NotFinished,
}

/// How often [`archive_task`] starts again when events keep arriving.
const ATTEMPTS: usize = 5;

/// What one run wrote.
#[derive(Debug, Default)]
struct Written {
    events: u64,
    bytes: u64,
    segments: u64,
}

/// Move the output of finished task `task` from the database into `archive`, in bounded memory
/// (about one segment and one database page). Idempotent; never touches a task that has not
/// ended. Errors leave the output in the database, where readers still find it.
pub async fn archive_task(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
) -> Result<Archived, ArchiveError> {
    for _ in 0..ATTEMPTS {
        let Some(state) = store.task_archive_state(task).await? else {
            return Ok(Archived::NotFinished);
        };
        if state.archived {
            return Ok(Archived::Already);
        }
        if !state.finished || state.expired {
            return Ok(Archived::NotFinished);
        }
        let run = Uuid::new_v4();
        let written = match write_segments(store, archive, task, run, state.last_seq).await {
            Ok(written) => written,
            Err(e) => {
                discard(store, archive, task, run).await;
                return Err(e);
            }
        };
        // An error here may hide a commit: the run's objects are left alone (the worst case is
        // objects no row points at, removed with the task's output by retention).
        let outcome = store.mark_archived(task, state.last_seq, run).await?;
        if let MarkArchived::Archived { deleted } = outcome {
            // Runs that lost (or crashed) may have left objects: not needed by anyone now.
            let dir = OutputArchive::task_dir_key(task);
            let keep = OutputArchive::run_key(task, run);
            if let Err(e) = archive.delete_below(&dir, Some(&keep)).await {
                tracing::warn!(task = %task, error = %e, "removing stale archive objects failed");
            }
            return Ok(Archived::Moved {
                events: written.events,
                bytes: written.bytes,
                segments: written.segments,
                deleted,
            });
        }
        discard(store, archive, task, run).await;
        match outcome {
            MarkArchived::AlreadyArchived => return Ok(Archived::Already),
            MarkArchived::NotFinished => return Ok(Archived::NotFinished),
            MarkArchived::Changed | MarkArchived::Archived { .. } => continue,
        }
    }
    Err(ArchiveError::Busy(task))
}

/// Forget run `run` of task `task`, which did not (and will not) become the task's archive:
/// its index rows and its objects. Failures are logged; what is left is ignored by readers.
async fn discard(store: &Store, archive: &OutputArchive, task: Uuid, run: Uuid) {
    if let Err(e) = store.discard_archive_run(task, run).await {
        tracing::warn!(task = %task, error = %e, "forgetting an archive run failed");
    }
    if let Err(e) = archive
        .delete_below(&OutputArchive::run_key(task, run), None)
        .await
    {
        tracing::warn!(task = %task, error = %e, "removing an archive run's objects failed");
    }
}

/// The segment being filled: its bytes and its index.
#[derive(Default)]
struct Segment {
    data: Vec<u8>,
    index: IndexBuilder,
}

impl Segment {
    /// Whether `event` must go into a new segment.
    fn is_full_for(&self, event: &TaskEvent) -> bool {
        !self.index.is_empty()
            && (self.data.len() + event.data.len() > SEGMENT_BYTES || !self.index.has_room())
    }
}

/// Copy the output rows of task `task` up to `through` into segment objects of run `run`, each
/// recorded with its index row.
async fn write_segments(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    run: Uuid,
    through: i64,
) -> Result<Written, ArchiveError> {
    let mut written = Written::default();
    let mut segment = Segment::default();
    let mut after = 0;
    loop {
        let page = store
            .events_page(
                task,
                &PageQuery {
                    after,
                    limit: READ_PAGE_ROWS,
                    max_bytes: READ_PAGE_BYTES,
                    scope: EventScope::OutputThrough(through),
                },
            )
            .await?;
        let Some(last) = page.events.last() else {
            break;
        };
        after = last.seq;
        for event in page.events {
            if segment.is_full_for(&event) {
                flush(store, archive, task, run, &mut segment, &mut written).await?;
            }
            segment.index.push(
                event.seq,
                event.platform_id,
                event.stream.as_deref(),
                event.data.len(),
            )?;
            segment.data.extend_from_slice(&event.data);
        }
        if !page.more {
            break;
        }
    }
    flush(store, archive, task, run, &mut segment, &mut written).await?;
    Ok(written)
}

/// Write the segment (when it holds anything) and its index row; leaves it empty.
async fn flush(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    run: Uuid,
    segment: &mut Segment,
    written: &mut Written,
) -> Result<(), ArchiveError> {
    let Some((first_seq, last_seq)) = segment.index.seq_span() else {
        return Ok(());
    };
    let object = OutputArchive::segment_key(task, run, first_seq);
    let events = segment.index.len() as u64;
    let size = segment.index.size();
    let entries = segment.index.finish();
    archive
        .put(&object, std::mem::take(&mut segment.data))
        .await?;
    store
        .add_archive_segment(
            task,
            run,
            &ArchiveSegment {
                first_seq,
                last_seq,
                object,
                size,
                entries,
            },
        )
        .await?;
    written.events += events;
    written.bytes += size;
    written.segments += 1;
    Ok(())
}

/// Archive `task` in the background (after it ended), logging the outcome; a failure leaves
/// the output in the database.
pub fn spawn_archive(store: Store, archive: OutputArchive, task: Uuid) {
    tokio::spawn(async move {
        match archive_task(&store, &archive, task).await {
            Ok(Archived::Moved {
                events,
                bytes,
                segments,
                deleted,
            }) => tracing::info!(
                task = %task, events, bytes, segments, deleted, location = archive.location(),
                "task output archived"
            ),
            Ok(outcome) => tracing::debug!(task = %task, ?outcome, "task output not archived"),
            Err(e) => tracing::error!(
                task = %task, error = %e, location = archive.location(),
                "archiving task output failed; it stays in the database"
            ),
        }
    });
}
