//! Names of the PostgreSQL LISTEN/NOTIFY channels: the store sends `pg_notify` on them in the
//! transaction that writes, and the event bus (`crate::tasks::EventBus`) listens to them.
//!
//! Layering: part of `store`, which depends on no module above it (not `tasks`, `api` or
//! `server`); whoever listens takes the names from here.

/// PostgreSQL channel whose payload is the id of a task with new events.
pub const EVENTS_CHANNEL: &str = "testum_events";
/// PostgreSQL channel that tells workers a task was queued or cancelled.
pub const WORK_CHANNEL: &str = "testum_work";
/// PostgreSQL channel whose payload is the id of a task someone asked to stop.
pub const CANCEL_CHANNEL: &str = "testum_cancel";
