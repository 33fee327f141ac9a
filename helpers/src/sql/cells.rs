//! The rows of a result into typed columns: each value decoded into a [`Cell`] (SQLite's
//! storage classes read by the column's declared type, PostgreSQL's by its type), then each
//! column's type chosen from its cells ([`frame`]): integers stay integers, a column mixing
//! integers and numbers becomes numbers, booleans, date-times and dates keep their type, and
//! anything else is text. The row-by-row path of `query`; `copy.rs` builds the same columns from
//! PostgreSQL's binary COPY.

use chrono::{NaiveDate, NaiveDateTime};
use polars::prelude::{Column, DataFrame};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use crate::error::{Error, Result};

/// One decoded cell of a result row, before its column's type is chosen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    DateTime(NaiveDateTime),
    Date(NaiveDate),
}

pub(super) fn text(cell: &Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Text(s) => s.clone(),
        Cell::DateTime(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        Cell::Date(d) => d.to_string(),
    }
}

fn decode_error(column: &str, ty: &str, e: impl std::fmt::Display) -> Error {
    Error::Codec { what: format!("column `{column}` ({ty})"), reason: format!("could not be read: {e}; CAST it to a number or TEXT in the query") }
}

pub(super) fn sqlite_cell(row: &sqlx_sqlite::SqliteRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i).map_err(|e| decode_error(row.column(i).name(), "?", e))?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let declared = row.column(i).type_info().name().to_ascii_uppercase();
    let stored = raw.type_info().name().to_ascii_uppercase();
    let name = row.column(i).name();
    let err = |e: sqlx::Error| decode_error(name, &stored, e);
    // SQLite stores a value in one of five classes; the declared column type says how the
    // application means it (BOOLEAN columns hold 0/1).
    Ok(match stored.as_str() {
        "INTEGER" | "BOOLEAN" | "NUMERIC" if declared == "BOOLEAN" => Cell::Bool(row.try_get_unchecked::<i64, _>(i).map_err(err)? != 0),
        "INTEGER" | "BOOLEAN" | "NUMERIC" => Cell::Int(row.try_get_unchecked::<i64, _>(i).map_err(err)?),
        "REAL" => Cell::Float(row.try_get_unchecked::<f64, _>(i).map_err(err)?),
        "BLOB" => Cell::Text(format!("<{} bytes>", row.try_get_unchecked::<Vec<u8>, _>(i).map_err(err)?.len())),
        _ => {
            let s: String = row.try_get_unchecked(i).map_err(err)?;
            match declared.as_str() {
                "DATETIME" | "TIMESTAMP" => NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f").map_or(Cell::Text(s), Cell::DateTime),
                "DATE" => NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_or(Cell::Text(s), Cell::Date),
                _ => Cell::Text(s),
            }
        }
    })
}

pub(super) fn postgres_cell(row: &sqlx_postgres::PgRow, i: usize) -> Result<Cell> {
    let raw = row.try_get_raw(i).map_err(|e| decode_error(row.column(i).name(), "?", e))?;
    if raw.is_null() {
        return Ok(Cell::Null);
    }
    let ty = row.column(i).type_info().name().to_string();
    let name = row.column(i).name();
    let err = |e: sqlx::Error| decode_error(name, &ty, e);
    Ok(match ty.as_str() {
        "BOOL" => Cell::Bool(row.try_get(i).map_err(err)?),
        "INT2" => Cell::Int(row.try_get::<i16, _>(i).map_err(err)? as i64),
        "INT4" => Cell::Int(row.try_get::<i32, _>(i).map_err(err)? as i64),
        "INT8" => Cell::Int(row.try_get(i).map_err(err)?),
        "FLOAT4" => Cell::Float(row.try_get::<f32, _>(i).map_err(err)? as f64),
        "FLOAT8" => Cell::Float(row.try_get(i).map_err(err)?),
        "TIMESTAMP" => Cell::DateTime(row.try_get(i).map_err(err)?),
        "TIMESTAMPTZ" => Cell::DateTime(row.try_get::<chrono::DateTime<chrono::Utc>, _>(i).map_err(err)?.naive_utc()),
        "DATE" => Cell::Date(row.try_get(i).map_err(err)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => Cell::Text(row.try_get(i).map_err(err)?),
        "JSON" | "JSONB" => Cell::Text(row.try_get::<serde_json::Value, _>(i).map_err(err)?.to_string()),
        other => return Err(decode_error(name, other, "no conversion to a DataFrame column")),
    })
}

/// Chooses each column's type from its cells and builds the frame.
pub(super) fn frame(names: Vec<String>, rows: Vec<Vec<Cell>>) -> Result<DataFrame> {
    let mut columns = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let cells: Vec<&Cell> = rows.iter().map(|r| &r[i]).collect();
        columns.push(column(name, &cells));
    }
    Ok(DataFrame::new_infer_height(columns)?)
}

fn column(name: &str, cells: &[&Cell]) -> Column {
    let present = || cells.iter().filter(|c| !matches!(c, Cell::Null));
    let all = |f: fn(&Cell) -> bool| present().all(|c| f(c));
    let name = name.into();
    if present().next().is_none() {
        return Column::new(name, cells.iter().map(|_| None::<String>).collect::<Vec<_>>());
    }
    if all(|c| matches!(c, Cell::Int(_))) {
        return Column::new(name, cells.iter().map(|c| if let Cell::Int(v) = c { Some(*v) } else { None }).collect::<Vec<_>>());
    }
    if all(|c| matches!(c, Cell::Int(_) | Cell::Float(_))) {
        let floats: Vec<Option<f64>> = cells
            .iter()
            .map(|c| match c {
                Cell::Int(v) => Some(*v as f64),
                Cell::Float(v) => Some(*v),
                _ => None,
            })
            .collect();
        return Column::new(name, floats);
    }
    if all(|c| matches!(c, Cell::Bool(_))) {
        return Column::new(name, cells.iter().map(|c| if let Cell::Bool(v) = c { Some(*v) } else { None }).collect::<Vec<_>>());
    }
    if all(|c| matches!(c, Cell::DateTime(_))) {
        return Column::new(name, cells.iter().map(|c| if let Cell::DateTime(v) = c { Some(*v) } else { None }).collect::<Vec<_>>());
    }
    if all(|c| matches!(c, Cell::Date(_))) {
        return Column::new(name, cells.iter().map(|c| if let Cell::Date(v) = c { Some(*v) } else { None }).collect::<Vec<_>>());
    }
    Column::new(name, cells.iter().map(|c| (!matches!(c, Cell::Null)).then(|| text(c))).collect::<Vec<_>>())
}
