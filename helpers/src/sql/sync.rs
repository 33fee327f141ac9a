//! [`SyncDb`]: the database from a notebook cell — plain values in, plain data out.
//!
//! evcxr compiles every cell into a library of its own. A future that a cell drives (an
//! `async` block, `run(with_db(…))`) is code-generated again in that cell, with everything
//! it inlines: 8–13 s per cell. A call into a function that is already compiled costs about
//! as much as `let a = 1 + 1;`. So each method here is sync and non-generic: it opens the
//! database, does its work, and returns rows or a DataFrame. `SyncDb` itself holds nothing but
//! the settings, so it crosses cells freely.
//!
//! Opening a database is not free: on PostgreSQL a call opened three TLS connections (the
//! schema's, the pool's first, and one more while sqlx checked the first on its way back to
//! the pool), each ~90 ms here because sqlx 0.9.0 leaves Nagle's algorithm on (its
//! transact-rs/sqlx#4335, fixed upstream, not released), then ran the migrations: ~280 ms
//! per call for a 1 ms query. So a PostgreSQL pool is **kept between calls**, one per URL and
//! schema, on the process's long-lived runtime ([`crate::runtime::run_kept`]): the first call
//! opens and migrates it, the next ones take a connection that is already open (and pinged
//! when it sat idle for a second, so a server restart in between is survived). A call that
//! finds the server unreachable or times out drops the kept pool, so the next one connects
//! afresh and says why if it cannot. Session settings (`SET …`, temporary tables) therefore
//! last as long as the connection, as with any pool. SQLite opens per call (about a
//! millisecond), so an in-memory database is new on every call as before.

use polars::prelude::DataFrame;

use super::query::{self, QueryLimits, Value};
use super::users::NewUser;
use super::{Backend, Db, SeedReport, loading, sandbox, tx};
use crate::config::Settings;
use crate::data::World;
use crate::error::{Error, Result};
use crate::runtime::{run, run_kept};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Takes the kept pool (PostgreSQL) or opens the database (SQLite), evaluates `$body` with
/// `$db: &Db`, then closes what was opened for the call (or drops a kept pool that lost its
/// server). A macro rather than a generic helper, so that each method's future is concrete
/// (and checked to be `Send`) where it is written.
macro_rules! with_db {
    ($self:ident, |$db:ident| $body:expr) => {{
        let call = async {
            let (opened, kept) = open_for_call(&$self.settings).await?;
            let $db = &opened;
            // Its own block, so that a `?` in the body still comes back here to be settled.
            let out = async { $body }.await;
            settle(&$self.settings, opened, kept, &out).await;
            out
        };
        if keeps_pool(&$self.settings) { run_kept(call) } else { run(call) }
    }};
}

/// PostgreSQL pools kept between calls, by URL and schema.
fn kept_pools() -> &'static Mutex<HashMap<String, Db>> {
    static POOLS: OnceLock<Mutex<HashMap<String, Db>>> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

fn keeps_pool(settings: &Settings) -> bool {
    matches!(settings.database_url.scheme().as_str(), "postgres" | "postgresql")
}

fn pool_key(settings: &Settings) -> String {
    format!("{}\n{}\n{:?}", settings.database_url.expose(), settings.database_schema, settings.database_url.ca_file())
}

async fn open_for_call(settings: &Settings) -> Result<(Db, bool)> {
    if !keeps_pool(settings) {
        return Ok((Db::open(settings).await?, false));
    }
    let key = pool_key(settings);
    if let Some(db) = kept_pools().lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
        return Ok((db.clone(), true));
    }
    let db = Db::open(settings).await?;
    // Another thread may have kept one meanwhile: the first one stays, this one closes.
    let first = kept_pools().lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_insert_with(|| db.clone()).clone();
    if !first.same_pool(&db) {
        db.close().await;
    }
    Ok((first, true))
}

async fn settle<T>(settings: &Settings, db: Db, kept: bool, out: &Result<T>) {
    let lost = matches!(out, Err(Error::Unreachable { .. } | Error::Timeout { .. }));
    if kept && lost {
        let key = pool_key(settings);
        let mut pools = kept_pools().lock().unwrap_or_else(PoisonError::into_inner);
        if pools.get(&key).is_some_and(|k| k.same_pool(&db)) {
            pools.remove(&key);
        }
    }
    if !kept || lost {
        let _ = crate::runtime::within("closing the database", std::time::Duration::from_secs(5), db.close()).await;
    }
}

/// The SQL database at `DATABASE_URL`, for notebook cells. Holds only the settings: every
/// call connects, works and closes (a few milliseconds on SQLite and a local PostgreSQL).
///
/// ```no_run
/// use helpers::prelude::*;
/// let db = sql::SyncDb::new(&Settings::from_env()?);
/// let germany = db.query(
///     "SELECT u.username, ci.name AS city
///      FROM users u JOIN addresses a ON a.id = u.address_id
///      JOIN cities ci ON ci.id = a.city_id JOIN countries co ON co.id = ci.country_id
///      WHERE co.name = $1 ORDER BY u.id",
///     &["Germany".into()],
/// )?;
/// # Ok::<(), helpers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncDb {
    settings: Settings,
    limits: QueryLimits,
}

impl SyncDb {
    /// The database `settings.database_url` names (nothing is opened yet), with
    /// [`QueryLimits::default`] for [`SyncDb::query`]: 60 s and 1,000,000 rows.
    pub fn new(settings: &Settings) -> SyncDb {
        SyncDb { settings: settings.clone(), limits: QueryLimits::default() }
    }

    /// The same database with other limits for [`SyncDb::query`] (`QueryLimits::none()`: no
    /// time limit, every row).
    pub fn with_limits(&self, limits: QueryLimits) -> SyncDb {
        SyncDb { settings: self.settings.clone(), limits }
    }

    /// SQLite or PostgreSQL, from the URL's scheme.
    pub fn backend(&self) -> Backend {
        match self.settings.database_url.scheme().as_str() {
            "postgres" | "postgresql" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// Runs `sql` with `params` bound to `$1`, `$2`, … and returns the rows as a DataFrame
    /// (see [`query::query_frame`] for the column types), within this `SyncDb`'s limits: a
    /// statement that runs past the time limit is stopped ([`Error::Timeout`]); a result
    /// longer than the row limit comes back cut, and a line above the table says so and how
    /// to get every row.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<DataFrame> {
        let limits = self.limits;
        let (frame, cut) = with_db!(self, |db| query::query_limited(db, sql, params, limits).await)?;
        if cut {
            let n = crate::display::thousands(frame.height());
            println!(
                "⚠ the first {n} rows only — the statement returns more, and a query stops at {n} rows. \
                 Aggregate or add a LIMIT in the SQL, or take every row with `db.with_limits(sql::QueryLimits::none()).query(…)`."
            );
        }
        Ok(frame)
    }

    /// Runs what a learner typed read-only, alone and bounded ([`sandbox::read_only`]): the
    /// rows, or what stopped it.
    pub fn read_only(&self, sql: &str, params: &[Value], limits: sandbox::Limits) -> Result<sandbox::Outcome> {
        with_db!(self, |db| sandbox::read_only(db, sql, params, limits).await)
    }

    /// Runs a statement that returns no rows and says how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64> {
        with_db!(self, |db| query::execute(db, sql, params).await)
    }

    /// The database's plan for `sql`, one line per row.
    pub fn explain(&self, sql: &str, params: &[Value]) -> Result<DataFrame> {
        with_db!(self, |db| query::explain(db, sql, params).await)
    }

    /// `sql` from `clients` concurrent clients through a pool of each size in `sizes` (see
    /// [`super::pool::compare`]): throughput, the wait for a connection, the query's time.
    pub fn compare_pool_sizes(&self, sql: &str, params: &[Value], sizes: &[u32], clients: usize, queries: usize) -> Result<Vec<super::pool::PoolRun>> {
        run(super::pool::compare(&self.settings.database_url, Some(&self.settings.database_schema), sql, params, sizes, clients, queries))
    }

    /// Runs `sql` `repeats` times and returns the median time in milliseconds with the
    /// number of rows of the last run.
    pub fn time(&self, sql: &str, params: &[Value], repeats: usize) -> Result<(f64, usize)> {
        with_db!(self, |db| {
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..repeats.max(1) {
                let started = std::time::Instant::now();
                rows = query::query_frame(db, sql, params).await?.height();
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            Ok((times[times.len() / 2], rows))
        })
    }

    /// Replaces the module's tables with `world` (see [`super::seed`]).
    pub fn seed(&self, world: &World) -> Result<SeedReport> {
        with_db!(self, |db| super::seed(db, world).await)
    }

    /// Streams every row of `sql` into a CSV file at `path` without holding them all (see
    /// [`super::export::to_csv`]): for results too big for a cell. No row limit, no time limit.
    /// Not generic over the path: a notebook cell compiles a call, not the crate's internals.
    pub fn to_csv(&self, sql: &str, params: &[Value], path: &std::path::Path) -> Result<super::export::Exported> {
        with_db!(self, |db| super::export::to_csv(db, sql, params, path).await)
    }

    /// The database's tables (with sizes), columns (types, nullability) and indexes, one frame
    /// each (see [`super::explore::schema`]).
    pub fn schema(&self) -> Result<super::explore::Schema> {
        with_db!(self, |db| super::explore::schema(db).await)
    }

    /// A histogram of `column` of `table` in `bins` equal-width bins, counted by the database:
    /// only the bins are fetched (see [`super::explore::histogram`]).
    pub fn histogram(&self, table: &str, column: &str, bins: usize) -> Result<DataFrame> {
        with_db!(self, |db| super::explore::histogram(db, table, column, bins).await)
    }

    /// Seeds the database with `config`'s world when it holds no users yet — what every lesson
    /// that reads the seeded world does first — and returns how many users it holds.
    pub fn seed_if_empty(&self, config: &crate::data::WorldConfig) -> Result<i64> {
        with_db!(self, |db| super::seed_if_empty(db, config).await)
    }

    /// The N+1 lesson: loads `sizes` users lazily, by one JOIN and by IN batches,
    /// `repeats` times each (see [`loading::compare`]).
    pub fn compare_loading(&self, sizes: &[usize], repeats: usize) -> Result<Vec<loading::LoadingRun>> {
        with_db!(self, |db| loading::compare(db, sizes, repeats).await)
    }

    /// The transaction lesson's four cases (see [`tx::demonstrate`]).
    pub fn demonstrate_transactions(&self, tag: &str, product_id: i64) -> Result<Vec<tx::TxOutcome>> {
        with_db!(self, |db| tx::demonstrate(db, tag, product_id).await)
    }

    /// Creates a user through the repository (validated, parameters bound) and returns its id.
    pub fn create_user(&self, user: &NewUser) -> Result<i64> {
        with_db!(self, |db| super::users::create(db, user).await)
    }

    /// A user and their first order in one transaction (see [`tx::signup_with_order`]).
    pub fn signup_with_order(&self, user: &NewUser, order: tx::NewOrder) -> Result<tx::Signup> {
        with_db!(self, |db| tx::signup_with_order(db, user, order).await)
    }

    /// One number from a query that returns one row with one integer column, e.g.
    /// `SELECT COUNT(*) FROM users`.
    pub fn scalar(&self, sql: &str, params: &[Value]) -> Result<i64> {
        let df = self.query(sql, params)?;
        df.columns()
            .first()
            .and_then(|c| c.cast(&polars::prelude::DataType::Int64).ok())
            .and_then(|c| c.i64().ok().and_then(|c| c.get(0)))
            .ok_or_else(|| Error::InvalidInput(format!("`{}` did not return one integer", sql.trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServiceUrl;

    fn memory() -> SyncDb {
        let mut settings = Settings::from_lookup(|_| None).unwrap();
        // A file of its own: every call opens the database anew.
        let path = std::env::temp_dir().join(format!("syncdb-{}-{:?}.db", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_file(&path);
        settings.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", path.display()));
        SyncDb::new(&settings)
    }

    #[test]
    fn calls_are_independent_and_see_each_others_writes() {
        let db = memory();
        assert_eq!(db.backend(), Backend::Sqlite);
        db.execute("INSERT INTO countries (id, code, name, continent) VALUES ($1, $2, $3, $4)", &[7.into(), "FR".into(), "France".into(), "Europe".into()])
            .unwrap();
        assert_eq!(db.scalar("SELECT COUNT(*) FROM countries WHERE code = $1", &["FR".into()]).unwrap(), 1);
        let (ms, rows) = db.time("SELECT * FROM countries", &[], 3).unwrap();
        assert!(ms >= 0.0 && rows == 1);
    }
}
