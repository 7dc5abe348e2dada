//! Notification events (issue 11): what happened in the fleet that someone outside testum should
//! hear about. [`Store::notify_event`] is the one call every part of testum makes; it queues one
//! delivery per enabled webhook endpoint subscribed to the event (`notification_deliveries`),
//! which the senders of every worker process claim with a lease and send (see
//! [`crate::notify`]). Every attempt is recorded (`notification_attempts`).
//!
//! An endpoint's URL and secret are sealed under the master key (the store only keeps the bytes
//! and the URL's origin, which is all the API shows).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use super::audit::{Deletion, delete_audited, insert as audit};
use super::{
    Actor, Cursor, IN_LIST, NewAudit, Page, PageRequest, Store, StoreError, StoreResult, now_ts,
    parse_opt_ts, parse_ts, parse_uuid, parse_word, placeholders, sql, ts, unique_violation,
};

crate::words! {
    /// An event a notification endpoint can subscribe to.
    pub enum NotificationEvent {
        /// A task ended with at least one failed target.
        TaskFailed => "task.failed",
        /// A task ended with every target succeeded.
        TaskSucceeded => "task.succeeded",
        /// A scan found a platform drifted from its assignments.
        DriftFound => "drift.found",
        /// A platform answered with a host key other than the pinned one.
        HostKeyMismatch => "host_key.mismatch",
        /// A key or assignment expires within the warning window.
        KeyExpiring => "key.expiring",
        /// An expired key or assignment was queued for removal.
        KeyExpired => "key.expired",
        /// A schedule's firing could not create its task.
        ScheduleFailed => "schedule.failed",
    }
}

crate::words! {
    /// How a delivery's body is shaped.
    pub enum NotificationFormat {
        /// `{"event", "id", "at", ...payload}`.
        Json => "json",
        /// A Slack incoming-webhook message, `{"text": "..."}`.
        Slack => "slack",
    }
}

crate::words! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt (`next_attempt_at`).
        Pending => "pending",
        /// The endpoint answered 2xx.
        Delivered => "delivered",
        /// Every attempt failed; no more are made.
        Failed => "failed",
    }
}

/// The event word of a test delivery (`POST /api/notifications/{id}/test`).
pub const TEST_EVENT: &str = "test";

/// A webhook endpoint as the API shows it: never the secret nor the full URL.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationEndpoint {
    pub id: Uuid,
    pub name: String,
    /// The URL's `scheme://host[:port]`; the path and query (which may hold a token) are sealed.
    pub url_origin: String,
    /// Whether deliveries are signed (`X-Testum-Signature`).
    pub has_secret: bool,
    pub events: Vec<NotificationEvent>,
    pub format: NotificationFormat,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated endpoint to create. `sealed` holds the URL and secret sealed for `id` (see
/// [`crate::notify::seal_target`]).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: Uuid,
    pub name: String,
    pub url_origin: String,
    pub sealed: Vec<u8>,
    pub has_secret: bool,
    pub events: Vec<NotificationEvent>,
    pub format: NotificationFormat,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field alone. `target` is `(origin, sealed, has_secret)`
/// re-sealed for the endpoint's id.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub target: Option<(String, Vec<u8>, bool)>,
    pub events: Option<Vec<NotificationEvent>>,
    pub format: Option<NotificationFormat>,
    pub enabled: Option<bool>,
}

/// One attempt at sending a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// How long the request took, in milliseconds.
    pub duration_ms: u64,
    /// The HTTP status of the answer; `null` when there was none (timeout, refused, ...).
    pub http_status: Option<u16>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    /// The first 1 KiB of the answer's body (lossy UTF-8).
    pub response: Option<String>,
}

/// A delivery of one event to one endpoint, with its attempts (newest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// An event word, or `test`.
    pub event: String,
    /// The event's id (the same on every endpoint's delivery of it).
    pub event_id: Uuid,
    pub status: DeliveryStatus,
    /// The exact request body sent.
    pub body: String,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When it was delivered or given up.
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: Vec<DeliveryAttempt>,
}

/// A delivery claimed for one attempt by [`Store::claim_deliveries`].
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The endpoint's sealed URL and secret.
    pub sealed: Vec<u8>,
    /// The endpoint's URL origin (for logs).
    pub url_origin: String,
}

/// The outcome of one attempt, to record with [`Store::record_attempt`].
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub response: Option<String>,
    /// `None`: delivered (2xx) or given up (see `give_up`); else when to try again.
    pub retry_at: Option<DateTime<Utc>>,
}

const ENDPOINT_COLUMNS: &str = "id, name, origin, has_secret, events, format, enabled, \
                                created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, endpoint_id, event, event_id, status, body, \
                                next_attempt_at, created_at, finished_at";
const NAME_TAKEN: &str = "a notification endpoint with this name already exists";

fn endpoint_from_row(row: &AnyRow) -> StoreResult<NotificationEndpoint> {
    Ok(NotificationEndpoint {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        url_origin: row.try_get("origin")?,
        has_secret: row.try_get::<i64, _>("has_secret")? != 0,
        events: parse_events(row.try_get("events")?)?,
        format: parse_word("notification_endpoints.format", row.try_get("format")?)?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

fn parse_events(text: &str) -> StoreResult<Vec<NotificationEvent>> {
    let words: Vec<String> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("notification_endpoints.events: {e}")))?;
    words
        .into_iter()
        .map(|w| parse_word("notification_endpoints.events", w))
        .collect()
}

fn events_json(events: &[NotificationEvent]) -> String {
    json!(events).to_string()
}

fn delivery_from_row(row: &AnyRow) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: parse_uuid(row.try_get("id")?)?,
        endpoint_id: parse_uuid(row.try_get("endpoint_id")?)?,
        event: row.try_get("event")?,
        event_id: parse_uuid(row.try_get("event_id")?)?,
        status: parse_word("notification_deliveries.status", row.try_get("status")?)?,
        body: row.try_get("body")?,
        next_attempt_at: parse_opt_ts(row.try_get("next_attempt_at")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
        finished_at: parse_opt_ts(row.try_get("finished_at")?)?,
        attempts: Vec::new(),
    })
}

fn attempt_from_row(row: &AnyRow) -> StoreResult<DeliveryAttempt> {
    fn corrupt(what: &'static str) -> impl Fn(std::num::TryFromIntError) -> StoreError {
        move |e| StoreError::Corrupt(format!("notification_attempts.{what}: {e}"))
    }
    Ok(DeliveryAttempt {
        attempt: u32::try_from(row.try_get::<i64, _>("attempt")?).map_err(corrupt("attempt"))?,
        at: parse_ts(row.try_get("at")?)?,
        duration_ms: u64::try_from(row.try_get::<i64, _>("duration_ms")?)
            .map_err(corrupt("duration_ms"))?,
        http_status: row
            .try_get::<Option<i64>, _>("http_status")?
            .map(u16::try_from)
            .transpose()
            .map_err(corrupt("http_status"))?,
        error: row.try_get("error")?,
        response: row.try_get("response")?,
    })
}

/// The body of one event as an endpoint of `format` receives it: `{event, id, at, ...payload}`
/// (payload keys never override the first three), or Slack's `{"text": ...}`.
pub fn render_body(
    format: NotificationFormat,
    event: &str,
    event_id: Uuid,
    at: DateTime<Utc>,
    payload: &serde_json::Value,
) -> String {
    match format {
        NotificationFormat::Json => {
            let mut body = serde_json::Map::new();
            if let Some(fields) = payload.as_object() {
                body.extend(fields.clone());
            }
            body.insert("event".into(), json!(event));
            body.insert("id".into(), json!(event_id));
            body.insert("at".into(), json!(ts(at)));
            serde_json::Value::Object(body).to_string()
        }
        NotificationFormat::Slack => json!({"text": slack_text(event, payload)}).to_string(),
    }
}

/// One line for a chat: `testum: task.failed: task 1b2c... (run_command) failed on 3 of 10
/// target(s)`, else the event and its payload's fields.
fn slack_text(event: &str, payload: &serde_json::Value) -> String {
    let field = |name: &str| payload.get(name).and_then(|v| v.as_str()).unwrap_or("?");
    let number = |name: &str| payload.get(name).and_then(|v| v.as_u64()).unwrap_or(0);
    let detail = match event {
        "task.failed" | "task.succeeded" => format!(
            "task {} ({}) {}: {} of {} target(s) failed",
            field("task_id"),
            field("kind"),
            field("status"),
            number("failed_targets"),
            number("targets")
        ),
        "host_key.mismatch" => format!(
            "platform {} ({}:{}) presented host key {}, pinned {}",
            field("platform"),
            field("host"),
            number("port"),
            field("presented"),
            field("pinned")
        ),
        "drift.found" => format!(
            "{} platform(s) drifted (task {})",
            number("platforms"),
            field("task_id")
        ),
        _ => payload.to_string(),
    };
    format!("testum: {event}: {detail}")
}

/// Queue `event` (with `payload`) for every enabled endpoint subscribed to it, on `conn` (in the
/// caller's transaction, so the event is queued exactly when the change that causes it
/// commits). Returns how many deliveries were queued.
pub(crate) async fn queue_event(
    conn: &mut AnyConnection,
    event: NotificationEvent,
    payload: &serde_json::Value,
) -> StoreResult<usize> {
    let endpoints = subscribers(conn, event).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let event_id = Uuid::new_v4();
    let now = Utc::now();
    for (endpoint_id, format) in &endpoints {
        let body = render_body(*format, event.as_str(), event_id, now, payload);
        insert_delivery(conn, *endpoint_id, event.as_str(), event_id, &body, now).await?;
    }
    Ok(endpoints.len())
}

/// The enabled endpoints subscribed to `event`, with their formats (few rows: the table holds
/// endpoints, not events).
pub(crate) async fn subscribers(
    conn: &mut AnyConnection,
    event: NotificationEvent,
) -> StoreResult<Vec<(Uuid, NotificationFormat)>> {
    let rows =
        sqlx::query("SELECT id, events, format FROM notification_endpoints WHERE enabled = 1")
            .fetch_all(&mut *conn)
            .await?;
    let mut out = Vec::new();
    for row in &rows {
        if parse_events(row.try_get("events")?)?.contains(&event) {
            out.push((
                parse_uuid(row.try_get("id")?)?,
                parse_word("notification_endpoints.format", row.try_get("format")?)?,
            ));
        }
    }
    Ok(out)
}

async fn insert_delivery(
    conn: &mut AnyConnection,
    endpoint_id: Uuid,
    event: &str,
    event_id: Uuid,
    body: &str,
    now: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO notification_deliveries (id, endpoint_id, event, event_id, body, status,
             attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
    )
    .bind(id.to_string())
    .bind(endpoint_id.to_string())
    .bind(event)
    .bind(event_id.to_string())
    .bind(body)
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

impl Store {
    /// Queue `event` with `payload` (a JSON object: what happened, with ids and names, never a
    /// secret) for every enabled endpoint subscribed to it: one delivery row each, sent by the
    /// workers' senders. Cheap when nobody subscribes (one small read).
    pub async fn notify_event(
        &self,
        event: NotificationEvent,
        payload: serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let queued = queue_event(&mut tx, event, &payload).await?;
        tx.commit().await?;
        tracing::debug!(event = %event, queued, "notification event");
        Ok(())
    }

    /// Create an endpoint, audited as `notification.create`. [`StoreError::Conflict`] when the
    /// name is taken.
    pub async fn create_notification_endpoint(
        &self,
        actor: &Actor,
        new: NewEndpoint,
    ) -> StoreResult<NotificationEndpoint> {
        let now = now_ts();
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "INSERT INTO notification_endpoints (id, name, origin, sealed, has_secret, events,
                 format, enabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(new.id.to_string())
        .bind(&new.name)
        .bind(&new.url_origin)
        .bind(new.sealed)
        .bind(i64::from(new.has_secret))
        .bind(events_json(&new.events))
        .bind(new.format.as_str())
        .bind(i64::from(new.enabled))
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_violation(NAME_TAKEN))?;
        let endpoint = endpoint_from_row(&row)?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "notification.create",
                target: Some(format!("notification:{}", new.id)),
                outcome: "success",
                details: endpoint_details(&endpoint),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Endpoints, newest first.
    pub async fn list_notification_endpoints(
        &self,
        page: &PageRequest,
    ) -> StoreResult<Page<NotificationEndpoint>> {
        self.list_newest(
            "notification_endpoints",
            ENDPOINT_COLUMNS,
            page,
            endpoint_from_row,
            |e| Cursor {
                created_at: ts(e.created_at),
                id: e.id.to_string(),
            },
        )
        .await
    }

    /// The endpoint with `id`, if any.
    pub async fn notification_endpoint(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<NotificationEndpoint>> {
        let row = sqlx::query(sql(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM notification_endpoints WHERE id = $1"
        )))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// The sealed URL and secret of endpoint `id`, if it exists.
    pub async fn notification_endpoint_sealed(&self, id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM notification_endpoints WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Change an endpoint, audited as `notification.update` (with the names of the changed
    /// fields, never the URL or secret). [`StoreError::NotFound`], or
    /// [`StoreError::Conflict`] for a taken name.
    pub async fn update_notification_endpoint(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: EndpointPatch,
    ) -> StoreResult<NotificationEndpoint> {
        let mut changed = Vec::new();
        if patch.name.is_some() {
            changed.push("name");
        }
        if patch.target.is_some() {
            changed.push("url_or_secret");
        }
        if patch.events.is_some() {
            changed.push("events");
        }
        if patch.format.is_some() {
            changed.push("format");
        }
        if patch.enabled.is_some() {
            changed.push("enabled");
        }
        let (origin, sealed, has_secret) = match patch.target {
            Some((origin, sealed, has_secret)) => {
                (Some(origin), Some(sealed), Some(i64::from(has_secret)))
            }
            None => (None, None, None),
        };
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(sql(format!(
            "UPDATE notification_endpoints SET name = COALESCE($2, name),
                 origin = COALESCE($3, origin), sealed = COALESCE($4, sealed),
                 has_secret = COALESCE($5, has_secret), events = COALESCE($6, events),
                 format = COALESCE($7, format), enabled = COALESCE($8, enabled), updated_at = $9
             WHERE id = $1 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(id.to_string())
        .bind(patch.name)
        .bind(origin)
        .bind(sealed)
        .bind(has_secret)
        .bind(patch.events.as_deref().map(events_json))
        .bind(patch.format.map(|f| f.as_str()))
        .bind(patch.enabled.map(i64::from))
        .bind(now_ts())
        .fetch_optional(&mut *tx)
        .await
        .map_err(unique_violation(NAME_TAKEN))?
        .ok_or(StoreError::NotFound)?;
        let endpoint = endpoint_from_row(&row)?;
        let mut details = endpoint_details(&endpoint);
        details["changed"] = json!(changed);
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "notification.update",
                target: Some(format!("notification:{id}")),
                outcome: "success",
                details,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Delete an endpoint and its deliveries, audited as `notification.delete`.
    /// [`StoreError::NotFound`] when there is none.
    pub async fn delete_notification_endpoint(&self, actor: &Actor, id: Uuid) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        delete_audited(
            &mut tx,
            self.chain_key(),
            actor,
            Deletion {
                statement: "DELETE FROM notification_endpoints WHERE id = $1 RETURNING name",
                id,
                column: "name",
            },
            "notification.delete",
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Queue a `test` delivery to endpoint `id` (whatever its events), audited as
    /// `notification.test`; returns the delivery's id. [`StoreError::NotFound`].
    pub async fn queue_test_notification(&self, actor: &Actor, id: Uuid) -> StoreResult<Uuid> {
        let mut tx = self.write_tx().await?;
        let format: Option<String> =
            sqlx::query_scalar("SELECT format FROM notification_endpoints WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let format: NotificationFormat = parse_word(
            "notification_endpoints.format",
            format.ok_or(StoreError::NotFound)?,
        )?;
        let now = Utc::now();
        let event_id = Uuid::new_v4();
        let payload = json!({"message": "a test delivery from testum", "requested_by": actor.name});
        let body = render_body(format, TEST_EVENT, event_id, now, &payload);
        let delivery = insert_delivery(&mut tx, id, TEST_EVENT, event_id, &body, now).await?;
        audit(
            &mut tx,
            self.chain_key(),
            NewAudit {
                actor,
                action: "notification.test",
                target: Some(format!("notification:{id}")),
                outcome: "success",
                details: json!({"delivery_id": delivery}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// Deliveries of endpoint `id`, newest first, each with its attempts (newest first).
    pub async fn list_deliveries(
        &self,
        endpoint_id: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Delivery>> {
        let endpoint = endpoint_id.to_string();
        let mut page = self
            .list_newest_where(
                "notification_deliveries",
                DELIVERY_COLUMNS,
                Some(("endpoint_id", &endpoint)),
                page,
                delivery_from_row,
                |d| Cursor {
                    created_at: ts(d.created_at),
                    id: d.id.to_string(),
                },
            )
            .await?;
        let ids: Vec<Uuid> = page.items.iter().map(|d| d.id).collect();
        let mut attempts: HashMap<Uuid, Vec<DeliveryAttempt>> = HashMap::new();
        for chunk in ids.chunks(IN_LIST) {
            let mut query = sqlx::query(sql(format!(
                "SELECT delivery_id, attempt, at, duration_ms, http_status, error, response
                 FROM notification_attempts WHERE delivery_id IN ({})
                 ORDER BY delivery_id, attempt DESC",
                placeholders(chunk.len())
            )));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                attempts
                    .entry(parse_uuid(row.try_get("delivery_id")?)?)
                    .or_default()
                    .push(attempt_from_row(&row)?);
            }
        }
        for delivery in &mut page.items {
            delivery.attempts = attempts.remove(&delivery.id).unwrap_or_default();
        }
        Ok(page)
    }

    /// Claim up to `limit` due deliveries of enabled endpoints for one attempt by `owner`, for
    /// `lease`: the oldest due delivery of each endpoint that has none in flight, so a slow or
    /// hanging endpoint holds one sender slot at most (per process; two processes claiming in
    /// the same instant may each take one), and an endpoint gets one request at a time. The
    /// update re-checks the lease columns (compare-and-swap), so one process sends each attempt;
    /// a sender that dies leaves its claims to be taken again when the lease ends.
    pub async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
        lease: Duration,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "UPDATE notification_deliveries SET lease_owner = $1, lease_expires_at = $2
             WHERE id IN (
                 SELECT c.id FROM (
                     SELECT (SELECT d.id FROM notification_deliveries d
                             WHERE d.endpoint_id = e.id AND d.status = 'pending'
                               AND d.next_attempt_at <= $3
                               AND (d.lease_expires_at IS NULL OR d.lease_expires_at < $3)
                             ORDER BY d.next_attempt_at, d.id LIMIT 1) AS id
                     FROM notification_endpoints e
                     WHERE e.enabled = 1 AND NOT EXISTS (
                         SELECT 1 FROM notification_deliveries f
                         WHERE f.endpoint_id = e.id AND f.status = 'pending'
                           AND f.lease_expires_at >= $3)
                 ) c WHERE c.id IS NOT NULL LIMIT $4)
               AND status = 'pending' AND (lease_expires_at IS NULL OR lease_expires_at < $3)
             RETURNING id, endpoint_id, event, body, attempts,
                 (SELECT e.sealed FROM notification_endpoints e
                  WHERE e.id = notification_deliveries.endpoint_id) AS sealed,
                 (SELECT e.origin FROM notification_endpoints e
                  WHERE e.id = notification_deliveries.endpoint_id) AS origin",
        )
        .bind(owner)
        .bind(ts(until))
        .bind(ts(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                Ok(ClaimedDelivery {
                    id: parse_uuid(row.try_get("id")?)?,
                    endpoint_id: parse_uuid(row.try_get("endpoint_id")?)?,
                    event: row.try_get("event")?,
                    body: row.try_get("body")?,
                    attempts: u32::try_from(row.try_get::<i64, _>("attempts")?)
                        .map_err(|e| StoreError::Corrupt(format!("attempts: {e}")))?,
                    sealed: row.try_get("sealed")?,
                    url_origin: row.try_get("origin")?,
                })
            })
            .collect()
    }

    /// Record one attempt of a delivery `owner` claimed: the attempt row, and the delivery's
    /// new state (delivered for a 2xx, pending again at `retry_at`, or failed when neither).
    /// Nothing is written when `owner` no longer holds the claim.
    pub async fn record_attempt(
        &self,
        owner: &str,
        delivery: Uuid,
        outcome: &AttemptOutcome,
    ) -> StoreResult<()> {
        let delivered = outcome.http_status.is_some_and(|s| (200..300).contains(&s));
        let status = match (delivered, outcome.retry_at) {
            (true, _) => DeliveryStatus::Delivered,
            (false, Some(_)) => DeliveryStatus::Pending,
            (false, None) => DeliveryStatus::Failed,
        };
        let finished = (status != DeliveryStatus::Pending).then(|| ts(outcome.at));
        let next = (status == DeliveryStatus::Pending)
            .then_some(outcome.retry_at)
            .flatten()
            .map(ts);
        let mut tx = self.write_tx().await?;
        let attempt: Option<i64> = sqlx::query_scalar(
            "UPDATE notification_deliveries SET attempts = attempts + 1, status = $3,
                 next_attempt_at = $4, finished_at = $5, lease_owner = NULL,
                 lease_expires_at = NULL
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING attempts",
        )
        .bind(delivery.to_string())
        .bind(owner)
        .bind(status.as_str())
        .bind(next)
        .bind(finished)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(attempt) = attempt else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO notification_attempts (delivery_id, attempt, at, duration_ms,
                 http_status, error, response)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(delivery.to_string())
        .bind(attempt)
        .bind(ts(outcome.at))
        .bind(i64::try_from(outcome.duration_ms).unwrap_or(i64::MAX))
        .bind(outcome.http_status.map(i64::from))
        .bind(&outcome.error)
        .bind(&outcome.response)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete delivered and failed deliveries (with their attempts) that ended before `before`;
    /// returns how many.
    pub async fn prune_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "DELETE FROM notification_deliveries
             WHERE status IN ('delivered', 'failed') AND finished_at < $1",
        )
        .bind(ts(before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done)
    }
}

/// What the audit log keeps of an endpoint: never its URL (only the origin) nor its secret.
fn endpoint_details(endpoint: &NotificationEndpoint) -> serde_json::Value {
    json!({"name": endpoint.name, "url_origin": endpoint.url_origin,
           "has_secret": endpoint.has_secret, "events": endpoint.events,
           "format": endpoint.format, "enabled": endpoint.enabled})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_keeps_event_id_and_at_over_the_payload() {
        let id = Uuid::nil();
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = render_body(
            NotificationFormat::Json,
            "task.failed",
            id,
            at,
            &json!({"event": "spoofed", "task_id": "t"}),
        );
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["event"], "task.failed");
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["at"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(body["task_id"], "t");
        let slack = render_body(
            NotificationFormat::Slack,
            "task.failed",
            id,
            at,
            &json!({"task_id": "t", "kind": "run_command", "status": "failed",
                    "targets": 10, "failed_targets": 3}),
        );
        assert_eq!(
            slack,
            json!({"text": "testum: task.failed: task t (run_command) failed: 3 of 10 target(s) failed"})
                .to_string()
        );
    }
}
