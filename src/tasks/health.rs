//! Liveness of the in-process workers, for `/readyz`: each worker's dispatch loop beats at least
//! once a second (its poll), so a beat older than [`STALE_AFTER`] means the loop is stuck or gone
//! (panicked, shut down).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A worker that has not beaten for this long counts as stalled.
pub const STALE_AFTER: Duration = Duration::from_secs(15);

/// The workers of one process. Cheap to clone; clones share the registry. A worker joins it
/// through [`crate::tasks::WorkerConfig::health`].
#[derive(Debug, Clone)]
pub struct WorkerHealth {
    epoch: Instant,
    beats: Arc<Mutex<Vec<Arc<AtomicU64>>>>,
}

/// What `/readyz` reports about the in-process workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkersStatus {
    /// No worker runs in this process (`--workers 0`: `testum worker` processes do the work).
    NoneInProcess,
    /// Every in-process worker beat within [`STALE_AFTER`].
    Alive(usize),
    /// `stalled` of `total` workers did not.
    Stalled { stalled: usize, total: usize },
}

/// One worker's heartbeat: [`Beat::beat`] records "alive now".
#[derive(Debug, Clone)]
pub struct Beat {
    epoch: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for WorkerHealth {
    fn default() -> Self {
        WorkerHealth {
            epoch: Instant::now(),
            beats: Arc::default(),
        }
    }
}

impl WorkerHealth {
    /// Add a worker; it counts as alive from now on for [`STALE_AFTER`].
    pub fn join(&self) -> Beat {
        let beat = Beat {
            epoch: self.epoch,
            last_ms: Arc::new(AtomicU64::new(0)),
        };
        beat.beat();
        self.beats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(beat.last_ms.clone());
        beat
    }

    /// The state of the workers that joined, as of now.
    pub fn status(&self) -> WorkersStatus {
        let now = millis_since(self.epoch);
        let stale = STALE_AFTER.as_millis() as u64;
        let beats = self.beats.lock().unwrap_or_else(PoisonError::into_inner);
        if beats.is_empty() {
            return WorkersStatus::NoneInProcess;
        }
        let stalled = beats
            .iter()
            .filter(|last| now.saturating_sub(last.load(Ordering::Relaxed)) > stale)
            .count();
        if stalled == 0 {
            WorkersStatus::Alive(beats.len())
        } else {
            WorkersStatus::Stalled {
                stalled,
                total: beats.len(),
            }
        }
    }
}

impl Beat {
    /// Record that the worker is alive now.
    pub fn beat(&self) {
        self.last_ms
            .store(millis_since(self.epoch), Ordering::Relaxed);
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_worker_is_reported_as_none_in_process() {
        assert_eq!(
            WorkerHealth::default().status(),
            WorkersStatus::NoneInProcess
        );
    }

    #[test]
    fn a_worker_that_stops_beating_is_stalled() {
        let health = WorkerHealth {
            // Pretend the process started long ago, so a beat at join time can be aged below.
            epoch: Instant::now() - 2 * STALE_AFTER,
            beats: Arc::default(),
        };
        let alive = health.join();
        let stuck = health.join();
        assert_eq!(health.status(), WorkersStatus::Alive(2));
        stuck.last_ms.store(0, Ordering::Relaxed);
        alive.beat();
        assert_eq!(
            health.status(),
            WorkersStatus::Stalled {
                stalled: 1,
                total: 2
            }
        );
    }
}
