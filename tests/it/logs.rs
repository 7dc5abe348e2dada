//! The one tracing subscriber of the test binary: every log line of every test, kept in memory
//! (the last [`KEEP`] bytes) so a test can check what testum logged, and every error line also on
//! the test's output. Installed by the first test that asks; a subscriber is process-wide, and
//! all tests share this process.

use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How much of the most recent log the buffer keeps, in bytes; older lines are dropped.
const KEEP: usize = 32 << 20;

/// Install the subscriber (once) and return the captured log, oldest line first.
pub fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let capture = tracing_subscriber::fmt::layer()
            .with_writer(move || LogWriter(writer.clone()))
            .with_ansi(false)
            .with_filter(tracing_subscriber::EnvFilter::new(
                "debug,sqlx=info,hyper=info,h2=info,russh=info,reqwest=debug",
            ));
        let errors = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new("error"));
        let _ = tracing_subscriber::registry()
            .with(capture)
            .with(errors)
            .try_init();
        buffer
    })
}

/// The captured log as text.
pub fn text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap()).into_owned()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut log = self.0.lock().unwrap();
        if log.len() + bytes.len() > KEEP {
            let cut = (log.len() + bytes.len())
                .saturating_sub(KEEP / 2)
                .min(log.len());
            log.drain(..cut);
        }
        log.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
