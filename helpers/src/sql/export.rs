//! A result too big for a cell, streamed to a CSV file in batches: the rows are never all held
//! at once, whatever their number.
//!
//! The rows are written one by one as the driver yields them, on both backends, by the `csv`
//! crate: a header line names the columns (a result without rows gives an empty file), and a
//! field holding a comma, a quote or a line break is quoted (RFC 4180). PostgreSQL's own
//! `COPY … TO STDOUT (FORMAT csv)` was tried: sqlx leaves the connection out of step when such
//! a `COPY` fails at its start, and the next call on it hung — so not here.

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
    /// How the rows were written (`row by row`).
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
            // Row by row here too: a COPY that fails at its start leaves sqlx's connection out of
            // step with the server (it was seen to hang the next call), so a CSV export, whose
            // cost is the writing, does not take that risk.
            let copied = {
                let text = sqlx::AssertSqlSafe(sql.to_string());
                let mut rows = bind_all!(sqlx::query(text), params).fetch(&mut *conn);
                row_by_row(db, &mut rows, postgres_cell, &mut out).await.map(|n| (n, "row by row"))
            };
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
