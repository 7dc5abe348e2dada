//! In-process fan-out: "task X has new events" wake-ups. The events themselves are read from the
//! store, so a subscriber that lags or misses a wake-up loses nothing: it re-reads from its last
//! sequence number.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

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

    /// Subscribe to wake-ups for every task.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.tasks.subscribe()
    }
}
