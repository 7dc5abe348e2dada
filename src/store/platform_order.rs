//! Platforms in an order other than newest first (by name, host or state), narrowed by a
//! selector, a page at a time.
//!
//! The selector is evaluated in Rust (see [`super::selection`]), so the matching platforms are
//! read whole (1000 per query, by name), sorted in Rust (byte order, the same on both backends)
//! and cut after the cursor. The cursor is the last item's sort key, not an offset: a platform
//! added or deleted between two pages neither repeats nor skips another.

use super::platforms::{COLUMNS, Platform, platform_from_row};
use super::scans::PlatformState;
use super::{Page, Store, StoreResult, sql};
use crate::selector::{PlatformFacts, Selector};
use base64::Engine as _;

/// Platforms read per query.
const BATCH: i64 = 1000;

crate::words! {
    /// Order of a platform list (`sort=`).
    pub enum PlatformSort {
        /// Newest first (creation time), the default.
        Newest => "newest",
        /// By name.
        Name => "name",
        /// By host, then name.
        Host => "host",
        /// Worst state first (host_key_mismatch, error, unreachable, drift, never_scanned,
        /// in_sync), then name.
        State => "state",
    }
}

/// Where a state sorts under [`PlatformSort::State`]: the ones that need attention first.
fn state_rank(state: PlatformState) -> u8 {
    match state {
        PlatformState::HostKeyMismatch => 0,
        PlatformState::Error => 1,
        PlatformState::Unreachable => 2,
        PlatformState::Drift => 3,
        PlatformState::NeverScanned => 4,
        PlatformState::InSync => 5,
    }
}

/// Position in a list sorted by name, host or state: the last item's sort key (names are
/// unique, so `(key, name)` orders every platform). Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortCursor {
    sort: PlatformSort,
    key: String,
    name: String,
}

impl SortCursor {
    fn of(sort: PlatformSort, p: &Platform) -> SortCursor {
        let (key, name) = sort_key(sort, p);
        SortCursor { sort, key, name }
    }

    /// Opaque URL-safe form handed to clients.
    pub fn encode(&self) -> String {
        let raw = serde_json::json!([self.sort, self.key, self.name]).to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parse a client's cursor for a list sorted by `sort`; `None` when it is not one of ours
    /// or belongs to another order.
    pub fn decode(sort: PlatformSort, text: &str) -> Option<SortCursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let (was, key, name): (PlatformSort, String, String) = serde_json::from_slice(&raw).ok()?;
        (was == sort).then_some(SortCursor { sort, key, name })
    }
}

/// `(key, name)` of `p` under `sort`.
fn sort_key(sort: PlatformSort, p: &Platform) -> (String, String) {
    let key = match sort {
        PlatformSort::Newest | PlatformSort::Name => String::new(),
        PlatformSort::Host => p.host.to_ascii_lowercase(),
        PlatformSort::State => state_rank(p.state).to_string(),
    };
    (key, p.name.clone())
}

impl Store {
    /// The platforms `selector` matches, sorted by `sort` (name, host or state; newest first
    /// is [`Store::list_selected_platforms`]), at most `limit` after `after`, with the cursor
    /// of the next page, and how many platforms match in all (every one is read to sort them,
    /// so the count costs nothing more). `sort` newest sorts by name here.
    pub async fn list_sorted_platforms(
        &self,
        selector: &Selector,
        sort: PlatformSort,
        after: Option<&SortCursor>,
        limit: u32,
    ) -> StoreResult<(Page<Platform>, usize)> {
        let mut keyed: Vec<((String, String), Platform)> = self
            .matching_platforms(selector)
            .await?
            .into_iter()
            .map(|p| (sort_key(sort, &p), p))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let start = match after {
            Some(cursor) => {
                let position = (cursor.key.clone(), cursor.name.clone());
                keyed.partition_point(|(key, _)| *key <= position)
            }
            None => 0,
        };
        let limit = limit as usize;
        let matching = keyed.len();
        let rest = matching.saturating_sub(start);
        let items: Vec<Platform> = keyed
            .into_iter()
            .skip(start)
            .take(limit)
            .map(|(_, p)| p)
            .collect();
        let next_cursor = match (rest > limit, items.last()) {
            (true, Some(last)) => Some(SortCursor::of(sort, last).encode()),
            _ => None,
        };
        Ok((Page { items, next_cursor }, matching))
    }

    /// Every platform `selector` matches, whole, in name order; read [`BATCH`] at a time.
    async fn matching_platforms(&self, selector: &Selector) -> StoreResult<Vec<Platform>> {
        let mut matched = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let rows = sqlx::query(sql(format!(
                "SELECT {COLUMNS} FROM platforms WHERE ($1 IS NULL OR name > $1)
                 ORDER BY name LIMIT $2"
            )))
            .bind(after.clone())
            .bind(BATCH)
            .fetch_all(&self.pool)
            .await?;
            let full = rows.len() as i64 == BATCH;
            for row in &rows {
                let platform = platform_from_row(row)?;
                after = Some(platform.name.clone());
                if selector.matches(&PlatformFacts::from(&platform)) {
                    matched.push(platform);
                }
            }
            if !full {
                return Ok(matched);
            }
        }
    }
}
