//! What a learner types, run so that it can neither change the data nor run away.
//!
//! An exercise check ([`super::SyncDb::check_exercise`]) runs the learner's statement
//! [`read_only`]: alone (exactly one statement), in a read-only transaction that is rolled back
//! (PostgreSQL) or on a read-only connection (SQLite, `query_only`), stopped after
//! [`Limits::timeout`] (PostgreSQL's `statement_timeout`; SQLite's progress handler) and after
//! [`Limits::max_rows`] rows. What happened is an [`Outcome`] the verdict can name — never an
//! error of the helpers'.

use std::time::{Duration, Instant};

use polars::prelude::DataFrame;
use sqlx::{Connection as _, Executor as _};

use super::query::{self, Fetched, Value};
use super::{Db, Pool};
use crate::error::Result;

pub use crate::exercise::Limits;

/// What a learner's statement did.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It read these rows.
    Rows(DataFrame),
    /// It tried to change data or the schema; the database's words.
    Writes(String),
    /// It ran past the time limit and was stopped.
    TimedOut(Duration),
    /// It returned more than this many rows (the rest were never fetched).
    TooManyRows(usize),
    /// The text holds more than one statement (how many).
    NotOneStatement(usize),
    /// The database refused it (a syntax error, an unknown column, …); its words.
    Refused(String),
}

/// Runs `sql` with `params` bound, read-only and bounded (see the module). `Err` only when the
/// database cannot be reached.
pub async fn read_only(db: &Db, sql: &str, params: &[Value], limits: Limits) -> Result<Outcome> {
    let n = statements(sql);
    if n > 1 {
        return Ok(Outcome::NotOneStatement(n));
    }
    let started = Instant::now();
    let outcome = match &db.pool {
        Pool::Postgres(p) => postgres(db, p, sql, params, limits).await?,
        Pool::Sqlite(p) => sqlite(db, p, sql, params, limits).await?,
    };
    tracing::info!(target: "helpers::sql", backend = db.backend().name(), ms = started.elapsed().as_secs_f64() * 1e3,
        outcome = outcome.label(), "read-only: {}", sql.trim());
    Ok(outcome)
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Rows(_) => "rows",
            Outcome::Writes(_) => "writes",
            Outcome::TimedOut(_) => "timed out",
            Outcome::TooManyRows(_) => "too many rows",
            Outcome::NotOneStatement(_) => "not one statement",
            Outcome::Refused(_) => "refused",
        }
    }
}

async fn postgres(db: &Db, pool: &sqlx_postgres::PgPool, sql: &str, params: &[Value], limits: Limits) -> Result<Outcome> {
    let mut conn = pool.acquire().await.map_err(|e| db.error(e))?;
    conn.execute("BEGIN READ ONLY").await.map_err(|e| db.error(e))?;
    let ms = limits.timeout.as_millis().max(1);
    conn.execute(sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = {ms}"))).await.map_err(|e| db.error(e))?;
    // The server stops the statement at the timeout; this bound is for a server that does not answer.
    let fetched = tokio::time::timeout(limits.timeout + Duration::from_secs(5), async {
        let text = sqlx::AssertSqlSafe(sql.to_string());
        let mut rows = query::bind_all!(sqlx::query(text), params).fetch(&mut *conn);
        query::collect(&mut rows, limits.max_rows, super::cells::postgres_cell).await
    })
    .await;
    let Ok(fetched) = fetched else {
        let _ = conn.detach().close_hard().await; // in an unknown state: never back into the pool
        return Ok(Outcome::TimedOut(limits.timeout));
    };
    // A result cut at the row cap was never read to its end: the server is still sending it (or
    // has hit the timeout, which aborts the transaction), and a ROLLBACK would first wait for
    // that. Such a connection, or one whose ROLLBACK failed, is closed, never handed back to the
    // pool: the next call would get it inside an aborted transaction.
    let reusable = !matches!(fetched, Ok(Fetched::TooMany(..))) && conn.execute("ROLLBACK").await.is_ok();
    if !reusable {
        let _ = conn.detach().close_hard().await;
    }
    Ok(match fetched? {
        Fetched::Rows(names, cells) => Outcome::Rows(super::cells::frame(names, cells)?),
        Fetched::TooMany(..) => Outcome::TooManyRows(limits.max_rows),
        Fetched::Failed(e) => match e.as_database_error().and_then(|d| d.code()).as_deref() {
            Some("25006") => Outcome::Writes(message(&e)),  // read_only_sql_transaction
            Some("57014") => Outcome::TimedOut(limits.timeout), // query_canceled (statement_timeout)
            Some(code) if code.starts_with("42") && writes_statement(sql) => Outcome::Writes(message(&e)),
            _ => Outcome::Refused(message(&e)),
        },
    })
}

async fn sqlite(db: &Db, pool: &sqlx_sqlite::SqlitePool, sql: &str, params: &[Value], limits: Limits) -> Result<Outcome> {
    // A connection of its own, opened read-only on the same database, never the pool's.
    let options = (*pool.connect_options()).clone().read_only(true);
    let mut conn = sqlx_sqlite::SqliteConnection::connect_with(&options).await.map_err(|e| db.error(e))?;
    conn.execute("PRAGMA query_only = 1").await.map_err(|e| db.error(e))?;
    let deadline = Instant::now() + limits.timeout;
    conn.lock_handle().await.map_err(|e| db.error(e))?.set_progress_handler(1_000, move || Instant::now() < deadline);
    let fetched = {
        let text = sqlx::AssertSqlSafe(sql.to_string());
        let mut rows = query::bind_all!(sqlx::query(text), params).fetch(&mut conn);
        query::collect(&mut rows, limits.max_rows, super::cells::sqlite_cell).await?
    };
    let _ = conn.close().await;
    Ok(match fetched {
        Fetched::Rows(names, cells) => Outcome::Rows(super::cells::frame(names, cells)?),
        Fetched::TooMany(..) => Outcome::TooManyRows(limits.max_rows),
        Fetched::Failed(e) => {
            let code = e.as_database_error().and_then(|d| d.code()).map(|c| c.to_string());
            let text = message(&e);
            match code.as_deref() {
                // SQLITE_READONLY (8) and its extended codes; query_only answers the same way
                Some(c) if c == "8" || c.parse::<i32>().is_ok_and(|n| n & 0xff == 8) => Outcome::Writes(text),
                Some(c) if c == "9" || c.parse::<i32>().is_ok_and(|n| n & 0xff == 9) => Outcome::TimedOut(limits.timeout), // SQLITE_INTERRUPT
                _ if text.contains("readonly") || text.contains("read-only") => Outcome::Writes(text),
                _ if text.contains("interrupted") => Outcome::TimedOut(limits.timeout),
                _ => Outcome::Refused(text),
            }
        }
    })
}

fn message(e: &sqlx::Error) -> String {
    e.as_database_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())
}

/// Whether the first word of `sql` is one that changes data or the schema.
fn writes_statement(sql: &str) -> bool {
    let first = strip_comments(sql).split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "DROP" | "CREATE" | "ALTER" | "TRUNCATE" | "REPLACE" | "GRANT" | "REVOKE" | "VACUUM" | "REINDEX" | "ATTACH" | "DETACH" | "PRAGMA" | "COPY")
}

fn strip_comments(sql: &str) -> String {
    let mut out = String::new();
    for_each_char(sql, |c, in_code| {
        if in_code {
            out.push(c)
        }
    });
    out
}

/// How many statements `sql` holds: `;`-separated parts with something other than blanks and
/// comments in them. Quotes ('…', "…", $tag$…$tag$) and comments (--, /* */) are skipped.
pub fn statements(sql: &str) -> usize {
    let mut count = 0;
    let mut has_code = false;
    for_each_char(sql, |c, in_code| {
        if !in_code {
            if c != '\0' {
                has_code = true; // inside a string: part of a statement
            }
            return;
        }
        if c == ';' {
            count += usize::from(has_code);
            has_code = false;
        } else if !c.is_whitespace() {
            has_code = true;
        }
    });
    count + usize::from(has_code)
}

/// Calls `f(c, true)` for each character of SQL code, `f(c, false)` for each character inside a
/// string or quoted identifier, and nothing for comments.
fn for_each_char(sql: &str, mut f: impl FnMut(char, bool)) {
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '-' && next == Some('-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c == '\'' || c == '"' {
            f(c, false);
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        i += 2; // a doubled quote inside the string
                        continue;
                    }
                    break;
                }
                f(chars[i], false);
                i += 1;
            }
            i += 1;
            continue;
        }
        if c == '$' {
            // a dollar-quoted string: $$…$$ or $tag$…$tag$ (not $1, a placeholder)
            let tag_end = chars[i + 1..].iter().position(|&t| !(t.is_alphanumeric() || t == '_')).map(|p| i + 1 + p);
            if let Some(end) = tag_end
                && chars[end] == '$'
                && !chars[i + 1..end].first().is_some_and(|t| t.is_ascii_digit())
            {
                let tag: String = chars[i..=end].iter().collect();
                let rest: String = chars[end + 1..].iter().collect();
                if let Some(close) = rest.find(&tag) {
                    for t in rest[..close].chars() {
                        f(t, false);
                    }
                    i = end + 1 + rest[..close].chars().count() + tag.chars().count();
                    continue;
                }
            }
        }
        f(c, true);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_is_one_whatever_its_comments_strings_and_trailing_semicolons() {
        assert_eq!(statements("SELECT 1"), 1);
        assert_eq!(statements("SELECT 1;"), 1);
        assert_eq!(statements("SELECT ';' AS a; -- done; really"), 1);
        assert_eq!(statements("SELECT \"a;b\" FROM t /* ; */ ;\n  ;"), 1);
        assert_eq!(statements("SELECT $$ ; $$, $1"), 1);
        assert_eq!(statements("SELECT 'it''s; fine'"), 1);
        assert_eq!(statements("   -- nothing\n"), 0);
    }

    #[test]
    fn two_statements_are_counted_however_they_are_hidden() {
        assert_eq!(statements("SELECT 1; DELETE FROM orders"), 2);
        assert_eq!(statements("SELECT 1;DELETE FROM orders;"), 2);
        assert_eq!(statements("SELECT '--'; DROP TABLE orders; --"), 2);
        assert_eq!(statements("SELECT $tag$;$tag$; DELETE FROM t"), 2);
    }

    #[test]
    fn a_statement_that_changes_data_is_known_by_its_first_word() {
        assert!(writes_statement("  -- the answer\n DELETE FROM users"));
        assert!(writes_statement("drop table orders; --"));
        assert!(!writes_statement("SELECT * FROM users"));
        assert!(!writes_statement("WITH x AS (SELECT 1) SELECT * FROM x"));
    }
}
