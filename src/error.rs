//! Error types of the stores and of the background writer.

use std::time::Duration;

/// An error from an [`ExecutionRecordStore`](crate::ExecutionRecordStore).
///
/// Every variant says what the store was doing (`context`) and keeps the underlying error as its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the store was doing.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[cfg(feature = "sqlite")]
    #[error("{context}: {source}")]
    Sqlite {
        /// What the store was doing.
        context: String,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL reported an error (or the connection failed).
    ///
    /// The message includes the server's own (`ERROR: relation … does not exist`) or the
    /// connection's cause (`Connection refused`), on one line.
    #[cfg(feature = "postgres")]
    #[error("{context}: {}", postgres_message(source))]
    Postgres {
        /// What the store was doing.
        context: String,
        /// The PostgreSQL client error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The Delta Lake store failed: the Delta log, a Parquet file, Arrow, or the file system
    /// under them.
    #[cfg(feature = "delta")]
    #[error("{context}: {source}")]
    Delta {
        /// What the store was doing (and on which table).
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A record could not be serialised or deserialised.
    #[error("{context}: {source}")]
    Json {
        /// What the store was doing.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The store holds data this release cannot read (corrupt row, unknown schema version, …).
    #[error("{context}: {message}")]
    InvalidData {
        /// Where the data was found.
        context: String,
        /// What is wrong with it.
        message: String,
    },
    /// Any other failure, for stores implemented outside this crate.
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl StoreError {
    /// Wraps any error, for stores implemented outside this crate.
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        StoreError::Other(error.into())
    }

    /// An [`StoreError::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`StoreError::InvalidData`] with context.
    pub fn invalid_data(context: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::InvalidData {
            context: context.into(),
            message: message.into(),
        }
    }
}

/// A PostgreSQL client error with its causes, on one line: `tokio_postgres::Error` alone says
/// only "db error" or "error connecting to server".
#[cfg(feature = "postgres")]
fn postgres_message(error: &tokio_postgres::Error) -> String {
    let text = match error.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(detail) = db.detail() {
                text.push_str(&format!("; {detail}"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.ends_with(&cause_text) {
                    text.push_str(": ");
                    text.push_str(&cause_text);
                }
                source = cause.source();
            }
            text
        }
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An error from the background writer's control operations (flush, shutdown).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WriterError {
    /// The operation did not finish within its timeout; records may still be queued.
    #[error("the record writer did not finish within {0:?}")]
    Timeout(Duration),
    /// The writer thread has already shut down.
    #[error("the record writer has shut down")]
    ShutDown,
    /// The store failed; the writer keeps the records and retries. The store's own error,
    /// shared (every flush waiting on the same failure is told the same error).
    #[error("the execution record store failed: {0}")]
    Store(#[source] std::sync::Arc<StoreError>),
}
