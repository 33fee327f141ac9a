//! A result too big for a cell, streamed to a CSV file in batches: the rows are never all held
//! at once, whatever their number.
//!
//! On PostgreSQL the server writes the CSV itself — `COPY (query) TO STDOUT (FORMAT csv,
//! HEADER)` — and its bytes go to the file as they arrive (the parameters written into the
//! statement as typed literals, as for `query_frame`'s `COPY`). SQLite's rows, and a statement
//! `COPY` cannot take, are written one by one as the driver yields them. Either way a header
//! line names the columns (a result without rows gives an empty file on the row path), and a field holding a comma, a quote or a line break is quoted
//! (RFC 4180). The two writers differ in how they spell some values: PostgreSQL writes
//! booleans `t`/`f` and timestamps with their fraction of a second, the row writer `true`/`false`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::TryStreamExt as _;
use sqlx::Column as _;

use super::cells::{Cell, postgres_cell, sqlite_cell};
use super::query::{Value, bind_all};
use super::{Db, Pool};
use crate::error::{Error, Result};
use crate::frame_row;

/// What [`to_csv`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The file.
    pub path: String,
    /// Rows written (the header not counted).
    pub rows: i64,
    /// Size of the file, bytes.
    pub bytes: i64,
    /// Time from the statement to the file closed, ms.
    pub millis: f64,
    /// `COPY … (FORMAT csv)` (PostgreSQL writes the CSV) or `row by row`.
    pub how: String,
}
frame_row!(Exported { path, rows, bytes, millis, how });

/// Streams every row of `sql` (with `params` bound) into a CSV file at `path`, replacing it;
/// see the module docs. The file is written to `path` + `.partial` and renamed when complete,
/// so a failed export leaves no half file behind under the name asked for.
pub async fn to_csv(db: &Db, sql: &str, params: &[Value], path: &Path) -> Result<Exported> {
    let started = Instant::now();
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let file_error = |e: std::io::Error| Error::Invalid { field: "path".into(), reason: format!("{}: {e}", path.display()) };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial).map_err(file_error)?);
    db.count_statements(1);
    let written = match &db.pool {
        Pool::Postgres(p) => {
            let mut conn = p.acquire().await.map_err(|e| db.error(e))?;
            let copied = match by_copy(db, &mut conn, sql, params, &mut out).await {
                Ok(Some(rows)) => Ok((rows, "COPY … (FORMAT csv)")),
                Ok(None) => {
                    let text = sqlx::AssertSqlSafe(sql.to_string());
                    let mut rows = bind_all!(sqlx::query(text), params).fetch(&mut *conn);
                    row_by_row(db, &mut rows, postgres_cell, &mut out).await.map(|n| (n, "row by row"))
                }
                Err(e) => Err(e),
            };
            if copied.is_err() {
                // a stream left half-read must not go back to the pool
                use sqlx::Connection as _;
                let _ = conn.detach().close_hard().await;
            }
            copied
        }
        Pool::Sqlite(p) => {
            let text = sqlx::AssertSqlSafe(sql.to_string());
            let mut rows = bind_all!(sqlx::query(text), params).fetch(p);
            row_by_row(db, &mut rows, sqlite_cell, &mut out).await.map(|n| (n, "row by row"))
        }
    };
    let outcome = written.and_then(|(rows, how)| {
        out.flush().map_err(file_error)?;
        drop(out);
        std::fs::rename(&partial, path).map_err(file_error)?;
        let bytes = std::fs::metadata(path).map_err(file_error)?.len() as i64;
        Ok(Exported { path: path.display().to_string(), rows: rows as i64, bytes, millis: started.elapsed().as_secs_f64() * 1e3, how: how.into() })
    });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    tracing::info!(target: "helpers::sql", rows = outcome.as_ref().map_or(0, |e| e.rows), ms = started.elapsed().as_secs_f64() * 1e3, "CSV export of {}", sql.trim());
    outcome
}

/// PostgreSQL writes the CSV; `None` when the statement is not a query `COPY` can take here.
async fn by_copy(db: &Db, conn: &mut sqlx_postgres::PgConnection, sql: &str, params: &[Value], out: &mut impl std::io::Write) -> Result<Option<u64>> {
    if !super::copy::is_query(sql) {
        return Ok(None);
    }
    let Some(inlined) = super::copy::inline_params(sql, &super::query::literals(params)) else { return Ok(None) };
    let statement = format!("COPY ({}\n) TO STDOUT (FORMAT csv, HEADER)", inlined.trim().trim_end_matches(';'));
    let sql_error = |e: sqlx::Error| db.error(e);
    let mut stream = conn.copy_out_raw(&statement).await.map_err(sql_error)?;
    let (mut ends, mut quoted) = (0u64, false);
    while let Some(chunk) = stream.try_next().await.map_err(sql_error)? {
        for &b in chunk.iter() {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => ends += 1,
                _ => {}
            }
        }
        out.write_all(&chunk).map_err(|e| Error::Invalid { field: "path".into(), reason: e.to_string() })?;
    }
    Ok(Some(ends.saturating_sub(1))) // the header's line is not a row
}

/// Writes the rows of `stream` as CSV records (a header first) with the `csv` crate, as they
/// arrive.
async fn row_by_row<R, S>(db: &Db, stream: &mut S, cell: fn(&R, usize) -> Result<Cell>, out: &mut impl std::io::Write) -> Result<u64>
where
    R: sqlx::Row,
    S: futures_util::Stream<Item = std::result::Result<R, sqlx::Error>> + Unpin,
{
    let csv_error = |e: csv::Error| Error::Invalid { field: "path".into(), reason: e.to_string() };
    let mut writer = csv::Writer::from_writer(out);
    let mut rows = 0u64;
    let mut record: Vec<String> = Vec::new();
    while let Some(row) = stream.try_next().await.map_err(|e| db.error(e))? {
        if rows == 0 {
            writer.write_record(row.columns().iter().map(|c| c.name())).map_err(csv_error)?;
        }
        record.clear();
        for i in 0..row.len() {
            record.push(match cell(&row, i)? {
                Cell::Null => String::new(),
                Cell::Bool(b) => b.to_string(),
                Cell::Int(v) => v.to_string(),
                Cell::Float(v) => v.to_string(),
                Cell::Text(s) => s,
                Cell::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
                Cell::Date(d) => d.to_string(),
            });
        }
        writer.write_record(&record).map_err(csv_error)?;
        rows += 1;
    }
    writer.flush().map_err(|e| Error::Invalid { field: "path".into(), reason: e.to_string() })?;
    Ok(rows)
}
