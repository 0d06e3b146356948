//! The one error type of the generator.

use std::io;

/// Why generating a data set failed.
///
/// Generation itself cannot fail; only writing the two outputs can, so every variant
/// carries the underlying I/O or JSON-encoding error.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Writing the Loki log file failed.
    #[error("writing the log file failed: {0}")]
    Logs(#[source] io::Error),
    /// Writing the labels file failed.
    #[error("writing the labels file failed: {0}")]
    Labels(#[source] io::Error),
    /// Encoding a value as JSON failed (in practice only an I/O error underneath).
    #[error("encoding JSON failed: {0}")]
    Json(#[from] serde_json::Error),
}
