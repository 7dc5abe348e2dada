//! The task engine: workers that claim targets from the store's queue and run them (deploy,
//! revoke, run_command), the output chunker that stores exact bytes at UTF-8 boundaries, and the
//! in-process event bus that wakes WebSocket subscribers.
//!
//! Layering: above `store`, `ssh`, `deploy` and `metrics`, below `api` and `server`; the channel
//! names its PostgreSQL bridge listens to come from the store.

mod dry_run;
mod events;
mod health;
mod locks;
mod output;
mod reason;
mod run;
mod scan;
mod worker;
mod writer;

pub use events::EventBus;
pub use health::{Beat, STALE_AFTER, WorkerHealth, WorkersStatus};
pub use output::utf8_boundary;
pub use reason::failure_reason;
pub use worker::{Worker, WorkerConfig};

/// `text` with control characters other than newline and tab, and the invisible format
/// characters that reorder or hide text (bidi overrides and isolates, zero-width characters,
/// U+FEFF), written as escapes (`\u{1b}`): what testum itself says about a host's file (a
/// removed line, a diff) may quote bytes someone wrote into that file, and must neither drive
/// the operator's terminal nor disguise itself.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    fn hidden(c: char) -> bool {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
            )
    }
    if !text.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
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
        assert_eq!(super::printable("a\u{202e}b"), "a\\u{202e}b");
    }
}
