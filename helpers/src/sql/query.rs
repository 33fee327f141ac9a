//! SQL text in, a DataFrame out: any statement with bound parameters, on either backend.
//!
//! This is what a notebook cell uses to show its SQL (the way JupySQL's `%sql` does): the
//! statement is written in the cell, its parameters are bound (never pasted into the text),
//! and the rows come back as a Polars DataFrame whose column types follow the values.

use std::time::Duration;

use chrono::NaiveDateTime;
use polars::prelude::{Column, DataFrame};
use sqlx::{Column as _, Row as _};

use super::cells::{Cell, frame, postgres_cell, sqlite_cell, text};
use super::{Backend, Db, Pool};
use crate::error::{Error, Result};

/// A value bound to a `$1`, `$2`, … placeholder. Build one with `.into()` from a number, a
/// string, a bool, a date-time, or an `Option` of those (`None` binds `NULL`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (bound as `BIGINT`).
    Int(i64),
    /// A floating-point number (bound as `DOUBLE PRECISION`).
    Float(f64),
    /// Text.
    Text(String),
    /// A timestamp without time zone.
    DateTime(NaiveDateTime),
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from($v: $t) -> Value { $e }
        }
    )*};
}
value_from! {
    bool => |v| Value::Bool(v),
    i32 => |v| Value::Int(v as i64),
    i64 => |v| Value::Int(v),
    u32 => |v| Value::Int(v as i64),
    usize => |v| Value::Int(v as i64),
    f64 => |v| Value::Float(v),
    &str => |v| Value::Text(v.to_string()),
    String => |v| Value::Text(v),
    &String => |v| Value::Text(v.clone()),
    NaiveDateTime => |v| Value::DateTime(v),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}


/// Binds `params` in order onto a query for backend `$db` (the same code for both).
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                Value::Null => q.bind(None::<String>),
                Value::Bool(v) => q.bind(*v),
                Value::Int(v) => q.bind(*v),
                Value::Float(v) => q.bind(*v),
                Value::Text(v) => q.bind(v.as_str()),
                Value::DateTime(v) => q.bind(*v),
            };
        }
        q
    }};
}
pub(super) use bind_all;

/// Runs `sql` with `params` bound to `$1`, `$2`, … and returns the rows as a DataFrame.
///
/// Column types follow the values: integers, numbers, booleans, timestamps and dates keep
/// their type, a column that mixes integers and numbers becomes numbers, and anything else
/// is text. A statement that returns no rows gives a frame with no columns.
///
/// On PostgreSQL a query whose column types `COPY`'s binary format carries here is read that
/// way, column by column (see `sql/copy.rs`); the rest row by row.
pub async fn query_frame(db: &Db, sql: &str, params: &[Value]) -> Result<DataFrame> {
    if db.backend() == Backend::Postgres {
        return query_limited(db, sql, params, QueryLimits::none()).await.map(|(frame, _)| frame);
    }
    let (names, rows) = fetch_cells(db, sql, params).await?;
    frame(names, rows)
}

/// [`query_frame`] the way it was read before binary `COPY`, on either backend: row by row,
/// each value a cell, then the columns. Kept for the bench (`bench frames`), which shows what
/// `COPY` saves, and for comparing the two in tests.
pub async fn query_frame_row_by_row(db: &Db, sql: &str, params: &[Value]) -> Result<DataFrame> {
    let (names, rows) = fetch_cells(db, sql, params).await?;
    frame(names, rows)
}

/// Runs a statement that returns no rows (`INSERT`, `UPDATE`, `DELETE`, DDL) with `params`
/// bound, and returns how many rows it changed.
///
/// On PostgreSQL a connection lost once the statement was on its way — the server may have
/// run and committed it before the answer was lost — is [`Error::CommitUnknown`], with how to
/// check, not "unreachable"; a server that could not be reached at all stays
/// [`Error::Unreachable`].
pub async fn execute(db: &Db, sql: &str, params: &[Value]) -> Result<u64> {
    check_params(params)?;
    db.count_statements(1);
    let started = std::time::Instant::now();
    let text = sqlx::AssertSqlSafe(sql.to_string());
    let outcome = match &db.pool {
        Pool::Sqlite(p) => bind_all!(sqlx::query(text), params).execute(p).await.map(|r| r.rows_affected()).map_err(|e| db.error(e)),
        Pool::Postgres(p) => match p.acquire().await {
            Err(e) => Err(db.error(e)),
            Ok(mut conn) => bind_all!(sqlx::query(text), params).execute(&mut *conn).await.map(|r| r.rows_affected()).map_err(|e| {
                let shown: String = sql.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(80).collect();
                db.commit_error(
                    e,
                    format!("the statement `{shown}`"),
                    "Read the rows it changes (a SELECT with the same WHERE) before running it again.",
                )
            }),
        },
    };
    trace_statement(db, sql, params, started, outcome.as_ref().copied());
    outcome
}

/// `queries` runs of `sql` from `clients` concurrent clients sharing `db`'s pool. For each run:
/// how long it waited for a connection and how long it took in all, µs; and the wall time, s.
pub(crate) async fn run_concurrently(db: &Db, sql: &str, params: &[Value], clients: usize, queries: usize) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    check_params(params)?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let client = async || {
        let (mut waits, mut totals) = (Vec::new(), Vec::new());
        while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < queries {
            let started = std::time::Instant::now();
            let text = sqlx::AssertSqlSafe(sql.to_string());
            let waited = match &db.pool {
                Pool::Sqlite(p) => {
                    let mut conn = p.acquire().await.map_err(|e| db.error(e))?;
                    let waited = started.elapsed();
                    bind_all!(sqlx::query(text), params).fetch_all(&mut *conn).await.map_err(|e| db.error(e))?;
                    waited
                }
                Pool::Postgres(p) => {
                    let mut conn = p.acquire().await.map_err(|e| db.error(e))?;
                    let waited = started.elapsed();
                    bind_all!(sqlx::query(text), params).fetch_all(&mut *conn).await.map_err(|e| db.error(e))?;
                    waited
                }
            };
            waits.push(waited.as_secs_f64() * 1e6);
            totals.push(started.elapsed().as_secs_f64() * 1e6);
        }
        Ok::<_, Error>((waits, totals))
    };
    let started = std::time::Instant::now();
    let done = futures_util::future::try_join_all((0..clients.max(1)).map(|_| client())).await?;
    let seconds = started.elapsed().as_secs_f64();
    db.count_statements(queries as u64);
    let (waits, totals): (Vec<Vec<f64>>, Vec<Vec<f64>>) = done.into_iter().unzip();
    Ok((waits.concat(), totals.concat(), seconds))
}

/// The database's plan for `sql`: `EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL,
/// one row per line of the plan (column `plan`).
pub async fn explain(db: &Db, sql: &str, params: &[Value]) -> Result<DataFrame> {
    let (names, rows) = match db.backend() {
        Backend::Sqlite => fetch_cells(db, &format!("EXPLAIN QUERY PLAN {sql}"), params).await?,
        Backend::Postgres => fetch_cells(db, &format!("EXPLAIN {sql}"), params).await?,
    };
    // SQLite: (id, parent, notused, detail) — indent by depth; PostgreSQL: one text column.
    let lines: Vec<String> = match db.backend() {
        Backend::Sqlite => {
            let detail = names.iter().position(|n| n == "detail").unwrap_or(names.len().saturating_sub(1));
            let mut depth: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
            rows.iter()
                .map(|r| {
                    let (id, parent) = match (&r[0], &r[1]) {
                        (Cell::Int(id), Cell::Int(parent)) => (*id, *parent),
                        _ => (0, 0),
                    };
                    let d = depth.get(&parent).map_or(0, |d| d + 1);
                    depth.insert(id, d);
                    format!("{}{}", "  ".repeat(d), text(&r[detail]))
                })
                .collect()
        }
        Backend::Postgres => rows.iter().map(|r| text(&r[0])).collect(),
    };
    Ok(DataFrame::new_infer_height(vec![Column::new("plan".into(), lines)])?)
}


/// Refuses text parameters that PostgreSQL cannot store (NUL), on both backends, naming the
/// parameter: the same statement behaves the same on SQLite and PostgreSQL.
fn check_params(params: &[Value]) -> Result<()> {
    for (i, p) in params.iter().enumerate() {
        if let Value::Text(t) = p {
            crate::validate::storable_text(&format!("parameter ${}", i + 1), t)?;
        }
    }
    Ok(())
}

async fn fetch_cells(db: &Db, sql: &str, params: &[Value]) -> Result<(Vec<String>, Vec<Vec<Cell>>)> {
    let started = std::time::Instant::now();
    let out = fetch_cells_untraced(db, sql, params).await;
    trace_statement(db, sql, params, started, out.as_ref().map(|(_, rows)| rows.len() as u64));
    out
}

/// One `info` event per statement (target `helpers::sql`): the SQL text, how many parameters
/// were bound (not their values), the rows returned or changed, the time; a refused
/// statement is a `warn` event with the database's reason.
fn trace_statement(db: &Db, sql: &str, params: &[Value], started: std::time::Instant, outcome: std::result::Result<u64, &Error>) {
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(rows) => tracing::info!(target: "helpers::sql", backend = db.backend().name(), params = params.len(), rows, ms, "{}", sql.trim()),
        Err(e) => tracing::warn!(target: "helpers::sql", backend = db.backend().name(), params = params.len(), ms, error = %e, "{}", sql.trim()),
    }
}

async fn fetch_cells_untraced(db: &Db, sql: &str, params: &[Value]) -> Result<(Vec<String>, Vec<Vec<Cell>>)> {
    check_params(params)?;
    db.count_statements(1);
    let owned = sqlx::AssertSqlSafe(sql.to_string());
    match &db.pool {
        Pool::Sqlite(p) => {
            let rows = bind_all!(sqlx::query(owned), params).fetch_all(p).await.map_err(|e| db.error(e))?;
            let names = rows.first().map(|r| r.columns().iter().map(|c| c.name().to_string()).collect()).unwrap_or_default();
            let cells = rows.iter().map(|r| (0..r.len()).map(|i| sqlite_cell(r, i)).collect::<Result<Vec<_>>>()).collect::<Result<_>>()?;
            Ok((names, cells))
        }
        Pool::Postgres(p) => {
            let rows = bind_all!(sqlx::query(owned), params).fetch_all(p).await.map_err(|e| db.error(e))?;
            let names = rows.first().map(|r| r.columns().iter().map(|c| c.name().to_string()).collect()).unwrap_or_default();
            let cells = rows.iter().map(|r| (0..r.len()).map(|i| postgres_cell(r, i)).collect::<Result<Vec<_>>>()).collect::<Result<_>>()?;
            Ok((names, cells))
        }
    }
}

/// Rows until a cap, or what ended them.
pub(super) enum Fetched {
    /// Every row (column names, cells).
    Rows(Vec<String>, Vec<Vec<Cell>>),
    /// The first `max_rows` rows; there were more.
    TooMany(Vec<String>, Vec<Vec<Cell>>),
    /// The statement failed.
    Failed(sqlx::Error),
}

/// `params` as typed SQL literals, for a statement that takes none (`COPY`): see `sql/copy.rs`.
pub(super) fn literals(params: &[Value]) -> Vec<String> {
    params.iter().map(literal).collect()
}

/// A parameter as a typed literal, of the type sqlx binds it as.
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "(NULL::text)".into(),
        Value::Bool(v) => format!("({v})"),
        Value::Int(v) => format!("({v}::int8)"),
        Value::Float(v) => format!("('{v:?}'::float8)"),
        Value::Text(v) => format!("({}::text)", dollar_quoted(v)),
        Value::DateTime(v) => format!("('{}'::timestamp)", v.format("%Y-%m-%d %H:%M:%S%.6f")),
    }
}

/// `text` between dollar quotes whose tag it does not contain: no escapes, nothing can end it.
fn dollar_quoted(text: &str) -> String {
    let mut n = 0u32;
    loop {
        let tag = if n == 0 { "$m8$".to_string() } else { format!("$m8_{n}$") };
        if !text.contains(&tag) {
            return format!("{tag}{text}{tag}");
        }
        n += 1;
    }
}

/// What [`query_limited`] read: rows as cells, or a frame `COPY` built column by column (and
/// whether it was cut at the row limit).
enum Got {
    Cells(Fetched),
    Frame(DataFrame, bool),
}


/// Reads rows from `stream` until it ends, fails, or passes `max_rows` (the rows past it are
/// never decoded).
pub(super) async fn collect<R, S>(stream: &mut S, max_rows: usize, cell: fn(&R, usize) -> Result<Cell>) -> Result<Fetched>
where
    R: sqlx::Row,
    S: futures_util::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin,
{
    use futures_util::TryStreamExt as _;
    let (mut names, mut cells) = (Vec::new(), Vec::new());
    loop {
        match stream.try_next().await {
            Ok(Some(row)) => {
                if names.is_empty() {
                    names = row.columns().iter().map(|c| c.name().to_string()).collect();
                }
                if cells.len() == max_rows {
                    return Ok(Fetched::TooMany(names, cells));
                }
                cells.push((0..row.len()).map(|i| cell(&row, i)).collect::<Result<Vec<_>>>()?);
            }
            Ok(None) => return Ok(Fetched::Rows(names, cells)),
            Err(e) => return Ok(Fetched::Failed(e)),
        }
    }
}

/// How far [`super::SyncDb::query`] lets a learner's statement go. Default: 60 s, 1,000,000 rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryLimits {
    /// The statement is stopped after this long (`None`: never). PostgreSQL's
    /// `statement_timeout`; on SQLite, a progress handler.
    pub timeout: Option<Duration>,
    /// At most this many rows are fetched (`None`: all); a cut is announced, never silent.
    pub max_rows: Option<usize>,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits { timeout: Some(Duration::from_secs(60)), max_rows: Some(1_000_000) }
    }
}

impl QueryLimits {
    /// No time limit and every row.
    pub fn none() -> QueryLimits {
        QueryLimits { timeout: None, max_rows: None }
    }
}

/// [`query_frame`] within `limits`: the frame, and `true` when it holds only the first
/// `max_rows` rows of a longer result. A statement stopped at the time limit is
/// [`Error::Timeout`].
pub async fn query_limited(db: &Db, sql: &str, params: &[Value], limits: QueryLimits) -> Result<(DataFrame, bool)> {
    check_params(params)?;
    db.count_statements(1);
    let started = std::time::Instant::now();
    let max_rows = limits.max_rows.unwrap_or(usize::MAX);
    let text = sqlx::AssertSqlSafe(sql.to_string());
    let fetched = match &db.pool {
        Pool::Postgres(p) => {
            use sqlx::Executor as _;
            let mut conn = p.acquire().await.map_err(|e| db.error(e))?;
            if let Some(t) = limits.timeout {
                let ms = t.as_millis().max(1);
                conn.execute(sqlx::AssertSqlSafe(format!("SET statement_timeout = {ms}"))).await.map_err(|e| db.error(e))?;
            }
            let (fetched, copy_failed) = match super::copy::read(&mut conn, sql, &literals(params), max_rows).await {
                Ok(Some(copied)) => (Got::Frame(copied.frame, copied.cut), false),
                Ok(None) => {
                    let mut rows = bind_all!(sqlx::query(text), params).fetch(&mut *conn);
                    (Got::Cells(collect(&mut rows, max_rows, postgres_cell).await?), false)
                }
                Err(e) => (Got::Cells(Fetched::Failed(e)), true),
            };
            // A failed COPY leaves sqlx's connection out of step with the server (an answer it
            // has not read): it is closed, never handed back to the pool.
            if copy_failed || matches!(fetched, Got::Cells(Fetched::TooMany(..)) | Got::Frame(_, true)) {
                // the rest is never read (a cut, or a value that could not be decoded): a closed
                // connection stops the server's work at once, and no half-read stream goes back
                // to the pool
                // Dropped, not closed politely: a polite close first finishes the TLS exchange,
                // which a connection left in the middle of a COPY was seen to wait on for good.
                drop(conn.detach());
            } else if limits.timeout.is_some() {
                conn.execute("RESET statement_timeout").await.map_err(|e| db.error(e))?;
            }
            fetched
        }
        Pool::Sqlite(p) => {
            let mut conn = p.acquire().await.map_err(|e| db.error(e))?;
            if let Some(t) = limits.timeout {
                let deadline = std::time::Instant::now() + t;
                conn.lock_handle().await.map_err(|e| db.error(e))?.set_progress_handler(1_000, move || std::time::Instant::now() < deadline);
            }
            let fetched = {
                let mut rows = bind_all!(sqlx::query(text), params).fetch(&mut *conn);
                collect(&mut rows, max_rows, sqlite_cell).await?
            };
            if limits.timeout.is_some() {
                conn.lock_handle().await.map_err(|e| db.error(e))?.remove_progress_handler();
            }
            Got::Cells(fetched)
        }
    };
    let outcome = match fetched {
        Got::Cells(Fetched::Rows(names, cells)) => Ok((frame(names, cells)?, false)),
        Got::Cells(Fetched::TooMany(names, cells)) => Ok((frame(names, cells)?, true)),
        Got::Frame(frame, cut) => Ok((frame, cut)),
        Got::Cells(Fetched::Failed(e)) if timed_out(&e) => Err(Error::Timeout { what: "the statement".into(), after: limits.timeout.unwrap_or_default() }),
        Got::Cells(Fetched::Failed(e)) => Err(db.error(e)),
    };
    trace_statement(db, sql, params, started, outcome.as_ref().map(|(f, _)| f.height() as u64));
    outcome
}

/// Whether a driver error is a statement stopped by its time limit: PostgreSQL's
/// `query_canceled` (57014), SQLite's `SQLITE_INTERRUPT` (9).
pub(super) fn timed_out(e: &sqlx::Error) -> bool {
    let Some(code) = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string()) else { return false };
    code == "57014" || code.parse::<i32>().is_ok_and(|n| n & 0xff == 9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServiceUrl;

    /// An in-memory database lives as long as its one connection, which lives on the runtime
    /// that opened it: each test opens it inside its own `run`.
    async fn memory_db() -> Result<Db> {
        let db = Db::connect(&ServiceUrl::new("sqlite::memory:"), None).await?;
        db.migrate().await?;
        Ok(db)
    }

    #[test]
    fn a_query_becomes_a_frame_with_typed_columns() {
        let df = crate::run(async {
            let db = memory_db().await?;
            let db = &db;
            execute(db, "INSERT INTO countries (id, code, name, continent) VALUES ($1, $2, $3, $4)", &[1.into(), "DE".into(), "Germany".into(), "Europe".into()]).await?;
            query_frame(db, "SELECT id, name, CAST(id AS REAL) / 2 AS half, NULL AS missing FROM countries WHERE code = $1", &["DE".into()]).await
        })
        .unwrap();
        assert_eq!(df.get_column_names(), ["id", "name", "half", "missing"]);
        assert_eq!(df.column("id").unwrap().i64().unwrap().get(0), Some(1));
        assert_eq!(df.column("name").unwrap().str().unwrap().get(0), Some("Germany"));
        assert_eq!(df.column("half").unwrap().f64().unwrap().get(0), Some(0.5));
        assert_eq!(df.column("missing").unwrap().null_count(), 1);
    }

    #[test]
    fn a_parameter_is_data_never_sql() {
        let (rows, still_there) = crate::run(async {
            let db = memory_db().await?;
            let db = &db;
            execute(db, "INSERT INTO countries (id, code, name, continent) VALUES (1, 'DE', 'Germany', 'Europe')", &[]).await?;
            let rows = query_frame(db, "SELECT id FROM countries WHERE name = $1", &["' OR '1'='1".into()]).await?;
            let still = query_frame(db, "SELECT COUNT(*) AS n FROM countries", &[]).await?;
            Ok::<_, Error>((rows.height(), still.column("n").unwrap().i64().unwrap().get(0)))
        })
        .unwrap();
        assert_eq!((rows, still_there), (0, Some(1)));
    }

    #[test]
    fn a_failing_statement_names_the_constraint() {
        let err = crate::run(async {
            let db = memory_db().await?;
            let db = &db;
            execute(db, "INSERT INTO countries (id, code, name, continent) VALUES (1, 'DE', 'Germany', 'Europe')", &[]).await?;
            execute(db, "INSERT INTO countries (id, code, name, continent) VALUES (2, 'DE', 'Again', 'Europe')", &[]).await
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("countries.code"), "{err}");
    }

    #[test]
    fn the_plan_of_a_lookup_names_its_index() {
        let plan = crate::run(async {
            let db = memory_db().await?;
            explain(&db, "SELECT id FROM users WHERE login_count < $1 ORDER BY login_count DESC LIMIT 5", &[10.into()]).await
        })
        .unwrap();
        let lines = crate::display::column_strings(&plan, "plan").unwrap();
        assert!(lines.iter().any(|l| l.contains("users_activity_idx")), "{lines:?}");
    }

    #[test]
    fn parameters_become_typed_literals_that_nothing_inside_can_end() {
        let t = chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap().and_hms_micro_opt(8, 5, 0, 250).unwrap();
        assert_eq!(literal(&Value::DateTime(t)), "('2025-03-01 08:05:00.000250'::timestamp)");
        assert_eq!(literal(&Value::Float(0.1)), "('0.1'::float8)");
        assert_eq!(literal(&Value::Float(f64::NAN)), "('NaN'::float8)");
        assert_eq!((literal(&Value::Bool(true)), literal(&Value::Int(-7)), literal(&Value::Null)), ("(true)".into(), "(-7::int8)".into(), "(NULL::text)".into()));
        assert_eq!(literal(&Value::Text("O'Brien $m8$ x".into())), "($m8_1$O'Brien $m8$ x$m8_1$::text)");
    }

    #[test]
    fn options_bind_null() {
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some("x")), Value::Text("x".into()));
    }
}
