//! Task logs in object storage: a finished task's output moves from the database to an object
//! store, and every reader (`GET /api/tasks/{id}/output`, `WS /ws/tasks/{id}`) reads it back
//! through [`events_after`] with the same seqs and exact bytes as before.
//!
//! Where: a local directory (`DATA_DIR/task-logs`, the default) or an S3-compatible bucket
//! (`TESTUM_OBJECT_STORE_URL=s3://bucket/prefix`, credentials and endpoint from the usual
//! `AWS_*` variables). One object per task, `[prefix/]tasks/<task_id>.log`, in the versioned
//! format of [`format`].
//!
//! How ([`archive_task`]), crash-safe and idempotent:
//! 1. read the task's state (it must have ended) and its `last_seq`;
//! 2. copy its output rows up to `last_seq` into the object (a whole-object, atomic put: a
//!    re-run simply writes it again);
//! 3. in ONE transaction, mark the task archived (`archived_at`, `archived_seq`) — only if its
//!    `last_seq` is unchanged — and delete those output rows. A crash before 3 leaves the output
//!    in the database, which keeps serving reads; an event appended meanwhile makes step 3 refuse
//!    and the whole run starts again.
//!
//! The `target` and `done` events stay in the database (they are small, and the task view reads
//! them); only `output` rows move.

pub mod format;

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use uuid::Uuid;

use crate::store::{MarkArchived, Store, StoreError, TaskEvent};

pub use format::FormatError;

/// Why archiving or reading archived output failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The object store setting is unusable (bad URL, missing bucket); the message says why.
    #[error("object store configuration: {0}")]
    Config(String),
    /// The object store failed (I/O, network, credentials, missing object).
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The archived object is not a readable log of this task.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Events kept arriving for the task while its output was archived; it stays in the
    /// database (a later run may archive it).
    #[error("task {0} kept changing while its output was archived")]
    Busy(Uuid),
    /// The task is archived but its object is missing from the object store.
    #[error("the archived output of task {0} is missing from the object store")]
    Missing(Uuid),
}

/// Where finished tasks' output lives: an object store and a key prefix. Cheap to clone.
#[derive(Clone)]
pub struct OutputArchive {
    objects: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    /// Where it points, for logs (`dir /path` or `s3://bucket/prefix`); holds no secret.
    location: String,
}

impl std::fmt::Debug for OutputArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OutputArchive({})", self.location)
    }
}

/// The default archive directory under the data dir.
pub const LOCAL_DIR: &str = "task-logs";

impl OutputArchive {
    /// The archive for `testum serve`: the S3 bucket `url` names (`s3://bucket[/prefix]`), with
    /// credentials, region, endpoint and `AWS_ALLOW_HTTP` read from the `AWS_*` environment
    /// variables; or, when `url` is `None`, the local directory `data_dir/task-logs` (created
    /// mode 0700 when missing). Errors: a URL that is not `s3://bucket...`, an unusable
    /// directory, or a builder refusal (e.g. a malformed endpoint).
    pub fn from_config(
        data_dir: &std::path::Path,
        url: Option<&str>,
    ) -> Result<OutputArchive, ArchiveError> {
        match url {
            None => OutputArchive::local(&data_dir.join(LOCAL_DIR)),
            Some(url) => match url.strip_prefix("file://") {
                Some(dir) if dir.starts_with('/') => OutputArchive::local(std::path::Path::new(dir)),
                Some(_) => Err(ArchiveError::Config(
                    "a file:// object store URL needs an absolute path (file:///var/lib/testum/logs)"
                        .into(),
                )),
                None => OutputArchive::s3_with(AmazonS3Builder::from_env(), url, []),
            },
        }
    }

    /// An archive in the local directory `dir`, created (mode 0700) when missing.
    pub fn local(dir: &std::path::Path) -> Result<OutputArchive, ArchiveError> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| ArchiveError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let objects = LocalFileSystem::new_with_prefix(dir)?;
        Ok(OutputArchive {
            objects: Arc::new(objects),
            prefix: None,
            location: format!("dir {}", dir.display()),
        })
    }

    /// An archive in the S3 bucket `url` names (`s3://bucket[/prefix]`) configured only by
    /// `options` (keys as the `AWS_*` variables in lower case, e.g. `aws_endpoint`,
    /// `aws_access_key_id`, `aws_allow_http`), without reading the environment. For tests and
    /// embedders; an unknown key is a [`ArchiveError::Config`].
    pub fn s3<'a>(
        url: &str,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<OutputArchive, ArchiveError> {
        let mut parsed = Vec::new();
        for (key, value) in options {
            let key: AmazonS3ConfigKey = key
                .parse()
                .map_err(|_| ArchiveError::Config(format!("unknown S3 option {key:?}")))?;
            parsed.push((key, value.to_string()));
        }
        OutputArchive::s3_with(AmazonS3Builder::new(), url, parsed)
    }

    fn s3_with(
        mut builder: AmazonS3Builder,
        url: &str,
        options: impl IntoIterator<Item = (AmazonS3ConfigKey, String)>,
    ) -> Result<OutputArchive, ArchiveError> {
        let (bucket, prefix) = parse_s3_url(url)?;
        for (key, value) in options {
            builder = builder.with_config(key, value);
        }
        let objects = builder.with_bucket_name(bucket).build()?;
        Ok(OutputArchive {
            objects: Arc::new(objects),
            prefix: (!prefix.is_empty()).then(|| ObjectPath::from(prefix)),
            location: format!("s3://{bucket}/{prefix}"),
        })
    }

    /// Where this archive points, for logs and messages (no secret in it).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The object key of task `task`'s log: `[prefix/]tasks/<task>.log`.
    pub fn object_path(&self, task: Uuid) -> ObjectPath {
        let file = format!("{task}.log");
        let base = self.prefix.clone().unwrap_or_default();
        base.join("tasks").join(file.as_str())
    }

    /// Write task `task`'s log object (whole and atomic; replaces an earlier one).
    async fn put_log(&self, task: Uuid, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        self.objects
            .put(&self.object_path(task), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The archived output events of task `task`, in seq order; [`ArchiveError::Missing`] when
    /// there is no object.
    pub async fn load(&self, task: Uuid) -> Result<Vec<TaskEvent>, ArchiveError> {
        let bytes = match self.objects.get(&self.object_path(task)).await {
            Ok(result) => result.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(ArchiveError::Missing(task)),
            Err(e) => return Err(e.into()),
        };
        Ok(format::decode(task, &bytes)?)
    }
}

/// `s3://bucket[/prefix]` → (bucket, prefix without surrounding slashes).
fn parse_s3_url(url: &str) -> Result<(&str, &str), ArchiveError> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        ArchiveError::Config(format!(
            "TESTUM_OBJECT_STORE_URL must be s3://bucket[/prefix] or file:///absolute/dir, got {url:?}"
        ))
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(ArchiveError::Config(format!(
            "TESTUM_OBJECT_STORE_URL names no bucket: {url:?}"
        )));
    }
    Ok((bucket, prefix.trim_matches('/')))
}

/// What [`archive_task`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// The output moved now: `events` output events written, `deleted` rows removed.
    Moved { events: usize, deleted: u64 },
    /// It had been archived already; nothing changed.
    Already,
    /// The task has not ended (or does not exist); nothing changed.
    NotFinished,
}

/// How often [`archive_task`] starts again when events keep arriving.
const ATTEMPTS: usize = 5;

/// Move the output of finished task `task` from the database into `archive` (see the module
/// doc for the order of steps). Idempotent; never touches a task that has not ended. Errors
/// leave the output in the database, where readers still find it.
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
        if !state.finished {
            return Ok(Archived::NotFinished);
        }
        let events = store.output_events_through(task, state.last_seq).await?;
        archive.put_log(task, format::encode(task, &events)).await?;
        match store.mark_archived(task, state.last_seq).await? {
            MarkArchived::Archived { deleted } => {
                return Ok(Archived::Moved {
                    events: events.len(),
                    deleted,
                });
            }
            MarkArchived::AlreadyArchived => return Ok(Archived::Already),
            MarkArchived::NotFinished => return Ok(Archived::NotFinished),
            MarkArchived::Changed => continue,
        }
    }
    Err(ArchiveError::Busy(task))
}

/// Archive `task` in the background (after it ended), logging the outcome; a failure leaves
/// the output in the database.
pub fn spawn_archive(store: Store, archive: OutputArchive, task: Uuid) {
    tokio::spawn(async move {
        match archive_task(&store, &archive, task).await {
            Ok(Archived::Moved { events, deleted }) => tracing::info!(
                task = %task, events, deleted, location = archive.location(),
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

/// Up to `limit` events of task `task` with `seq > after`, in order: the one reading path of
/// the API and the WebSocket, the same whether the output is still in the database, archived,
/// or being archived right now.
///
/// Race: the rows of an archived task are deleted in the transaction that sets its archived
/// flag. So the database is read first and the flag after: when the flag is still unset, that
/// read happened before the move and is complete; when it is set (before, or just now), the
/// output is read from the archive and merged by seq with the events still in the database
/// (`target`, `done`, and any output appended after the move), read again after the flag.
pub async fn events_after(
    store: &Store,
    archive: &OutputArchive,
    task: Uuid,
    after: i64,
    limit: u32,
) -> Result<Vec<TaskEvent>, ArchiveError> {
    let events = store.events_after(task, after, limit).await?;
    if !store.task_archived(task).await? {
        return Ok(events);
    }
    let archived = archive.load(task).await?;
    let live = store.events_after(task, after, limit).await?;
    Ok(merge(archived, live, after, limit as usize))
}

/// The first `limit` events with `seq > after` of two seq-ordered lists, by seq (one per seq).
fn merge(
    archived: Vec<TaskEvent>,
    live: Vec<TaskEvent>,
    after: i64,
    limit: usize,
) -> Vec<TaskEvent> {
    let mut merged = Vec::with_capacity(limit.min(archived.len() + live.len()));
    let mut a = archived.into_iter().filter(|e| e.seq > after).peekable();
    let mut b = live.into_iter().peekable();
    while merged.len() < limit {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.seq < y.seq => a.next(),
            (Some(x), Some(y)) if x.seq == y.seq => {
                a.next();
                b.next()
            }
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => None,
        };
        match next {
            Some(event) => merged.push(event),
            None => break,
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventKind;

    fn event(seq: i64, kind: EventKind) -> TaskEvent {
        TaskEvent {
            seq,
            kind,
            platform_id: None,
            stream: None,
            data: seq.to_string().into_bytes(),
        }
    }

    #[test]
    fn merge_orders_by_seq_and_pages() {
        let archived = vec![
            event(1, EventKind::Output),
            event(2, EventKind::Output),
            event(4, EventKind::Output),
        ];
        let live = vec![event(3, EventKind::Target), event(5, EventKind::Done)];
        let seqs = |v: Vec<TaskEvent>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(
            seqs(merge(archived.clone(), live.clone(), 0, 10)),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(seqs(merge(archived.clone(), live.clone(), 0, 2)), [1, 2]);
        let later: Vec<_> = live.iter().filter(|e| e.seq > 2).cloned().collect();
        assert_eq!(seqs(merge(archived.clone(), later, 2, 2)), [3, 4]);
        assert_eq!(seqs(merge(archived, vec![], 5, 10)), Vec::<i64>::new());
    }

    #[test]
    fn s3_urls() {
        assert_eq!(parse_s3_url("s3://logs").unwrap(), ("logs", ""));
        assert_eq!(parse_s3_url("s3://logs/a/b/").unwrap(), ("logs", "a/b"));
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("http://x/y").is_err());
    }
}
