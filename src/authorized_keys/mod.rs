//! The authorized_keys engine: pure functions from file bytes and a desired set of managed lines to
//! new file bytes. No I/O. (INTERFACE STUB: to be implemented.)

/// Marker line that opens the block testum owns.
pub const BEGIN_MARKER: &str = "# BEGIN testum managed keys - do not edit";
/// Marker line that closes the block testum owns.
pub const END_MARKER: &str = "# END testum managed keys";

/// Result of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The complete new file content.
    pub content: Vec<u8>,
    /// `false` when `content` equals the input byte for byte (nothing to write).
    pub changed: bool,
    /// Managed lines that were not in the block before.
    pub added: Vec<String>,
    /// Managed lines that were in the block before and are no longer desired.
    pub removed: Vec<String>,
}

/// Why [`apply`] refused to produce new content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The file's markers are damaged (e.g. BEGIN without END, two blocks).
    #[error("authorized_keys markers are damaged: {0}")]
    DamagedMarkers(String),
    /// A desired line is not a single valid authorized_keys line.
    #[error("invalid managed line: {0}")]
    InvalidLine(String),
}

/// Make the managed block of `current` equal to `desired` (each a whole authorized_keys line
/// without line terminator: `[options ]type base64[ comment]`).
pub fn apply(current: &[u8], desired: &[String]) -> Result<Applied, EngineError> {
    let _ = (current, desired);
    Err(EngineError::InvalidLine("not implemented".into()))
}
