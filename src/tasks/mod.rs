//! The task engine: workers that claim targets from the store's queue and run them (deploy,
//! revoke, run_command), the output chunker that stores exact bytes at UTF-8 boundaries, and the
//! in-process event bus that wakes WebSocket subscribers.

mod dry_run;
mod events;
mod health;
mod locks;
mod output;
mod run;
mod scan;
mod worker;
mod writer;

pub use events::{CANCEL_CHANNEL, EVENTS_CHANNEL, EventBus, WORK_CHANNEL};
pub use health::{Beat, STALE_AFTER, WorkerHealth, WorkersStatus};
pub use output::utf8_boundary;
pub use worker::{Worker, WorkerConfig};
