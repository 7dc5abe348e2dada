//! Fan-out of "task X has new events" and "there is work" wake-ups: in-process, and on PostgreSQL
//! between processes through LISTEN/NOTIFY (the store sends `pg_notify` in the transaction that
//! writes; payloads are only task ids). The events themselves are read from the store, so a
//! subscriber that lags or misses a wake-up loses nothing: it re-reads from its last sequence
//! number (and polls every second anyway).

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

/// PostgreSQL channel whose payload is the id of a task with new events.
pub const EVENTS_CHANNEL: &str = "testum_events";
/// PostgreSQL channel that tells workers a task was queued or cancelled.
pub const WORK_CHANNEL: &str = "testum_work";

/// Wake-ups for task event subscribers and workers.
#[derive(Clone)]
pub struct EventBus {
    tasks: broadcast::Sender<Uuid>,
    work: Arc<Notify>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    /// A bus with room for 1024 pending wake-ups per subscriber (more only means a lagged
    /// subscriber re-reads the store).
    pub fn new() -> EventBus {
        EventBus {
            tasks: broadcast::channel(1024).0,
            work: Arc::new(Notify::new()),
        }
    }

    /// Tell subscribers that task `id` has new events (or was created or cancelled).
    pub fn notify(&self, id: Uuid) {
        // No subscriber is not an error.
        let _ = self.tasks.send(id);
    }

    /// Tell workers that there may be targets to claim (a task was queued or cancelled).
    pub fn notify_work(&self) {
        self.work.notify_one();
    }

    /// Wait for [`EventBus::notify_work`].
    pub async fn work_available(&self) {
        self.work.notified().await;
    }

    /// Forward PostgreSQL notifications on [`EVENTS_CHANNEL`] and [`WORK_CHANNEL`] into this bus,
    /// from a background task that reconnects (after 1 s) whenever the listening connection fails.
    pub fn bridge_postgres(&self, url: String) {
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = bus.listen(&url).await {
                    tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
    }

    async fn listen(&self, url: &str) -> Result<(), sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen_all([EVENTS_CHANNEL, WORK_CHANNEL]).await?;
        // Whatever happened while we were not listening: wake everyone to re-read.
        self.notify_work();
        loop {
            let notification = listener.recv().await?;
            if notification.channel() == WORK_CHANNEL {
                self.notify_work();
            } else if let Ok(task) = Uuid::parse_str(notification.payload()) {
                let _ = self.tasks.send(task);
            }
        }
    }

    /// Subscribe to wake-ups for every task.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.tasks.subscribe()
    }
}
