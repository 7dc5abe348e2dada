//! Fan-out of "task X has new events" and "there is work" wake-ups: in-process, and on PostgreSQL
//! between processes through LISTEN/NOTIFY (the store sends `pg_notify` in the transaction that
//! writes; payloads are only task ids). The events themselves are read from the store, so a
//! subscriber that lags or misses a wake-up loses nothing: it re-reads from its last sequence
//! number (and polls every second anyway).

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::store::{CANCEL_CHANNEL, EVENTS_CHANNEL, WORK_CHANNEL};

/// Wake-ups for task event subscribers and workers.
#[derive(Clone)]
pub struct EventBus {
    tasks: broadcast::Sender<Uuid>,
    cancels: broadcast::Sender<Uuid>,
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
            cancels: broadcast::channel(64).0,
            work: Arc::new(Notify::new()),
        }
    }

    /// Tell subscribers that task `id` has new events (or was created or cancelled).
    pub fn notify(&self, id: Uuid) {
        // No subscriber is not an error.
        let _ = self.tasks.send(id);
    }

    /// Tell workers running targets of task `id` that it was asked to stop.
    pub fn notify_cancel(&self, id: Uuid) {
        let _ = self.cancels.send(id);
    }

    /// Subscribe to cancel requests (task ids). Only a wake-up: the store says whether a task
    /// was really cancelled.
    pub fn subscribe_cancels(&self) -> broadcast::Receiver<Uuid> {
        self.cancels.subscribe()
    }

    /// Tell workers that there may be targets to claim (a task was queued or cancelled).
    pub fn notify_work(&self) {
        self.work.notify_one();
    }

    /// Wait for [`EventBus::notify_work`].
    pub async fn work_available(&self) {
        self.work.notified().await;
    }

    /// Forward PostgreSQL notifications on [`EVENTS_CHANNEL`], [`WORK_CHANNEL`] and
    /// [`CANCEL_CHANNEL`] into this bus,
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
        listener
            .listen_all([EVENTS_CHANNEL, WORK_CHANNEL, CANCEL_CHANNEL])
            .await?;
        // Whatever happened while we were not listening: wake everyone to re-read.
        self.notify_work();
        loop {
            let notification = listener.recv().await?;
            match (
                notification.channel(),
                Uuid::parse_str(notification.payload()),
            ) {
                (WORK_CHANNEL, _) => self.notify_work(),
                (CANCEL_CHANNEL, Ok(task)) => self.notify_cancel(task),
                (_, Ok(task)) => self.notify(task),
                (_, Err(_)) => {}
            }
        }
    }

    /// Subscribe to wake-ups for every task.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.tasks.subscribe()
    }
}
