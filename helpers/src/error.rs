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

    /// A TLS server whose certificate did not verify against the CA we were given (or the
    /// system's): nothing was sent to it. `url` is already masked.
    #[error("{service} at {url} was not trusted: its TLS certificate did not verify ({reason}). {hint}")]
    Untrusted {
        /// Human name of the service, e.g. `PostgreSQL`.
        service: &'static str,
        /// The masked URL that was tried.
        url: String,
        /// What the TLS library said.
        reason: String,
        /// What to check.
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

    /// A command or stage that the helpers do not run for a learner (a Redis `FLUSHALL`, a key
    /// outside the exercise's namespace): refused before it reached the service, nothing changed.
    #[error("{what} is not allowed here: {reason}. {how}")]
    NotAllowed {
        /// What was refused, e.g. ``the Redis command `FLUSHALL` ``.
        what: String,
        /// Why it is refused.
        reason: String,
        /// What to do instead.
        how: String,
    },

    /// Something to send is bigger than the service accepts (a message's headers over the
    /// connection's frame size, a body over the broker's message size): refused before sending.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes, and was not sent: make it smaller (large data belongs in a store, with its key in the message)")]
    TooLarge {
        /// What is too large, e.g. "the headers of a message to exchange `x`".
        what: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },

    /// The connection was lost after a `COMMIT` was sent and before its answer came: the
    /// write may have been kept or not, and retrying blindly could do it twice.
    #[error("{store} lost the connection while committing {what}: the outcome is unknown — it may have been kept or not. {how_to_check}")]
    CommitUnknown {
        /// `PostgreSQL` or `SQLite`.
        store: &'static str,
        /// What was being committed, e.g. ``the sign-up of `ada` ``.
        what: String,
        /// How to find out, e.g. look the row up by its key.
        how_to_check: String,
    },

    /// An argument the caller has to fix (a name, a size, a setting of a call): the message says
    /// what and why. Records, models and lookups have variants of their own below.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A field of a record broke one of its rules (a username too long, an e-mail without `@`,
    /// a NUL in a name): refused before it reached a store, nothing was written.
    #[error("{reason}")]
    Invalid {
        /// The field, e.g. `username`, `email`, `engagement_score`, `parameter $2`.
        field: String,
        /// The whole sentence, naming the field and the rule.
        reason: String,
    },

    /// Something named by the caller does not exist: a user, a product, an exercise, a column.
    #[error("{0}")]
    NotFound(String),

    /// A model could not be fitted or used on the data it was given.
    #[error("{model}: {reason}")]
    Model {
        /// Which model, e.g. `churn model`, `LTV model`, `scaling slope`.
        model: &'static str,
        /// What was wrong with the data, and what to check.
        reason: String,
    },

    /// A value could not be turned into JSON, or JSON back into the expected type (a cached
    /// value written by another version of the code, say).
    #[error("{what}: {reason}")]
    Codec {
        /// What was being encoded or decoded, e.g. the cache key.
        what: String,
        /// What serde said.
        reason: String,
    },

    /// A lesson's own run did not hold what it checks (a message not delivered, a wrong value
    /// read during a fault) or one of its tasks failed.
    #[error("{lesson}: {reason}")]
    Lesson {
        /// The lesson, e.g. `the messaging benchmark`.
        lesson: &'static str,
        /// What did not hold.
        reason: String,
    },

    /// One error shared by every caller that waited on the same computation (a cache's
    /// single-flight load): the first caller gets the error itself, the others this.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),

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
    /// The error a single-flight computation ended with (moka hands it out behind an `Arc`): the
    /// error itself when this caller is the only one holding it, else [`Error::Shared`].
    pub(crate) fn unshare(e: std::sync::Arc<Error>) -> Error {
        std::sync::Arc::try_unwrap(e).unwrap_or_else(Error::Shared)
    }

    /// Wraps an I/O error with the action and path that failed.
    pub fn io(action: &'static str, path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.as_ref().display().to_string(), source }
    }
}
