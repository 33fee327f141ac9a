//! Module 1: relational data with sqlx — SQLite by default, PostgreSQL by URL.
//!
//! The same repository functions and the same SQL run on both backends: `DATABASE_URL`
//! decides. Where the two dialects differ the SQL sticks to what both understand
//! (`CAST(… AS DOUBLE PRECISION)`, window functions, `$1` placeholders, which SQLite accepts).
//!
//! | where | what |
//! |---|---|
//! | this file | [`Db`]: the connection pool, which backend it is, and a count of the statements sent; [`Db::open`] connects and migrates |
//! | `migrations/{sqlite,postgres}/` | the schema as sqlx migrations: Country → City → Address → User, Product, Order |
//! | [`seed`] | fill the tables from a [`World`](crate::data::World) of any size |
//! | [`users`] | users by country / city, with their address eagerly, statistics, ranking with offset and keyset pages, create, update and delete with validation |
//! | [`countries`] | countries with their cities, per-country statistics |
//! | [`analytics`] | distribution by country, registration cohorts, high-value users |
//! | [`loading`] | the N+1 lesson: lazy vs eager (JOIN, batched IN) loading, statements counted and timed |
//! | [`tx`] | transactions: commit, rollback on error, a savepoint rolled back inside a committed transaction |
//! | [`pool`] | the connection pool measured: pool size against concurrent clients, the wait for a connection vs the wait in the server |
//! | [`query`] | SQL text in, a DataFrame out: any statement with bound [`Value`]s, and its plan (`EXPLAIN`) |
//! | [`sandbox`] | a learner's statement run read-only, alone and bounded in time and rows (the exercise checks) |
//! | [`exercises`] | notebook 01's exercises: the learner's SQL checked against the helpers' answer ([`SyncDb::check_exercise`]) |
//! | `sync.rs` | [`SyncDb`]: the notebook surface — sync, non-generic calls that open, work and close |
//!
//! Every function takes a `&Db` and returns typed rows; `rows.to_frame()` turns them into a
//! Polars DataFrame. In a notebook, one cell opens the database, runs its queries and
//! returns plain data:
//!
//! ```no_run
//! use helpers::prelude::*;
//! let settings = Settings::from_env()?;
//! let users = run(async {
//!     let db = sql::Db::open(&settings).await?;
//!     sql::users::by_country(&db, "Germany").await
//! })?;
//! println!("{} users in Germany", users.len());
//! # Ok::<(), helpers::Error>(())
//! ```
//!
//! On PostgreSQL the tables live in their own schema (`module8` unless `DATABASE_SCHEMA`
//! names another), so pointing the helpers at a database you already use does not touch its
//! tables.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx_postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx_sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};

use crate::config::{ServiceUrl, Settings};
use crate::error::{Error, Result};

pub mod analytics;
mod cells;
pub mod countries;
mod copy;
pub mod exercises;
pub mod explore;
pub mod export;
pub mod loading;
pub mod pool;
pub mod query;
pub mod replica;
pub mod sandbox;
mod seed;
mod sync;
pub mod tx;
pub mod users;

pub use query::{QueryLimits, Value};
pub use seed::{SeedReport, seed, seed_replacing};
pub use sync::SyncDb;

/// How long opening a connection may take before the call gives up with a clear error.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::config::DEFAULT_SCHEMA;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (or `sqlite::memory:`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// `SQLite` or `PostgreSQL`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The pool of one backend. Repository code reaches it through [`on_pool!`], which runs the
/// same query text on whichever backend this is.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A pool's connections at one moment ([`Db::pool_use`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolUse {
    /// Connections running a statement (or held by a transaction).
    pub in_use: u32,
    /// Connections open, busy or idle.
    pub open: u32,
    /// The most the pool may open.
    pub max: u32,
}

impl PoolUse {
    /// `in_use` as a percentage of `max`.
    pub fn percent(&self) -> f64 {
        100.0 * f64::from(self.in_use) / f64::from(self.max.max(1))
    }
}

/// A connection pool to SQLite or PostgreSQL, plus a count of the statements sent through
/// it. Cheap to clone (clones share the pool and the count). Shows its URL masked.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) pool: Pool,
    url: ServiceUrl,
    statements: Arc<AtomicU64>,
}

/// Runs `$body` with `$pool` bound to the backend's pool (`&SqlitePool` or `&PgPool`): the
/// same query text, compiled once per backend. Counts one statement and maps the error.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {{
        let db: &$crate::sql::Db = $db;
        db.count_statements(1);
        let out = match &db.pool {
            $crate::sql::Pool::Sqlite($pool) => $body,
            $crate::sql::Pool::Postgres($pool) => $body,
        };
        out.map_err(|e| db.error(e))
    }};
}
pub(crate) use on_pool;

impl Db {
    /// Connects to `settings.database_url` and brings the schema up to date (migrations are
    /// idempotent). On PostgreSQL the tables go into the schema named by `DATABASE_SCHEMA`
    /// (default [`DEFAULT_SCHEMA`]).
    pub async fn open(settings: &Settings) -> Result<Db> {
        let db = Db::connect(&settings.database_url, Some(&settings.database_schema)).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connects without migrating. `schema` (PostgreSQL only) is created if missing and put
    /// first on the search path of every connection; `None` means [`DEFAULT_SCHEMA`].
    pub async fn connect(url: &ServiceUrl, schema: Option<&str>) -> Result<Db> {
        Db::connect_sized(url, schema, DEFAULT_POOL_SIZE).await
    }

    /// [`Db::connect`] with a pool of at most `pool_size` connections (at least 1; an
    /// in-memory SQLite database always has exactly one). The pool lesson, [`pool`], compares
    /// sizes.
    pub async fn connect_sized(url: &ServiceUrl, schema: Option<&str>, pool_size: u32) -> Result<Db> {
        let statements = Arc::new(AtomicU64::new(0));
        let pool_size = pool_size.max(1);
        let pool = match url.scheme().as_str() {
            "sqlite" => Pool::Sqlite(connect_sqlite(url, pool_size).await?),
            "postgres" | "postgresql" => Pool::Postgres(connect_postgres(url, schema.unwrap_or(DEFAULT_SCHEMA), pool_size).await?),
            other => {
                return Err(Error::Config {
                    var: "DATABASE_URL",
                    reason: format!("`{}` has scheme `{other}`; use sqlite: or postgres:", url.masked()),
                });
            }
        };
        Ok(Db { pool, url: url.clone(), statements })
    }

    /// Applies the migrations in `helpers/migrations/<backend>/` that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        let outcome = match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
        };
        outcome.map_err(|e| Error::Sql { backend: self.backend().name(), message: format!("migrating the schema failed: {e}") })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL, masked when shown.
    pub fn url(&self) -> &ServiceUrl {
        &self.url
    }

    /// How many statements the repository functions have sent through this pool (and its
    /// clones) so far. The N+1 lesson reads it before and after a load.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub(crate) fn count_statements(&self, n: u64) {
        self.statements.fetch_add(n, Ordering::Relaxed);
    }

    /// The pool's connections right now: busy, open, and the most it may open (what a health
    /// check compares with the original's "pool use > 80 %" alert).
    pub fn pool_use(&self) -> PoolUse {
        let (open, idle, max) = match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Pool::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        PoolUse { in_use: open.saturating_sub(idle as u32), open, max }
    }

    /// Whether `other` is this same pool (a clone of it), not another one to the same place.
    pub(crate) fn same_pool(&self, other: &Db) -> bool {
        Arc::ptr_eq(&self.statements, &other.statements)
    }

    /// Closes the pool, waiting for connections to finish their work.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Maps a driver error into the crate's error: constraint violations name the
    /// constraint, everything else keeps sqlx's message with the URL masked.
    pub(crate) fn error(&self, e: sqlx::Error) -> Error {
        map_error(self.backend(), &self.url, e)
    }

    /// Maps the error of a `COMMIT`. On PostgreSQL a connection lost on the way — after the
    /// `COMMIT` may have reached the server, before its answer came back — leaves the outcome
    /// unknown: that is [`Error::CommitUnknown`], saying `what` was being committed and
    /// `how_to_check`, never "unreachable" (which would read as "not written", and invite a
    /// retry that writes it twice). Everything else as [`Db::error`]. (SQLite commits in this
    /// process: its answer cannot be lost.)
    /// The same for a statement that commits by itself (autocommit) on a connection it already
    /// holds: its answer can be lost the same way.
    pub(crate) fn commit_error(&self, e: sqlx::Error, what: impl Into<String>, how_to_check: impl Into<String>) -> Error {
        let lost = match &e {
            // Nothing was sent: the server was not there to take it.
            sqlx::Error::Io(io) => !matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound | std::io::ErrorKind::AddrNotAvailable),
            sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
            // The server was shut down (or crashed) while it worked on it.
            sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("57P01" | "57P02")),
            _ => false,
        };
        if self.backend() == Backend::Postgres && lost {
            tracing::warn!(target: "helpers::sql", error = %crate::config::scrub(&e.to_string(), &self.url), "the answer to a commit was lost");
            return Error::CommitUnknown { store: self.backend().name(), what: what.into(), how_to_check: how_to_check.into() };
        }
        self.error(e)
    }
}

/// Opens the database and, if its `users` table is empty, seeds it with a world made from
/// `config` — for lessons that need data but may run before notebook 01 did.
pub async fn open_seeded(settings: &Settings, config: &crate::data::WorldConfig) -> Result<Db> {
    let db = Db::open(settings).await?;
    seed_if_empty(&db, config).await?;
    Ok(db)
}

/// Seeds `db` with `config`'s world when it holds no users yet; returns how many users it holds.
pub async fn seed_if_empty(db: &Db, config: &crate::data::WorldConfig) -> Result<i64> {
    if users::count(db).await? == 0 {
        seed(db, &crate::data::World::generate(config)).await?;
    }
    users::count(db).await
}

/// Opens a database, runs `f` with it, closes it, and returns what `f` returned: the shape
/// of a notebook cell.
///
/// ```no_run
/// use helpers::prelude::*;
/// let settings = Settings::from_env()?;
/// let stats = run(sql::with_db(&settings, async |db| sql::users::statistics(db).await))?;
/// # Ok::<(), helpers::Error>(())
/// ```
pub async fn with_db<T>(settings: &Settings, f: impl AsyncFnOnce(&Db) -> Result<T>) -> Result<T> {
    let db = Db::open(settings).await?;
    let out = f(&db).await;
    db.close().await;
    out
}

async fn connect_sqlite(url: &ServiceUrl, pool_size: u32) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url.expose())
        .map_err(|e| Error::Config { var: "DATABASE_URL", reason: format!("`{}`: {e}", url.masked()) })?
        .foreign_keys(true)
        .busy_timeout(CONNECT_TIMEOUT)
        .disable_statement_logging();
    if let Some(dir) = options.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    // An in-memory database exists once per connection: keep exactly one.
    let in_memory = url.expose().contains(":memory:") || url.expose().contains("mode=memory");
    SqlitePoolOptions::new()
        .max_connections(if in_memory { 1 } else { pool_size })
        .min_connections(if in_memory { 1 } else { 0 })
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(async move { ping_if_idle(conn, meta).await }))
        .connect_with(options)
        .await
        .map_err(|e| url.unreachable("SQLite", e))
}

/// Connections a pool holds at most, unless [`Db::connect_sized`] says otherwise: enough for
/// the lessons' concurrent work, few enough for a shared server.
pub const DEFAULT_POOL_SIZE: u32 = 4;

/// A pooled connection idle for longer than this is pinged before it is handed out.
pub const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// sqlx pings every pooled connection before handing it out (`test_before_acquire`), a
/// second round trip per query: a primary-key lookup took twice its time. Only a connection
/// that sat idle for [`PING_AFTER_IDLE`] is checked here — the server or the network may have
/// closed it meanwhile; a failed ping makes the pool drop it and take or open another. A busy
/// connection goes straight to work.
async fn ping_if_idle<C: sqlx::Connection>(conn: &mut C, meta: sqlx::pool::PoolConnectionMetadata) -> std::result::Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
}

/// The URL's connect options, with the CA of `M8_CA_FILE` ([`ServiceUrl::ca_file`]) applied:
/// the server's certificate is then verified against it, host name included (`sslmode=verify-full`),
/// unless the URL names its own `sslrootcert` or `sslmode`.
pub(crate) fn postgres_options(url: &ServiceUrl) -> Result<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url.expose()).map_err(|e| url.refused("DATABASE_URL", e))?.disable_statement_logging();
    let query = url.expose().split_once('?').map_or("", |(_, q)| q);
    let names = |key: &str| query.split('&').any(|pair| pair.split('=').next() == Some(key));
    if let Some(ca) = url.ca_file() {
        if !names("sslrootcert") {
            options = options.ssl_root_cert(ca);
        }
        if !names("sslmode") {
            options = options.ssl_mode(sqlx_postgres::PgSslMode::VerifyFull);
        }
    }
    Ok(options)
}

async fn connect_postgres(url: &ServiceUrl, schema: &str, pool_size: u32) -> Result<PgPool> {
    crate::config::check_schema(schema)?;
    let base = postgres_options(url)?;
    // The schema must exist before connections put it on their search path. It is created only
    // when missing: a hot standby (a replica) is read-only, its schemas come from its primary,
    // and a role without CREATE on the database (a read-only login) must still connect.
    let mut first = crate::runtime::within("connecting to PostgreSQL", CONNECT_TIMEOUT, sqlx_postgres::PgConnection::connect_with(&base))
        .await?
        .map_err(|e| url.unreachable("PostgreSQL", e))?;
    let (standby, exists): (bool, bool) = sqlx::query_as("SELECT pg_is_in_recovery(), EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(&mut first)
        .await
        .map_err(|e| map_error(Backend::Postgres, url, e))?;
    if !standby && !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}")))
            .execute(&mut first)
            .await
            .map_err(|e| map_error(Backend::Postgres, url, e))?;
    }
    let _ = first.close().await;
    PgPoolOptions::new()
        .max_connections(pool_size)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(async move { ping_if_idle(conn, meta).await }))
        .connect_with(base.options([("search_path", schema)]))
        .await
        .map_err(|e| url.unreachable("PostgreSQL", e))
}


fn map_error(backend: Backend, url: &ServiceUrl, e: sqlx::Error) -> Error {
    use sqlx::error::ErrorKind;
    if let sqlx::Error::Database(db) = &e {
        let kind = match db.kind() {
            ErrorKind::UniqueViolation => Some("duplicate value for unique constraint"),
            ErrorKind::ForeignKeyViolation => Some("no matching row for foreign key"),
            ErrorKind::NotNullViolation => Some("missing value for NOT NULL column"),
            ErrorKind::CheckViolation => Some("value fails check constraint"),
            _ => None,
        };
        if let Some(kind) = kind {
            // PostgreSQL names the constraint; SQLite names the columns in its message
            // ("UNIQUE constraint failed: users.email").
            let name = db
                .constraint()
                .map(str::to_string)
                .or_else(|| db.message().split_once("failed: ").map(|(_, cols)| cols.to_string()))
                .unwrap_or_else(|| "(unnamed)".into());
            let detail = match db.try_downcast_ref::<sqlx_postgres::PgDatabaseError>() {
                Some(pg) => pg.detail().unwrap_or(pg.message()).to_string(),
                None => db.message().to_string(),
            };
            return Error::Constraint { store: backend.name(), rule: format!("{kind} {name}"), detail };
        }
    }
    // A connection that could not be made or was lost (a server that closed it mid-handshake
    // answers with a protocol error), as a kept pool meets it when it connects on demand.
    if matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_)) {
        return url.unreachable(backend.name(), e);
    }
    Error::Sql { backend: backend.name(), message: crate::config::scrub(&e.to_string(), url) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_scheme_names_the_variable() {
        let url = ServiceUrl::new("mysql://root:secret@localhost/db");
        let err = crate::run(Db::connect(&url, None)).unwrap_err().to_string();
        assert!(err.contains("DATABASE_URL") && err.contains("mysql"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn a_schema_name_that_is_not_plain_is_refused_before_connecting() {
        let url = ServiceUrl::new("postgres://postgres@127.0.0.1:1/test");
        let err = crate::run(Db::connect(&url, Some("x; DROP TABLE users"))).unwrap_err().to_string();
        assert!(err.contains("DATABASE_SCHEMA"), "{err}");
    }

    #[test]
    fn in_memory_sqlite_migrates_and_counts_every_statement() {
        let (backend, before, after, users) = crate::run(async {
            let db = Db::connect(&ServiceUrl::new("sqlite::memory:"), None).await?;
            db.migrate().await?;
            let before = db.statements();
            let users = users::count(&db).await?;
            Ok::<_, Error>((db.backend(), before, db.statements(), users))
        })
        .unwrap();
        assert_eq!(backend, Backend::Sqlite);
        assert_eq!((before, after, users), (0, 1, 0));
    }
}
