//! The store: every SQL statement testum runs lives under this module.
//!
//! One [`Store`] over a SQLite pool today; the schema and statements are kept portable (`$n`
//! placeholders, `RETURNING`, text UUIDs and fixed-width RFC 3339 timestamps) so a PostgreSQL twin
//! can follow. Multi-step writes run in one transaction, and every mutation writes its audit event
//! in the same transaction as the change it records.
//!
//! Layering: below the task engine, the API and the commands. It may use the domain modules it
//! stores (`authorized_keys`, `known_hosts`, `selector`, `role`, `crypto`, `words`, the word
//! types of `ssh`) and owns what its statements name, such as the LISTEN/NOTIFY channel names
//! ([`EVENTS_CHANNEL`], ...); it never uses `api` or `server`. Two helpers it still borrows from
//! above are `tasks::utf8_boundary` (output pages) and `archive`'s object key of a format-1 log.

mod archive;
mod audit;
pub mod audit_chain;
mod channels;
mod event_pages;
mod expiry;
mod grants;
mod groups;
mod host_keys;
mod imports;
pub mod in_use;
mod keys;
mod leases;
mod notifications;
mod output;
mod overview;
mod platform_order;
mod platforms;
mod provider_users;
mod retention;
mod scans;
mod schedules;
mod schema;
mod sealed;
mod selection;
mod sessions;
mod settings;
mod target_pages;
mod tasks;
mod tokens;
mod totp;
mod ui_sessions;
mod users;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::AnyPool;
use sqlx::Executor as _;
use sqlx::any::{AnyPoolOptions, AnyRow};
use uuid::Uuid;

pub use archive::{ArchiveSegment, ArchiveState, MarkArchived, OutputLocation};
pub use audit::{AUDIT_KEY_SETTING, AuditEvent, AuditFilter, NewAudit};
pub use channels::{CANCEL_CHANNEL, EVENTS_CHANNEL, WORK_CHANNEL};
pub use event_pages::{EventPage, EventScope, PageQuery};
pub use expiry::{ExpiryItem, ExpiryOutcome, expiry_actor};
pub use grants::{Grant, GrantSubject, NewGrant};
pub use groups::{Group, GroupDetail, GroupMember, GroupPatch, LOCAL as LOCAL_GROUPS};
pub use host_keys::ImportedPin;
pub use imports::{ImportTarget, ImportUpdate, PlatformImport};
pub use keys::{Key, KeyFilter, KeyPatch, NewKey};
pub use leases::platform_lease;
pub use notifications::{
    AttemptOutcome, ClaimedDelivery, Delivery, DeliveryAttempt, DeliveryStatus, EndpointPatch,
    NewEndpoint, NotificationEndpoint, NotificationEvent, NotificationFormat, TEST_EVENT,
};
pub use output::OutputChunk;
pub use overview::{KeyWhereabouts, LastResult, Placement, PlatformRef, SYNC_KINDS};
pub use platform_order::{PlatformSort, SortCursor};
pub use platforms::{
    Assignment, DesiredState, NewPlatform, PinOutcome, PinnedHostKey, Platform, PlatformPatch,
    SyncStatus,
};
pub use provider_users::{AccountPolicy, ProviderRefusal, ProviderSignIn, ProviderUser};
pub use retention::ExpiredRows;
pub use scans::{
    AccessCursor, AccessEntry, AccessFilter, KeyRef, MAX_STORED_LINES, PlatformScan, PlatformState,
    ScanRecord,
};
pub use schedules::{Fired, Firing, NewSchedule, Schedule, ScheduleKind};
pub use schema::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS, table_counts};
pub use sealed::Sealed;
pub use selection::StoredFacts;
pub use sessions::{Refresh, SignedIn};
pub use target_pages::{NumberCursor, OutputGroup, TargetCounts, TargetFilter};
pub use tasks::{
    ClaimedTarget, EventKind, NewTask, Target, TargetResult, TargetStatus, Task, TaskEvent,
    TaskFilter, TaskKind, TaskParams, TaskStatus,
};
pub use tokens::{ApiToken, NewApiToken};
pub use totp::{TotpRecord, TotpStanding};
pub use users::{LOCAL_USERS, User, UserInfo, UserPatch};

/// Who performed an action, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The user's id; `None` for the system itself (workers, start-up).
    pub user_id: Option<Uuid>,
    /// Username, or `system`.
    pub name: String,
}

impl Actor {
    /// The service itself (workers, start-up).
    pub fn system() -> Actor {
        Actor {
            user_id: None,
            name: "system".into(),
        }
    }

    /// An anonymous caller named by what it typed (a failed sign-in): at most 64 characters on
    /// one line (control characters become `?`), so it can neither bloat the log nor forge lines
    /// in it.
    pub fn typed(name: &str) -> Actor {
        Actor {
            user_id: None,
            name: name
                .chars()
                .take(64)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect(),
        }
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row with that id.
    #[error("not found")]
    NotFound,
    /// A uniqueness or state rule refused the write; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The database failed; details are logged, not shown to clients.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored value could not be read back (corrupt row).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A file beside the database (the in-use lock) could not be used.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database was migrated by a newer testum than this binary: its schema version `found`
    /// is past the last migration this binary knows (`known`).
    #[error(
        "the database is at schema version {found}, newer than this testum knows ({known}): it \
         was written by a newer testum; run that version (or restore a backup made for this one)"
    )]
    TooNew { found: i64, known: i64 },
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list: `items` and the opaque cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Paging request: at most `limit` items after `cursor` (newest first).
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// Position in a newest-first list: the `(created_at, id)` of the last item seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: String,
    pub id: String,
}

impl Cursor {
    /// Opaque URL-safe form handed to clients.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}|{}", self.created_at, self.id))
    }

    /// Parse a client's cursor; `None` when it is not one of ours.
    pub fn decode(text: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (created_at, id) = raw.split_once('|')?;
        parse_ts(created_at).ok()?;
        Uuid::parse_str(id).ok()?;
        Some(Cursor {
            created_at: created_at.to_string(),
            id: id.to_string(),
        })
    }
}

/// Build a page from `limit + 1` fetched rows: the extra row only tells that a next page exists.
fn page_of<T>(mut rows: Vec<T>, limit: u32, position: impl Fn(&T) -> Cursor) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|last| position(last).encode())
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// Format a timestamp the way the store keeps it: fixed width, microseconds, `Z`.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, as stored.
pub(crate) fn now_ts() -> String {
    ts(Utc::now())
}

pub(crate) fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}

pub(crate) fn parse_opt_ts(text: Option<String>) -> StoreResult<Option<DateTime<Utc>>> {
    text.as_deref().map(parse_ts).transpose()
}

pub(crate) fn parse_uuid(text: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("uuid {text:?}: {e}")))
}

/// Decode the word stored in `column` as `T` (see [`crate::words`]): a word testum does not know
/// is [`StoreError::Corrupt`] naming the column and the value, never a default.
pub(crate) fn parse_word<T>(column: &str, text: String) -> StoreResult<T>
where
    T: std::str::FromStr<Err = crate::words::UnknownWord>,
{
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{column} {text:?}: {e}")))
}

/// Map a unique-constraint violation to [`StoreError::Conflict`] with `message`.
pub(crate) fn unique_violation(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message.to_string())
        }
        _ => StoreError::Db(e),
    }
}

/// Values bound in one `IN (...)` list: lookups by many ids run one query per this many.
pub(crate) const IN_LIST: usize = 500;

/// `$1, $2, ...` for `n` bound values (an `IN (...)` list).
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQL true when `column` holds one of the ids of the JSON array bound as `$n` (see
/// [`id_set`]), or when `$n` is NULL (no narrowing): one bound value for any number of ids,
/// where an `IN ($1, $2, ...)` list would need one per id.
pub(crate) fn in_id_set(backend: Backend, column: &str, n: usize) -> String {
    let set = match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${n})"),
        Backend::Postgres => format!("SELECT jsonb_array_elements_text(CAST(${n} AS jsonb))"),
    };
    format!("(${n} IS NULL OR {column} IN ({set}))")
}

/// `ids` as the JSON array [`in_id_set`] reads; `None` (no narrowing) stays `None`.
pub(crate) fn id_set(ids: Option<&[Uuid]>) -> Option<String> {
    ids.map(|ids| serde_json::Value::from_iter(ids.iter().map(|id| id.to_string())).to_string())
}

/// A statement assembled from constant pieces (column lists), never from input.
pub(crate) fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file: one process, in-process workers and event fan-out.
    Sqlite,
    /// PostgreSQL: several processes; queue claims with `FOR UPDATE SKIP LOCKED`.
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
    /// Most connections the pool opens.
    pub max_connections: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 10,
        }
    }
}

/// How long a SQLite connection waits for the file's write lock before failing with "database
/// is locked": hundreds of targets finishing at once queue for it.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 30_000;

/// How a SQLite connection of a pool commits (`PRAGMA synchronous`): the API's pool waits for
/// every commit to reach the disk (`FULL`: users, keys, audit events); the workers' pool does
/// not (`NORMAL`), because what it writes is task output and target progress, thousands of small
/// commits a second at fleet scale, each of which would otherwise wait for an fsync. In WAL mode
/// `NORMAL` never corrupts the database; a power cut (not a crash of testum) may lose the last
/// commits, which the worker-lost rules already cover: an unfinished target is run again or
/// marked lost. See <https://www.sqlite.org/pragma.html#pragma_synchronous>.
#[derive(Debug, Clone, Copy)]
enum Durability {
    /// `synchronous = FULL`.
    Full,
    /// `synchronous = NORMAL`.
    Normal,
}

/// Pool options for `backend`: at most `max_connections`, and on SQLite WAL mode, foreign keys,
/// `durability` and a 30 s busy timeout on every connection. Waiting for a connection is normal when hundreds
/// of targets share a pool of ten, so only waits of 10 s and more are logged as warnings (the
/// pool gives up at 30 s).
fn pool_options(backend: Backend, max_connections: u32, durability: Durability) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_slow_threshold(std::time::Duration::from_secs(10))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    conn.execute(match durability {
                        Durability::Full => "PRAGMA synchronous = FULL",
                        Durability::Normal => "PRAGMA synchronous = NORMAL",
                    })
                    .await?;
                    conn.execute(sql(format!(
                        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
                    )))
                    .await?;
                }
                Ok(())
            })
        })
}

/// The database behind testum.
///
/// One pool over sqlx's `Any` driver: every statement is written once, portable between SQLite
/// and PostgreSQL (text UUIDs and timestamps, BIGINT integers, byte strings), and the few places
/// that must differ (write-transaction start, queue claims, locks) ask [`Store::backend`].
#[derive(Clone)]
pub struct Store {
    /// The pool this handle's statements use: the API's, or the workers' ([`Store::for_workers`]).
    pool: AnyPool,
    /// The workers' pool, of the same size, opened lazily; shared by every clone.
    worker_pool: AnyPool,
    /// One connection of its own for lease heartbeats ([`Store::for_leases`]), opened lazily.
    lease_pool: AnyPool,
    backend: Backend,
    /// The database file, for SQLite on disk (see [`in_use`]).
    sqlite_path: Option<PathBuf>,
    /// The audit chain key this handle MACs audit events with ([`Store::with_chain_key`]);
    /// `None`: events are plain SHA-256, refused once the chain is keyed.
    chain_key: Option<audit_chain::ChainKey>,
}

impl Store {
    /// Open the database at `url` and apply its backend's migrations.
    ///
    /// `sqlite://PATH` creates the file when missing and uses WAL mode; `postgres://...` needs an
    /// existing database (migrations take an advisory lock, so several processes may start at
    /// once).
    pub async fn open(url: &str, pool: PoolConfig) -> StoreResult<Store> {
        let store = Store::open_as_is(url, pool).await?;
        store.backend.migrations().run(&store.pool).await?;
        store.adopt_unchained_audit().await?;
        store.backfill_assignment_expiry().await?;
        Ok(store)
    }

    /// Open the database at `url` as it is: no migration, no other write (`testum backup`
    /// copies a database without upgrading it). [`StoreError::TooNew`] for a database migrated
    /// by a newer testum; an older schema is opened, and only statements it supports work.
    pub async fn open_as_is(url: &str, pool: PoolConfig) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Corrupt("unsupported database URL (use sqlite:// or postgres://)".into())
        })?;
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let pool = pool_options(backend, pool.max_connections, Durability::Full)
            .connect(&url)
            .await?;
        // An in-memory SQLite database exists once per connection: workers share its pool.
        let (worker_pool, lease_pool) = if url.contains(":memory:") {
            (pool.clone(), pool.clone())
        } else {
            let lazy = |size| pool_options(backend, size, Durability::Normal).connect_lazy(&url);
            (lazy(pool.options().get_max_connections())?, lazy(1)?)
        };
        schema::refuse_newer(&mut *pool.acquire().await?, backend).await?;
        Ok(Store {
            pool,
            worker_pool,
            lease_pool,
            backend,
            sqlite_path: Store::sqlite_file(&url),
            chain_key: None,
        })
    }

    /// This store appending keyed audit events under `key` (see [`crate::audit_key`], which
    /// opens it; the store never sees the master key).
    pub fn with_chain_key(self, key: audit_chain::ChainKey) -> Store {
        Store {
            chain_key: Some(key),
            ..self
        }
    }

    /// The audit chain key of this handle, if any.
    pub(crate) fn chain_key(&self) -> Option<&audit_chain::ChainKey> {
        self.chain_key.as_ref()
    }

    /// This store on the workers' own pool: what workers do (claims, output, heartbeats,
    /// archiving) never waits for a connection behind API requests, nor API requests behind it.
    /// Every handle returned shares one pool, as large as the API's (`TESTUM_DB_MAX_CONNECTIONS`),
    /// connected on first use.
    pub fn for_workers(&self) -> Store {
        Store {
            pool: self.worker_pool.clone(),
            ..self.clone()
        }
    }

    /// This store on one connection of its own, for renewing and reaping leases: a heartbeat never
    /// waits for a connection behind the worker's own claims and output writes (hundreds of
    /// targets share the workers' pool), so a busy worker's leases do not run out. On SQLite the
    /// renewal still waits for the database's one write lock, as every write does.
    pub fn for_leases(&self) -> Store {
        Store {
            pool: self.lease_pool.clone(),
            ..self.clone()
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The file a `sqlite://PATH[?options]` URL names; `None` for an in-memory database and for
    /// other URLs.
    pub fn sqlite_file(url: &str) -> Option<PathBuf> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        rest.split('?')
            .next()
            .filter(|path| !path.is_empty() && !path.contains(":memory:"))
            .map(PathBuf::from)
    }

    /// The SQLite URL for a database file at `path`.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    /// Begin a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes fails with
    /// `SQLITE_BUSY` at once, without waiting, when another connection wrote meanwhile.
    async fn write_tx(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A newest-first page of `table` (which has `created_at` and `id` columns), read with
    /// `columns` and turned into items by `from_row`; `position` gives an item's cursor.
    async fn list_newest<T>(
        &self,
        table: &str,
        columns: &str,
        page: &PageRequest,
        from_row: fn(&AnyRow) -> StoreResult<T>,
        position: fn(&T) -> Cursor,
    ) -> StoreResult<Page<T>> {
        self.list_newest_where(table, columns, None, page, from_row, position)
            .await
    }

    /// [`Store::list_newest`] with only the rows where SQL expression `equals.0` (over `table`'s
    /// columns, no parameters of its own) equals the text `equals.1`.
    async fn list_newest_where<T>(
        &self,
        table: &str,
        columns: &str,
        equals: Option<(&str, &str)>,
        page: &PageRequest,
        from_row: fn(&AnyRow) -> StoreResult<T>,
        position: fn(&T) -> Cursor,
    ) -> StoreResult<Page<T>> {
        let (after_ts, after_id) = audit::cursor_parts(page.cursor.as_ref());
        let condition = match equals {
            Some((expression, _)) => format!("AND ({expression}) = $4"),
            None => String::new(),
        };
        let mut query = sqlx::query(sql(format!(
            "SELECT {columns} FROM {table}
             WHERE ($1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2)) {condition}
             ORDER BY created_at DESC, id DESC LIMIT $3"
        )))
        .bind(after_ts)
        .bind(after_id)
        .bind(i64::from(page.limit) + 1);
        if let Some((_, value)) = equals {
            query = query.bind(value.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let items = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
        Ok(page_of(items, page.limit, position))
    }

    /// `name_column` of the rows of `table` whose id is one of `ids`, by id (ids with no row are
    /// absent). One query per 500 ids rather than one per id.
    async fn names_by_id(
        &self,
        table: &str,
        name_column: &str,
        ids: &[Uuid],
    ) -> StoreResult<std::collections::HashMap<Uuid, String>> {
        let mut names = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT id, {name_column} AS name FROM {table} WHERE id IN ({})",
                placeholders(chunk.len())
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                use sqlx::Row as _;
                names.insert(parse_uuid(row.try_get("id")?)?, row.try_get("name")?);
            }
        }
        Ok(names)
    }

    /// Close this store's pools (the API's, the workers' and the heartbeat's), waiting until
    /// every connection has ended (on SQLite the last one folds the WAL back into the database
    /// file).
    pub async fn close(&self) {
        self.pool.close().await;
        self.worker_pool.close().await;
        self.lease_pool.close().await;
    }

    /// How far the database server's clock is ahead of this process's (negative: behind), in
    /// milliseconds, judged at the midpoint of one round trip; `None` on SQLite (no server).
    pub async fn clock_skew_ms(&self) -> StoreResult<Option<i64>> {
        if self.backend == Backend::Sqlite {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        let sent = Utc::now();
        let server_ms: f64 = sqlx::query_scalar(
            "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS DOUBLE PRECISION)",
        )
        .fetch_one(&mut *conn)
        .await?;
        let back = Utc::now();
        let midpoint = sent.timestamp_millis() + (back - sent).num_milliseconds() / 2;
        Ok(Some(server_ms as i64 - midpoint))
    }

    /// Cheap round trip used by `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
