//! Schema versions and whole-database facts: which migration version a database is at, which
//! this binary knows, the refusal of a database written by a newer testum, row counts per table
//! (backup manifests) and the SQLite online snapshot (`VACUUM INTO`).
//!
//! A schema version is the highest migration version applied (`_sqlx_migrations.version`, e.g.
//! 8 for `0008_archive_segments.sql`); each migration runs in a transaction of its own (sqlx's
//! default; none of ours opts out), so a failed migration leaves the database at the version
//! before it.

use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, Row as _};

use super::{Backend, Store, StoreError, StoreResult, sql};

/// The migrations of the SQLite backend, as built into this binary.
pub static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The migrations of the PostgreSQL backend, as built into this binary.
pub static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The table sqlx records applied migrations in; not counted or backed up as data.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

impl Backend {
    /// The migrations this binary applies on `self`.
    pub fn migrations(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The schema version this binary brings a database of `self` to (its last migration).
    pub fn known_schema_version(self) -> i64 {
        self.migrations()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }
}

/// The schema version of the database on `conn`: its highest successfully applied migration, 0
/// for a database testum never migrated.
pub(crate) async fn schema_version_of(conn: &mut AnyConnection) -> StoreResult<i64> {
    let exists: Option<String> = if conn.backend_name() == "PostgreSQL" {
        sqlx::query_scalar("SELECT CAST(to_regclass($1) AS TEXT)")
            .bind(MIGRATIONS_TABLE)
            .fetch_one(&mut *conn)
            .await?
    } else {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = $1")
            .bind(MIGRATIONS_TABLE)
            .fetch_optional(&mut *conn)
            .await?
    };
    if exists.is_none() {
        return Ok(0);
    }
    let version: Option<i64> = sqlx::query_scalar(sql(format!(
        "SELECT MAX(version) FROM {MIGRATIONS_TABLE} WHERE success"
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(version.unwrap_or(0))
}

/// [`StoreError::TooNew`] when the database on `conn` was migrated past what `backend`'s
/// migrations in this binary know; checked before migrating, so a newer database is never
/// touched by an older binary.
pub(crate) async fn refuse_newer(conn: &mut AnyConnection, backend: Backend) -> StoreResult<()> {
    let found = schema_version_of(conn).await?;
    let known = backend.known_schema_version();
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(())
}

/// Names of the data tables of the database on `conn` (every table but sqlx's migrations
/// table), sorted.
pub(crate) async fn table_names(conn: &mut AnyConnection) -> StoreResult<Vec<String>> {
    let statement = if conn.backend_name() == "PostgreSQL" {
        "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema()
         AND tablename <> $1 ORDER BY tablename"
    } else {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> $1
         AND name NOT LIKE 'sqlite_%' ORDER BY name"
    };
    Ok(sqlx::query_scalar(statement)
        .bind(MIGRATIONS_TABLE)
        .fetch_all(&mut *conn)
        .await?)
}

/// Rows per data table of the database on `conn`, by table name (sorted).
pub async fn table_counts(
    conn: &mut AnyConnection,
) -> StoreResult<std::collections::BTreeMap<String, i64>> {
    let mut counts = std::collections::BTreeMap::new();
    for table in table_names(conn).await? {
        // `table` comes from the catalogue, and is quoted as an identifier.
        let row = sqlx::query(sql(format!(
            "SELECT COUNT(*) AS n FROM \"{}\"",
            table.replace('"', "\"\"")
        )))
        .fetch_one(&mut *conn)
        .await?;
        counts.insert(table, row.try_get::<i64, _>("n")?);
    }
    Ok(counts)
}

impl Store {
    /// The schema version of the database at `url`, read on one connection without migrating
    /// anything (0 for a database testum never migrated). A SQLite file that does not exist is
    /// an error, not a new database.
    pub async fn probe_schema_version(url: &str) -> StoreResult<i64> {
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(url).await?;
        let version = schema_version_of(&mut conn).await;
        conn.close().await.ok();
        version
    }

    /// The schema version of this database (see the module docs).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await?;
        schema_version_of(&mut conn).await
    }

    /// Rows per data table, by table name.
    pub async fn table_counts(&self) -> StoreResult<std::collections::BTreeMap<String, i64>> {
        let mut conn = self.pool.acquire().await?;
        table_counts(&mut conn).await
    }

    /// Write a consistent copy of this SQLite database to the new file `path` while other
    /// connections go on writing (`VACUUM INTO`: one read transaction, so the copy is the
    /// database as of one instant). Errors: [`StoreError::Conflict`] on PostgreSQL; `path`
    /// existing or unwritable is a database error.
    pub async fn snapshot_into(&self, path: &Path) -> StoreResult<()> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Conflict(
                "an online snapshot is for SQLite; back PostgreSQL up with pg_dump".into(),
            ));
        }
        let path = path
            .to_str()
            .ok_or_else(|| StoreError::Conflict(format!("{} is not UTF-8", path.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
