//! An object store wrapper that counts what is read through it: requests that fetch a whole
//! object, ranged requests, and bytes fetched. Tests use it to show that reading a page of an
//! archived task fetches only that page's bytes.

#![allow(dead_code)]

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// What has been read so far.
#[derive(Debug, Default)]
pub struct Reads {
    /// GETs of a whole object.
    pub whole: AtomicU64,
    /// Ranges requested (through `get_range` or `get_ranges`).
    pub ranges: AtomicU64,
    /// Bytes returned.
    pub bytes: AtomicU64,
}

impl Reads {
    /// (whole-object GETs, ranges, bytes) so far.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.whole.load(Ordering::SeqCst),
            self.ranges.load(Ordering::SeqCst),
            self.bytes.load(Ordering::SeqCst),
        )
    }
}

/// `inner`, with its reads counted in `reads`.
#[derive(Debug)]
pub struct Counting {
    pub inner: Arc<dyn ObjectStore>,
    pub reads: Arc<Reads>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Counting {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let ranged = matches!(options.range, Some(GetRange::Bounded(_)));
        let head = options.head;
        let result = self.inner.get_opts(location, options).await?;
        if !head {
            let counter = if ranged {
                &self.reads.ranges
            } else {
                &self.reads.whole
            };
            counter.fetch_add(1, Ordering::SeqCst);
            self.reads
                .bytes
                .fetch_add(result.range.end - result.range.start, Ordering::SeqCst);
        }
        Ok(result)
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        let got = self.inner.get_ranges(location, ranges).await?;
        self.reads
            .ranges
            .fetch_add(ranges.len() as u64, Ordering::SeqCst);
        self.reads.bytes.fetch_add(
            got.iter().map(|b| b.len() as u64).sum::<u64>(),
            Ordering::SeqCst,
        );
        Ok(got)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
