//! Pages of a task's event log bounded in events AND bytes: what every reader of `task_events`
//! uses (the API's output pages, the raw download, the WebSocket replay, the archiver), so no
//! read ever holds more than about one page of output in memory, however large the task.
//!
//! A page is read in two statements: the seqs and byte lengths of up to `limit` events (no
//! data), then the data of the events that fit in `max_bytes` (always at least one event, so a
//! single event larger than the cap still moves the reader forward).

use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreResult, TaskEvent, sql};

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Which events of a task a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventScope<'a> {
    /// Every event: output, target changes, done.
    All,
    /// Output events with `seq <= through` (what an archive run copies).
    OutputThrough(i64),
    /// Output events of one platform's stream (`stdout` or `stderr`).
    Stream { platform_id: Uuid, stream: &'a str },
    /// Output events of one platform, both streams.
    Platform(Uuid),
    /// Every event but output: target changes and done (what a page of counts follows).
    NoOutput,
    /// Target changes and done, and the output of one platform (one host, followed live).
    OutputOf(Uuid),
}

/// What a page read asks for: events with `seq > after` in `scope`, at most `limit` of them and
/// about `max_bytes` of data (at least one event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery<'a> {
    pub after: i64,
    pub limit: u32,
    pub max_bytes: usize,
    pub scope: EventScope<'a>,
}

/// A page of events in seq order, and whether more may follow (`more` is also set when the page
/// is exactly full: the next read may then be empty).
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<TaskEvent>,
    pub more: bool,
}

impl EventScope<'_> {
    /// The extra condition (binds from `$4`).
    fn condition(&self) -> &'static str {
        match self {
            EventScope::All => "",
            EventScope::OutputThrough(_) => " AND kind = 'output' AND seq <= $4",
            EventScope::Stream { .. } => {
                " AND kind = 'output' AND platform_id = $4 AND stream = $5"
            }
            EventScope::Platform(_) => " AND kind = 'output' AND platform_id = $4",
            EventScope::NoOutput => " AND kind <> 'output'",
            EventScope::OutputOf(_) => " AND (kind <> 'output' OR platform_id = $4)",
        }
    }

    fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        match *self {
            EventScope::All | EventScope::NoOutput => query,
            EventScope::OutputThrough(through) => query.bind(through),
            EventScope::Stream {
                platform_id,
                stream,
            } => query.bind(platform_id.to_string()).bind(stream.to_string()),
            EventScope::Platform(platform_id) | EventScope::OutputOf(platform_id) => {
                query.bind(platform_id.to_string())
            }
        }
    }
}

/// How many of `lengths` (in order) fit in `max_bytes`, at least one when there is one.
pub(crate) fn fitting(lengths: impl IntoIterator<Item = usize>, max_bytes: usize) -> usize {
    let mut total = 0usize;
    let mut count = 0;
    for len in lengths {
        total = total.saturating_add(len);
        if count > 0 && total > max_bytes {
            break;
        }
        count += 1;
    }
    count
}

impl Store {
    /// A page of task `task_id`'s events (see [`PageQuery`]), exact bytes, in seq order.
    pub async fn events_page(
        &self,
        task_id: Uuid,
        query: &PageQuery<'_>,
    ) -> StoreResult<EventPage> {
        if query.limit == 0 {
            return Ok(EventPage {
                events: Vec::new(),
                more: true,
            });
        }
        let condition = query.scope.condition();
        let sizes = query.scope.bind(
            sqlx::query(sql(format!(
                "SELECT seq, CAST(length(data) AS BIGINT) AS n FROM task_events
                 WHERE task_id = $1 AND seq > $2{condition} ORDER BY seq LIMIT $3"
            )))
            .bind(task_id.to_string())
            .bind(query.after)
            .bind(i64::from(query.limit)),
        );
        let sizes: Vec<(i64, usize)> = sizes
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("seq")?,
                    row.try_get::<i64, _>("n")?.max(0) as usize,
                ))
            })
            .collect::<StoreResult<_>>()?;
        let fit = fitting(sizes.iter().map(|(_, n)| *n), query.max_bytes);
        let Some((through, _)) = sizes.get(fit.wrapping_sub(1)) else {
            return Ok(EventPage::default());
        };
        let rows = query
            .scope
            .bind(
                sqlx::query(sql(format!(
                    "SELECT seq, kind, platform_id, stream, data FROM task_events
                     WHERE task_id = $1 AND seq > $2 AND seq <= $3{condition} ORDER BY seq"
                )))
                .bind(task_id.to_string())
                .bind(query.after)
                .bind(*through),
            )
            .fetch_all(&self.pool)
            .await?;
        Ok(EventPage {
            events: rows
                .iter()
                .map(super::tasks::event_from_row)
                .collect::<StoreResult<_>>()?,
            more: fit < sizes.len() || sizes.len() == query.limit as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fitting;

    #[test]
    fn fitting_keeps_at_least_one_and_stops_at_the_cap() {
        assert_eq!(fitting([], 10), 0);
        assert_eq!(fitting([50], 10), 1, "one event larger than the cap");
        assert_eq!(fitting([4, 4, 4], 10), 2);
        assert_eq!(fitting([4, 6, 4], 10), 2, "exactly the cap");
        assert_eq!(fitting([0, 0, 0], 0), 3);
    }
}
