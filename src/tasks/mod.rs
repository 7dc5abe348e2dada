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

/// `text` with control characters other than newline and tab written as escapes (`\u{1b}`):
/// what testum itself says about a host's file (a removed line, a diff) may quote bytes that
/// someone wrote into that file, and must not drive the operator's terminal.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn control_characters_are_escaped_but_lines_stay() {
        assert_eq!(super::printable("a\tb\nc"), "a\tb\nc");
        assert_eq!(
            super::printable("x \u{1b}[31mred\u{7}"),
            "x \\u{1b}[31mred\\u{7}"
        );
    }
}
