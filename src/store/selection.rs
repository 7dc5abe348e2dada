//! Resolving a [`Selector`] against the platforms table: read in pages, match in Rust.
//!
//! A selector's globs and tag tests are evaluated by [`Selector::matches`] rather than
//! translated to SQL, so both backends select exactly the same platforms. Each page is one
//! short query; no connection is held between pages.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::platforms::Platform;
use super::scans::PlatformState;
use super::{
    Cursor, IN_LIST, Page, PageRequest, Store, StoreError, StoreResult, page_of, parse_uuid,
    parse_word, placeholders, sql, ts,
};
use crate::selector::{PlatformFacts, Selector};

/// Platforms read per query while resolving a selector.
const PAGE: i64 = 1000;

/// What a selector (or a grant's selector) looks at in one stored platform, as read from a row;
/// [`StoredFacts::facts`] is what [`Selector::matches`] takes.
#[derive(Debug, Clone)]
pub struct StoredFacts {
    pub id: Uuid,
    pub name: String,
    host: String,
    tags: Vec<String>,
    state: PlatformState,
    pinned: bool,
    presented: bool,
}

/// The columns [`StoredFacts::from_row`] reads, from `platforms`.
const FACTS_COLUMNS: &str =
    "id, name, host, tags, host_key_fingerprint, presented_host_key_fingerprint,
     (SELECT s.state FROM platform_scans s WHERE s.platform_id = platforms.id) AS scan_state";

impl StoredFacts {
    fn from_row(row: &AnyRow) -> StoreResult<StoredFacts> {
        let tags: String = row.try_get("tags")?;
        Ok(StoredFacts {
            id: parse_uuid(row.try_get("id")?)?,
            name: row.try_get("name")?,
            host: row.try_get("host")?,
            tags: serde_json::from_str(&tags)
                .map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
            state: match row.try_get::<Option<String>, _>("scan_state")? {
                Some(state) => parse_word("platform_scans.state", state)?,
                None => PlatformState::NeverScanned,
            },
            pinned: row
                .try_get::<Option<String>, _>("host_key_fingerprint")?
                .is_some(),
            presented: row
                .try_get::<Option<String>, _>("presented_host_key_fingerprint")?
                .is_some(),
        })
    }

    /// The facts as a selector reads them.
    pub fn facts(&self) -> PlatformFacts<'_> {
        PlatformFacts {
            name: &self.name,
            host: &self.host,
            tags: &self.tags,
            state: self.state,
            pinned: self.pinned,
            presented: self.presented,
        }
    }
}

impl Store {
    /// `(id, name)` of every platform `selector` matches, ordered by name (byte order, the same
    /// on both backends); empty when none does. Reads the platforms 1000 at a time by name, one
    /// query per page, never holding a connection between pages. The state a selector sees is
    /// the latest scan's (`never_scanned` without one).
    pub async fn select_platforms(&self, selector: &Selector) -> StoreResult<Vec<(Uuid, String)>> {
        let mut selected = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows = sqlx::query(sql(format!(
                "SELECT {FACTS_COLUMNS}
                 FROM platforms WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2"
            )))
            .bind(after.clone())
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let full = rows.len() as i64 == PAGE;
            for row in &rows {
                let platform = StoredFacts::from_row(row)?;
                if selector.matches(&platform.facts()) {
                    selected.push((platform.id, platform.name.clone()));
                }
                after = Some(platform.name);
            }
            if !full {
                break;
            }
        }
        selected.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(selected)
    }

    /// The facts of each platform of `ids` that exists (ids without a platform are left out),
    /// one query per 500 ids.
    pub async fn platform_facts(&self, ids: &[Uuid]) -> StoreResult<Vec<StoredFacts>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT {FACTS_COLUMNS} FROM platforms WHERE id IN ({})",
                placeholders(chunk.len())
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(StoredFacts::from_row(&row)?);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// [`Store::list_platforms`] narrowed to the platforms `selector` matches: a newest-first
    /// page of at most `page.limit` of them after `page.cursor`, with the cursor of the next.
    /// Reads the platforms in batches (each one short query) until the page is full or the
    /// list ends.
    pub async fn list_selected_platforms(
        &self,
        selector: &Selector,
        state: Option<PlatformState>,
        page: &PageRequest,
    ) -> StoreResult<Page<Platform>> {
        let limit = page.limit as usize;
        let mut items = Vec::new();
        let mut batch = PageRequest {
            limit: u32::try_from(PAGE).unwrap_or(1000),
            cursor: page.cursor.clone(),
        };
        loop {
            let read = self.list_platforms(state, &batch).await?;
            for platform in read.items {
                if selector.matches(&PlatformFacts::from(&platform)) {
                    items.push(platform);
                }
            }
            if items.len() > limit {
                break;
            }
            match read.next_cursor.as_deref().and_then(Cursor::decode) {
                Some(next) => batch.cursor = Some(next),
                None => break,
            }
        }
        Ok(page_of(items, page.limit, |p: &Platform| Cursor {
            created_at: ts(p.created_at),
            id: p.id.to_string(),
        }))
    }
}
