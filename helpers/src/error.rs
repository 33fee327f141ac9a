//! The crate's one error type. Every message names what went wrong and, where a service
//! is involved, which one (with its URL masked) and how to start it.

use std::time::Duration;

/// Everything that can go wrong in the helpers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting (environment variable or `.env` entry) has a value we cannot use.
    #[error("{var} is not usable: {reason}")]
    Config {
        /// The variable's name, e.g. `DATABASE_URL`.
        var: &'static str,
        /// Why the value was refused.
        reason: String,
    },

    /// A service did not answer. `url` is already masked.
    #[error("{service} is unreachable at {url}: {reason}. {hint}")]
    Unreachable {
        /// Human name of the service, e.g. `PostgreSQL`.
        service: &'static str,
        /// The masked URL that was tried.
        url: String,
        /// What the client said.
        reason: String,
        /// One sentence on how to start it.
        hint: String,
    },

    /// A bounded wait ran out.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The bound that ran out.
        after: Duration,
    },

    /// A seed or bulk load that would replace data this module did not write: refused, and
    /// nothing was changed. `how` says where the module's own data goes and how to allow it.
    #[error("refusing to {action} {place}: {reason}. {how}")]
    WouldDestroy {
        /// What was refused (`seed`, `bulk-load`).
        action: &'static str,
        /// Where, e.g. ``PostgreSQL schema `public` ``.
        place: String,
        /// What is there that the module did not write.
        reason: String,
        /// The module's own place, and the variable that allows it anyway.
        how: String,
    },

    /// Input that the caller has to fix: the message says what and why.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A store refused a write because it breaks one of its rules (a unique key, a foreign
    /// key, a check). Nothing of the write was kept.
    #[error("{store} refused the write: {rule}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Constraint {
        /// Which store said no (`PostgreSQL`, `SQLite`, `MongoDB`).
        store: &'static str,
        /// The rule in words, naming the constraint, e.g. `duplicate value for unique constraint users_email_key`.
        rule: String,
        /// What the server added (the offending key, the failing column), if anything.
        detail: String,
    },

    /// A file could not be read or written.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// What we tried (`write`, `create directory`, …).
        action: &'static str,
        /// The path involved.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// Polars refused an operation.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    /// A figure could not be drawn or encoded.
    #[error("figure {name}: {reason}")]
    Plot {
        /// The figure's name.
        name: String,
        /// What plotters or the PNG encoder said.
        reason: String,
    },

    /// A SQL database returned an error.
    #[cfg(feature = "sql")]
    #[error("{backend}: {message}")]
    Sql {
        /// `SQLite` or `PostgreSQL`.
        backend: &'static str,
        /// What the driver said, with any URL in it masked.
        message: String,
    },

    /// MongoDB returned an error.
    #[cfg(feature = "mongo")]
    #[error("mongodb: {0}")]
    Mongo(#[from] mongodb::error::Error),

    /// Redis returned an error.
    #[cfg(feature = "cache")]
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),

    /// RabbitMQ (AMQP) returned an error.
    #[cfg(feature = "queue")]
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the action and path that failed.
    pub fn io(action: &'static str, path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.as_ref().display().to_string(), source }
    }
}
