//! Notification events (issue 11): what happened in the fleet that someone outside testum should
//! hear about. [`Store::notify_event`] is the one call every part of testum makes; the delivery
//! of the events to webhook endpoints is built on it.

use super::{Store, StoreResult};

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

impl Store {
    /// Queue `event` with `payload` (a JSON object: what happened, with ids and names, never a
    /// secret) for every endpoint subscribed to it. Delivery is not built yet: the event is
    /// only logged.
    pub async fn notify_event(
        &self,
        event: NotificationEvent,
        payload: serde_json::Value,
    ) -> StoreResult<()> {
        tracing::info!(event = %event, %payload, "notification event");
        Ok(())
    }
}
