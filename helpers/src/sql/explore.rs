//! A database looked at for the first time, one call each: its tables with their sizes, their
//! columns with types and nullability, their indexes ([`schema`]); and a histogram computed
//! where the data is, fetching only the bins ([`histogram`], JupySQL's `%sqlplot` idea).
//!
//! Both backends answer from their own catalogue: SQLite's `sqlite_master` and `pragma_*`
//! table functions (row counts exact: SQLite keeps no estimate), PostgreSQL's `pg_class`
//! (`reltuples`, the planner's row estimate, and `pg_total_relation_size`),
//! `information_schema.columns` and `pg_indexes` — for the schema the connection works in.

use polars::prelude::DataFrame;

use super::query::{Value, query_frame};
use super::{Backend, Db};
use crate::error::{Error, Result};

/// What [`schema`] found: one frame per question.
#[derive(Clone, Debug)]
pub struct Schema {
    /// `table_name`, `rows` (PostgreSQL: the planner's estimate, -1 before the first
    /// `ANALYZE`; SQLite: counted), `bytes` (PostgreSQL: table + indexes + TOAST; SQLite: none).
    pub tables: DataFrame,
    /// `table_name`, `column_name`, `data_type`, `nullable` (`yes`/`no`), `primary_key`
    /// (`yes`/`no`), in the tables' column order.
    pub columns: DataFrame,
    /// `table_name`, `index_name`, `unique` (`yes`/`no`), `definition` (PostgreSQL: its `CREATE
    /// INDEX`; SQLite: its columns).
    pub indexes: DataFrame,
}

/// Tables of the migrations' own bookkeeping, left out of [`schema`].
const BOOKKEEPING: &str = "_sqlx_migrations";

/// The tables, columns and indexes of the database `db` works in.
pub async fn schema(db: &Db) -> Result<Schema> {
    match db.backend() {
        Backend::Sqlite => {
            let tables = query_frame(db, SQLITE_TABLES, &[BOOKKEEPING.into()]).await?;
            let columns = query_frame(db, SQLITE_COLUMNS, &[BOOKKEEPING.into()]).await?;
            let indexes = query_frame(db, SQLITE_INDEXES, &[BOOKKEEPING.into()]).await?;
            // SQLite keeps no row estimate: count each table (names from its own catalogue).
            let names = crate::display::column_strings(&tables, "table_name").unwrap_or_default();
            let mut counts = Vec::with_capacity(names.len());
            for name in &names {
                let n = query_frame(db, &format!("SELECT COUNT(*) AS n FROM {}", quoted(name)?), &[]).await?;
                counts.push(n.column("n")?.i64()?.get(0).unwrap_or(0));
            }
            let tables = DataFrame::new_infer_height(vec![
                polars::prelude::Column::new("table_name".into(), names),
                polars::prelude::Column::new("rows".into(), counts),
            ])?;
            Ok(Schema { tables, columns, indexes })
        }
        Backend::Postgres => Ok(Schema {
            tables: query_frame(db, PG_TABLES, &[BOOKKEEPING.into()]).await?,
            columns: query_frame(db, PG_COLUMNS, &[BOOKKEEPING.into()]).await?,
            indexes: query_frame(db, PG_INDEXES, &[BOOKKEEPING.into()]).await?,
        }),
    }
}

const SQLITE_TABLES: &str = "SELECT name AS table_name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> $1 ORDER BY name";
const SQLITE_COLUMNS: &str = r#"
    SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
           CASE WHEN p."notnull" = 1 OR p.pk > 0 THEN 'no' ELSE 'yes' END AS nullable,
           CASE WHEN p.pk > 0 THEN 'yes' ELSE 'no' END AS primary_key
    FROM sqlite_master m JOIN pragma_table_info(m.name) p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> $1
    ORDER BY m.name, p.cid"#;
const SQLITE_INDEXES: &str = r#"
    SELECT m.name AS table_name, il.name AS index_name,
           CASE WHEN il."unique" = 1 THEN 'yes' ELSE 'no' END AS "unique",
           (SELECT group_concat(ii.name, ', ') FROM pragma_index_info(il.name) ii) AS definition
    FROM sqlite_master m JOIN pragma_index_list(m.name) il
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> $1
    ORDER BY m.name, il.name"#;
const PG_TABLES: &str = r#"
    SELECT c.relname::text AS table_name, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> $1
    ORDER BY c.relname"#;
const PG_COLUMNS: &str = r#"
    SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, c.data_type::text AS data_type,
           CASE WHEN c.is_nullable = 'YES' THEN 'yes' ELSE 'no' END AS nullable,
           CASE WHEN EXISTS (
               SELECT 1 FROM information_schema.table_constraints t
               JOIN information_schema.key_column_usage k ON k.constraint_name = t.constraint_name AND k.table_schema = t.table_schema
               WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema AND t.table_name = c.table_name AND k.column_name = c.column_name
           ) THEN 'yes' ELSE 'no' END AS primary_key
    FROM information_schema.columns c
    WHERE c.table_schema = current_schema() AND c.table_name <> $1
    ORDER BY c.table_name, c.ordinal_position"#;
const PG_INDEXES: &str = r#"
    SELECT i.tablename::text AS table_name, i.indexname::text AS index_name,
           CASE WHEN x.indisunique THEN 'yes' ELSE 'no' END AS "unique", i.indexdef AS definition
    FROM pg_indexes i
    JOIN pg_class ic ON ic.relname = i.indexname
    JOIN pg_namespace n ON n.oid = ic.relnamespace AND n.nspname = i.schemaname
    JOIN pg_index x ON x.indexrelid = ic.oid
    WHERE i.schemaname = current_schema() AND i.tablename <> $1
    ORDER BY i.tablename, i.indexname"#;

/// `name` (a table or column, `schema.table` allowed) between double quotes, or an error
/// when it holds anything but letters, digits and `_`: names are written into the statement.
fn quoted(name: &str) -> Result<String> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Err(Error::Invalid { field: "name".into(), reason: format!("`{name}` is not a plain table or column name (letters, digits, `_`, one `.`)") });
    }
    Ok(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

/// A histogram of `column` of `table` with `bins` equal-width bins between its minimum and
/// maximum, counted by the database: two statements (the bounds, then one row per bin), so
/// only the bins cross the network. Columns `bin_start`, `bin_end`, `rows`; empty bins
/// included; nulls left out. A column whose values are all equal is one bin.
pub async fn histogram(db: &Db, table: &str, column: &str, bins: usize) -> Result<DataFrame> {
    if bins == 0 || bins > 10_000 {
        return Err(Error::Invalid { field: "bins".into(), reason: format!("{bins}: between 1 and 10,000") });
    }
    let (t, c) = (quoted(table)?, quoted(column)?);
    let bounds = query_frame(db, &format!("SELECT CAST(MIN({c}) AS DOUBLE PRECISION) AS lo, CAST(MAX({c}) AS DOUBLE PRECISION) AS hi FROM {t}"), &[]).await?;
    let get = |name: &str| bounds.column(name).ok().and_then(|s| s.cast(&polars::prelude::DataType::Float64).ok()).and_then(|s| s.f64().ok().and_then(|v| v.get(0)));
    let (Some(lo), Some(hi)) = (get("lo"), get("hi")) else {
        // No non-null value: no bins.
        return Ok(DataFrame::new_infer_height(vec![
            polars::prelude::Column::new("bin_start".into(), Vec::<f64>::new()),
            polars::prelude::Column::new("bin_end".into(), Vec::<f64>::new()),
            polars::prelude::Column::new("rows".into(), Vec::<i64>::new()),
        ])?);
    };
    let n = if hi > lo { bins } else { 1 };
    let width = if hi > lo { (hi - lo) / n as f64 } else { 1.0 };
    let floor = match db.backend() {
        Backend::Sqlite => format!("CAST(({c} - $1) / $2 AS INTEGER)"),
        Backend::Postgres => format!("CAST(FLOOR(({c} - $1) / $2) AS BIGINT)"),
    };
    let counted = query_frame(
        db,
        &format!("SELECT CASE WHEN {floor} >= $3 THEN $3 - 1 ELSE {floor} END AS bin, COUNT(*) AS n FROM {t} WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY 1"),
        &[Value::Float(lo), Value::Float(width), Value::Int(n as i64)],
    )
    .await?;
    let mut rows = vec![0i64; n];
    if counted.height() > 0 {
        let (b, k) = (counted.column("bin")?.i64()?, counted.column("n")?.i64()?);
        for (bin, count) in b.iter().zip(k.iter()) {
            if let (Some(bin), Some(count)) = (bin, count) {
                rows[(bin.max(0) as usize).min(n - 1)] += count;
            }
        }
    }
    let start: Vec<f64> = (0..n).map(|i| lo + i as f64 * width).collect();
    let end: Vec<f64> = (0..n).map(|i| if i + 1 == n { hi } else { lo + (i + 1) as f64 * width }).collect();
    Ok(DataFrame::new_infer_height(vec![
        polars::prelude::Column::new("bin_start".into(), start),
        polars::prelude::Column::new("bin_end".into(), end),
        polars::prelude::Column::new("rows".into(), rows),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_written_into_a_statement() {
        assert_eq!(quoted("users").unwrap(), "\"users\"");
        assert_eq!(quoted("module8.users").unwrap(), "\"module8\".\"users\"");
        for bad in ["users; DROP TABLE users", "a.b.c", "", "x\"y", "users "] {
            assert!(matches!(quoted(bad), Err(Error::Invalid { .. })), "{bad}");
        }
    }
}
