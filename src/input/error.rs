//! Reader errors: each names the file and, where there is one, the place in it.

use std::io;
use std::path::PathBuf;

/// A consumer's reason to stop reading (for example a closed output pipe).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Why an input could not be read, or which record of it is bad.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be opened.
    #[error("{}: cannot open: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Reading failed part way.
    #[error("{}: read failed: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The JSON is malformed or truncated; nothing after this point can be read.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// One record is well-formed JSON but not a valid log entry.
    #[error("{}:{line}: {what}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line where the record ends.
        line: u64,
        /// What is wrong with it.
        what: String,
    },
    /// Loki answered with an error instead of data.
    #[error("{}: Loki returned status {status:?}: {message}", path.display())]
    LokiStatus {
        /// The file.
        path: PathBuf,
        /// The `status` field.
        status: String,
        /// The `error` field, if any.
        message: String,
    },
    /// A Loki response of another result type (a metric query's matrix or vector).
    #[error("{}: resultType is {result_type:?}; only log queries (\"streams\") hold log lines", path.display())]
    NotStreams {
        /// The file.
        path: PathBuf,
        /// The `resultType` found.
        result_type: String,
    },
    /// The consumer of the lines stopped the read.
    #[error("{0}")]
    Sink(SinkError),
}
