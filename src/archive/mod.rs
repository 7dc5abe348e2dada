//! Task logs in object storage: a finished task's output moves from the database to an object
//! store, and every reader (`GET /api/tasks/{id}/output`, `WS /ws/tasks/{id}`) reads it back
//! through [`events_after`] / [`output_after`] with the same seqs and exact bytes as before, in
//! bounded memory whatever the task's size.
//!
//! Where: a local directory (`DATA_DIR/task-logs`, the default) or an S3-compatible bucket
//! (`TESTUM_OBJECT_STORE_URL=s3://bucket/prefix`, credentials and endpoint from the usual
//! `AWS_*` variables).
//!
//! **Format 2 (written now).** A task's output events are cut, in seq order, into segment
//! objects `[prefix/]tasks/<task_id>/<run>/<first_seq, 20 digits>.seg` of about
//! [`SEGMENT_BYTES`] each: the events' exact bytes concatenated, nothing else. Each
//! segment's index (seq, length, platform, stream per event; [`index`]) is a row of the
//! `archive_segments` table beside the object's key and size. `<run>` is a fresh UUID per
//! archiving run, so two runs of one task (a task end and a sweep at once) never write the same
//! object; the run that wins the final transaction is recorded in `tasks.archive_run`.
//!
//! Why the index lives in the database, not in objects: a page read then costs one indexed query
//! (the segments ending after `after_seq`, with their indexes) plus one ranged GET per segment the
//! page touches (usually one), instead of an extra GET (or a LIST) per segment just to learn where
//! the bytes are; and the index rows become visible in the same transaction that marks the task
//! archived and deletes its output rows, so readers never see a half-written archive.
//!
//! How ([`archive_task`]), crash-safe and idempotent:
//! 1. read the task's state (it must have ended) and its `last_seq`;
//! 2. read its output rows up to `last_seq` from the database a page at a time (bounded in
//!    bytes), write each full segment object (a plain atomic PUT of a few MiB) and record its
//!    index row; at most about one segment and one page are in memory;
//! 3. in ONE transaction, mark the task archived (`archived_at`, `archived_seq`, `archive_run`)
//!    — only if its `last_seq` is unchanged — and delete its output rows (and other runs' index
//!    rows). A crash before 3 leaves the output in the database, which keeps serving reads (the
//!    run's objects and rows are ignored: readers only follow `archive_run`); an event appended
//!    meanwhile makes step 3 refuse and the whole run starts again; a run that loses discards its
//!    objects and rows.
//!
//! **Format 1 (read only).** Tasks archived by earlier versions have one object
//! `[prefix/]tasks/<task_id>.log` ([`format`], JSON lines) and no `archive_run`; they are read
//! through the old decoder, which loads that whole object per page.
//!
//! The `target` and `done` events stay in the database (they are small, and the task view reads
//! them); only `output` rows move. Retention ([`retention`]) deletes the output of tasks that
//! ended more than `TESTUM_OUTPUT_RETENTION_DAYS` ago, objects and rows.

pub mod format;
pub mod index;
mod private;
mod read;
pub mod retention;
mod write;

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use uuid::Uuid;

use crate::store::{StoreError, TaskEvent};

pub use format::FormatError;
pub use read::{
    OutputPage, PAGE_BYTES, events_after, output_after, platform_output_after, read_scope,
};
pub use write::{Archived, SEGMENT_BYTES, archive_task, spawn_archive};

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
    /// The local archive directory could not be made private (mode 0700 / 0600).
    #[error("task log directory {path}: {source}")]
    Local {
        /// The directory or file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The task is archived but an object of it is missing from the object store.
    #[error("the archived output of task {0} is missing from the object store")]
    Missing(Uuid),
}

/// [`ArchiveError::Missing`] for a missing object, [`ArchiveError::ObjectStore`] otherwise.
fn missing_as(task: Uuid) -> impl Fn(object_store::Error) -> ArchiveError {
    move |e| match e {
        object_store::Error::NotFound { .. } => ArchiveError::Missing(task),
        e => ArchiveError::ObjectStore(e),
    }
}

/// The local directory the object store setting `url` names: `data_dir/task-logs` when `url` is
/// `None` (the default), the directory of a `file:///absolute/dir` URL, and `None` for any other
/// (S3) URL.
/// Errors: a `file://` URL with a relative path.
pub fn local_dir(
    data_dir: &std::path::Path,
    url: Option<&str>,
) -> Result<Option<std::path::PathBuf>, ArchiveError> {
    match url.map(|url| url.strip_prefix("file://")) {
        None => Ok(Some(data_dir.join(LOCAL_DIR))),
        Some(Some(dir)) if dir.starts_with('/') => Ok(Some(dir.into())),
        Some(Some(_)) => Err(ArchiveError::Config(
            "a file:// object store URL needs an absolute path (file:///var/lib/testum/logs)"
                .into(),
        )),
        Some(None) => Ok(None),
    }
}

/// Where finished tasks' output lives: an object store and a key prefix. Cheap to clone.
#[derive(Clone)]
pub struct OutputArchive {
    objects: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    /// The directory of a local archive, whose files and directories are kept private.
    local_root: Option<std::path::PathBuf>,
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
        match local_dir(data_dir, url)? {
            Some(dir) => OutputArchive::local(&dir),
            None => {
                OutputArchive::s3_with(AmazonS3Builder::from_env(), url.unwrap_or_default(), [])
            }
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
            local_root: Some(dir.to_path_buf()),
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
            local_root: None,
            location: format!("s3://{bucket}/{prefix}"),
        })
    }

    /// Where this archive points, for logs and messages (no secret in it).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// An archive over any object store `objects` (for embedders and tests, e.g. a wrapper that
    /// counts requests), with keys under `prefix` (`""` for none) and `location` naming it in logs.
    pub fn from_object_store(
        objects: Arc<dyn ObjectStore>,
        prefix: &str,
        location: impl Into<String>,
    ) -> OutputArchive {
        let prefix = prefix.trim_matches('/');
        OutputArchive {
            objects,
            prefix: (!prefix.is_empty()).then(|| ObjectPath::from(prefix)),
            local_root: None,
            location: location.into(),
        }
    }

    /// The full object path of `key` (`tasks/...`) below the prefix.
    fn path(&self, key: &str) -> ObjectPath {
        let mut path = self.prefix.clone().unwrap_or_default();
        for part in key.split('/') {
            path = path.join(part);
        }
        path
    }

    /// The format-1 object key of task `task`'s log: `tasks/<task>.log`.
    pub(crate) fn v1_key(task: Uuid) -> String {
        format!("tasks/{task}.log")
    }

    /// The directory key of task `task`'s format-2 segments: `tasks/<task>`.
    fn task_dir_key(task: Uuid) -> String {
        format!("tasks/{task}")
    }

    /// The directory key of the segments of run `run` of task `task`: `tasks/<task>/<run>`.
    fn run_key(task: Uuid, run: Uuid) -> String {
        format!("tasks/{task}/{run}")
    }

    /// The key of the segment of run `run` of task `task` that starts at `first_seq`:
    /// `tasks/<task>/<run>/<first_seq, 20 digits>.seg` (zero-padded: listed in seq order).
    fn segment_key(task: Uuid, run: Uuid, first_seq: i64) -> String {
        format!("{}/{first_seq:020}.seg", Self::run_key(task, run))
    }

    /// Write object `key` whole (a single atomic PUT; replaces an earlier one); in a local
    /// directory, private (see [`private`]).
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ArchiveError> {
        let local = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| ArchiveError::Local { path, source }
        };
        let file = match &self.local_root {
            Some(root) => Some(private::prepare(root, key).await.map_err(local(root))?),
            None => None,
        };
        self.objects
            .put(&self.path(key), PutPayload::from(bytes))
            .await?;
        if let Some(file) = file {
            private::seal(&file).await.map_err(local(&file))?;
        }
        Ok(())
    }

    /// Write, read back and delete the probe object `doctor/probe-<uuid>` (`testum doctor`):
    /// whether this process can use the store (in a folder, as task output is). A local store's
    /// `doctor` directory, which the write made, is removed again when empty: doctor leaves
    /// nothing behind. Errors: the store's own, or [`ArchiveError::Config`] when other bytes come
    /// back.
    pub async fn probe(&self) -> Result<(), ArchiveError> {
        const FOLDER: &str = "doctor";
        let key = format!("{FOLDER}/probe-{}", Uuid::new_v4());
        let body = b"testum doctor probe".to_vec();
        self.put(&key, body.clone()).await?;
        let read = self.objects.get(&self.path(&key)).await;
        let deleted = self.objects.delete(&self.path(&key)).await;
        if let Some(root) = &self.local_root {
            // Fails, harmlessly, while another doctor's probe is in it (or when it is gone).
            let _ = tokio::fs::remove_dir(root.join(FOLDER)).await;
        }
        let got = read?.bytes().await?;
        deleted?;
        if got.as_ref() != body.as_slice() {
            return Err(ArchiveError::Config(
                "the probe object read back differs from what was written".into(),
            ));
        }
        Ok(())
    }

    /// The bytes at `ranges` of object `key` of task `task`, one buffer per range (the object
    /// store may merge nearby ranges into one request); [`ArchiveError::Missing`] without it.
    async fn get_ranges(
        &self,
        task: Uuid,
        key: &str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, ArchiveError> {
        self.objects
            .get_ranges(&self.path(key), ranges)
            .await
            .map_err(missing_as(task))
    }

    /// The output events of task `task` archived in format 1, in seq order (the whole object is
    /// read and decoded); [`ArchiveError::Missing`] when there is no object.
    async fn load_v1(&self, task: Uuid) -> Result<Vec<TaskEvent>, ArchiveError> {
        let bytes = self
            .objects
            .get(&self.path(&Self::v1_key(task)))
            .await
            .map_err(missing_as(task))?
            .bytes()
            .await?;
        Ok(format::decode(task, &bytes)?)
    }

    /// Delete every object of task `task` (its format-2 segments of every run, and its format-1
    /// log); returns how many objects and bytes. Missing objects are not an error.
    async fn delete_task_objects(&self, task: Uuid) -> Result<(u64, u64), ArchiveError> {
        let (mut count, mut bytes) = self.delete_below(&Self::task_dir_key(task), None).await?;
        match self.objects.head(&self.path(&Self::v1_key(task))).await {
            Ok(meta) => {
                let (n, b) = self.delete_objects(&[meta]).await?;
                count += n;
                bytes += b;
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok((count, bytes))
    }

    /// Delete the objects below key `dir`, except those below key `except`; returns how many
    /// objects and bytes.
    async fn delete_below(
        &self,
        dir: &str,
        except: Option<&str>,
    ) -> Result<(u64, u64), ArchiveError> {
        let except = except.map(|key| self.path(key));
        let found: Vec<object_store::ObjectMeta> = self
            .objects
            .list(Some(&self.path(dir)))
            .try_filter(|meta| {
                let keep = except
                    .as_ref()
                    .is_some_and(|kept| meta.location.prefix_matches(kept));
                futures::future::ready(!keep)
            })
            .try_collect()
            .await?;
        self.delete_objects(&found).await
    }

    /// Delete the objects `found` (in bulk where the store can); returns how many and their
    /// bytes. Objects already gone are not an error.
    async fn delete_objects(
        &self,
        found: &[object_store::ObjectMeta],
    ) -> Result<(u64, u64), ArchiveError> {
        let paths: Vec<object_store::Result<ObjectPath>> =
            found.iter().map(|meta| Ok(meta.location.clone())).collect();
        let mut deleted = self
            .objects
            .delete_stream(futures::stream::iter(paths).boxed());
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((found.len() as u64, found.iter().map(|meta| meta.size).sum()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(parse_s3_url("s3://logs").unwrap(), ("logs", ""));
        assert_eq!(parse_s3_url("s3://logs/a/b/").unwrap(), ("logs", "a/b"));
        assert!(parse_s3_url("s3:///x").is_err());
        assert!(parse_s3_url("http://x/y").is_err());
    }
}
