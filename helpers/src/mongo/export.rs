//! The DataProcessor's export: any query or pipeline result as a Polars DataFrame, and the
//! frame as CSV.
//!
//! Nested documents are flattened into dotted column names (`metadata.price`,
//! `geo.location.coordinates`). Each column gets one type from all its values: integers →
//! `i64`, numbers → `f64`, booleans, dates → datetime, anything else (strings, ObjectIds,
//! arrays as JSON) → string. A field missing from a document is a null.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use bson::{Bson, Document};
use polars::prelude::{Column, DataFrame, DataType, PolarsResult};

use super::Mongo;
use super::docs::naive;
use super::pipelines::Pipeline;
use crate::error::{Error, Result};

/// Retention curves from the cohort lesson's cells (`_id.cohort`, `_id.age`, `users`: the
/// users of a cohort active `age` months after their first): per cohort, its label (`YYYY-MM`)
/// and the share of its size still active at each age, in %; and the average over all cohorts
/// weighted by their size, at each age where the cohorts old enough hold at least `min_users`.
#[derive(Clone, Debug, Default)]
pub struct Retention {
    /// `(cohort, [(age in months, % active)])`, oldest cohort first.
    pub cohorts: Vec<(String, Vec<(f64, f64)>)>,
    /// `[(age in months, % active)]` over all cohorts, weighted by their size.
    pub average: Vec<(f64, f64)>,
}

/// [`Retention`] from the cohort cells.
pub fn retention(cells: &DataFrame, min_users: f64) -> Result<Retention> {
    use crate::display::{column_f64, column_strings};
    let (cohort, age, users) = (column_strings(cells, "_id.cohort")?, column_f64(cells, "_id.age")?, column_f64(cells, "users")?);
    let size: std::collections::BTreeMap<&str, f64> = (0..cohort.len()).filter(|&i| age[i] == 0.0).map(|i| (cohort[i].as_str(), users[i])).collect();
    let share = |i: usize| size.get(cohort[i].as_str()).map(|s| 100.0 * users[i] / s);
    let cohorts = size
        .keys()
        .map(|c| (c.chars().take(7).collect(), (0..cohort.len()).filter(|&i| cohort[i] == *c).filter_map(|i| Some((age[i], share(i)?))).collect()))
        .collect();
    let max_age = age.iter().cloned().fold(0.0, f64::max) as i64;
    let average = (0..=max_age)
        .filter_map(|a| {
            let at: Vec<usize> = (0..cohort.len()).filter(|&i| age[i] as i64 == a && size.contains_key(cohort[i].as_str())).collect();
            let total: f64 = at.iter().map(|&i| size[cohort[i].as_str()]).sum();
            (total >= min_users).then(|| (a as f64, 100.0 * at.iter().map(|&i| users[i]).sum::<f64>() / total))
        })
        .collect();
    Ok(Retention { cohorts, average })
}

/// `docs` as a DataFrame: one row per document, one column per (flattened) field, columns
/// in order of first appearance.
pub fn documents_to_frame(docs: &[Document]) -> Result<DataFrame> {
    let mut names: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut cells: Vec<Vec<Option<Bson>>> = Vec::new();
    for (row, doc) in docs.iter().enumerate() {
        let mut flat = Vec::new();
        flatten("", doc, &mut flat);
        for (name, value) in flat {
            let column = *index.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                cells.push(vec![None; docs.len()]);
                cells.len() - 1
            });
            cells[column][row] = Some(value);
        }
    }
    let columns = names.into_iter().zip(cells).map(|(name, values)| column(&name, values)).collect();
    Ok(DataFrame::new_infer_height(columns)?)
}

fn flatten(prefix: &str, doc: &Document, out: &mut Vec<(String, Bson)>) {
    for (key, value) in doc {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Bson::Document(inner) => flatten(&name, inner, out),
            other => out.push((name, other.clone())),
        }
    }
}

fn column(name: &str, values: Vec<Option<Bson>>) -> Column {
    let present = || values.iter().flatten().filter(|v| !matches!(v, Bson::Null));
    let all = |f: fn(&Bson) -> bool| present().all(f);
    let name = name.into();
    if present().next().is_none() {
        return Column::new(name, values.iter().map(|_| None::<String>).collect::<Vec<_>>());
    }
    if all(|v| matches!(v, Bson::Int32(_) | Bson::Int64(_))) {
        let ints: Vec<Option<i64>> = values
            .iter()
            .map(|v| match v {
                Some(Bson::Int32(x)) => Some(*x as i64),
                Some(Bson::Int64(x)) => Some(*x),
                _ => None,
            })
            .collect();
        return Column::new(name, ints);
    }
    if all(|v| matches!(v, Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))) {
        let floats: Vec<Option<f64>> = values
            .iter()
            .map(|v| match v {
                Some(Bson::Int32(x)) => Some(*x as f64),
                Some(Bson::Int64(x)) => Some(*x as f64),
                Some(Bson::Double(x)) => Some(*x),
                _ => None,
            })
            .collect();
        return Column::new(name, floats);
    }
    if all(|v| matches!(v, Bson::Boolean(_))) {
        let bools: Vec<Option<bool>> = values.iter().map(|v| v.as_ref().and_then(Bson::as_bool)).collect();
        return Column::new(name, bools);
    }
    if all(|v| matches!(v, Bson::DateTime(_))) {
        let dates: Vec<Option<NaiveDateTime>> = values.iter().map(|v| v.as_ref().and_then(Bson::as_datetime).map(|d| naive(*d))).collect();
        return Column::new(name, dates);
    }
    let strings: Vec<Option<String>> = values
        .iter()
        .map(|v| match v {
            None | Some(Bson::Null) => None,
            Some(Bson::String(s)) => Some(s.clone()),
            Some(Bson::ObjectId(id)) => Some(id.to_hex()),
            Some(Bson::DateTime(d)) => Some(naive(*d).format("%Y-%m-%dT%H:%M:%S%.3f").to_string()),
            Some(other) => Some(other.clone().into_relaxed_extjson().to_string()),
        })
        .collect();
    Column::new(name, strings)
}

/// Runs `pipeline` and returns its result as a DataFrame.
pub async fn aggregate_frame(m: &Mongo, pipeline: &Pipeline) -> Result<DataFrame> {
    documents_to_frame(&super::events::aggregate::<Document>(m, pipeline).await?)
}

/// Runs `find(filter)` on `collection` (at most `limit` documents, in `_id` order) and
/// returns the documents as a DataFrame.
pub async fn find_frame(m: &Mongo, collection: &str, filter: Document, limit: i64) -> Result<DataFrame> {
    let cursor = m
        .collection::<Document>(collection)
        .find(filter)
        .sort(bson::doc! { "_id": 1 })
        .limit(limit)
        .await
        .map_err(|e| m.error(e))?;
    documents_to_frame(&m.drain(cursor).await?)
}

/// At most `limit` documents of `find(filter)` on `collection` as pretty JSON, without
/// their `_id` — to show what a stored document looks like.
pub async fn find_json(m: &Mongo, collection: &str, filter: Document, limit: i64) -> Result<Vec<String>> {
    let cursor = m
        .collection::<Document>(collection)
        .find(filter)
        .projection(bson::doc! { "_id": 0 })
        .limit(limit)
        .await
        .map_err(|e| m.error(e))?;
    Ok(m.drain(cursor).await?.iter().map(super::pretty_json).collect())
}

/// Writes `df` as CSV to `path`, creating its folder, and returns the path: a header of the
/// column names, then one line per row. Each value is written as Polars shows it cast to text
/// (a datetime as `2023-11-14 22:13:20.000`); a null is an empty field. Fields are quoted where
/// CSV needs it (the `csv` crate's rules: commas, quotes, line breaks).
///
/// Polars' own CSV writer is not used: its feature pulls in the whole streaming engine, Parquet
/// and an object-store client (~50 crates), which every notebook kernel would compile
/// (docs/notebook-performance.md, round seven).
pub fn write_csv(df: &DataFrame, path: impl AsRef<Path>) -> Result<PathBuf> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let texts = df.columns().iter().map(|c| c.cast(&DataType::String)).collect::<PolarsResult<Vec<Column>>>()?;
    let texts = texts.iter().map(|c| c.str()).collect::<PolarsResult<Vec<_>>>()?;
    let file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let written = (|| -> csv::Result<()> {
        out.write_record(df.get_column_names().iter().map(|n| n.as_str()))?;
        for row in 0..df.height() {
            out.write_record(texts.iter().map(|c| c.get(row).unwrap_or("")))?;
        }
        out.flush()?;
        Ok(())
    })();
    written.map_err(|e| Error::io("write", path, std::io::Error::other(e)))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};
    use polars::prelude::DataType;

    #[test]
    fn retention_is_each_cell_over_its_cohorts_size_and_the_average_is_weighted() {
        let cells = DataFrame::new_infer_height(vec![
            Column::new("_id.cohort".into(), ["2026-01-01 00:00:00", "2026-01-01 00:00:00", "2026-02-01 00:00:00", "2026-02-01 00:00:00"]),
            Column::new("_id.age".into(), [0i64, 1, 0, 1]),
            Column::new("users".into(), [100i64, 50, 10, 1]),
        ])
        .unwrap();
        let r = retention(&cells, 50.0).unwrap();
        assert_eq!(r.cohorts, vec![("2026-01".to_string(), vec![(0.0, 100.0), (1.0, 50.0)]), ("2026-02".to_string(), vec![(0.0, 100.0), (1.0, 10.0)])]);
        assert_eq!(r.average, vec![(0.0, 100.0), (1.0, 100.0 * 51.0 / 110.0)]);
        assert!(retention(&cells, 200.0).unwrap().average.is_empty(), "no age holds 200 users");
    }

    #[test]
    fn nested_fields_become_dotted_typed_columns_with_nulls_where_missing() {
        let when = bson::DateTime::from_millis(1_700_000_000_000);
        let docs = vec![
            doc! { "_id": ObjectId::new(), "user_id": 1_i64, "metadata": { "price": 9.5, "category": "books" }, "at": when, "ok": true, "tags": ["a", "b"] },
            doc! { "_id": ObjectId::new(), "user_id": 2_i32, "metadata": { "price": 3_i32 }, "at": when, "ok": false },
        ];
        let df = documents_to_frame(&docs).unwrap();
        assert_eq!(df.get_column_names(), ["_id", "user_id", "metadata.price", "metadata.category", "at", "ok", "tags"]);
        let dtype = |c: &str| df.column(c).unwrap().dtype().clone();
        assert_eq!(dtype("user_id"), DataType::Int64);
        assert_eq!(dtype("metadata.price"), DataType::Float64);
        assert!(matches!(dtype("at"), DataType::Datetime(_, _)));
        assert_eq!(dtype("ok"), DataType::Boolean);
        assert_eq!(dtype("tags"), DataType::String);
        assert_eq!(df.column("metadata.category").unwrap().null_count(), 1);
        assert_eq!(df.column("tags").unwrap().str().unwrap().get(0), Some(r#"["a","b"]"#));
        assert_eq!(df.column("metadata.price").unwrap().f64().unwrap().get(1), Some(3.0));
    }

    #[test]
    fn a_frame_is_written_as_csv_with_quoting_nulls_numbers_and_dates() {
        let when = bson::DateTime::from_millis(1_700_000_000_000);
        let docs = vec![
            doc! { "a": 1_i64, "b": "x,y", "price": 9.5, "at": when, "ok": true },
            doc! { "a": 2_i64, "b": "say \"hi\"\nthen go", "price": 3_i32 },
        ];
        let df = documents_to_frame(&docs).unwrap();
        let path = std::env::temp_dir().join(format!("helpers-export-{}", std::process::id())).join("out.csv");
        let written = write_csv(&df, &path).unwrap();
        assert_eq!(written, path);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
        assert_eq!(text, "a,b,price,at,ok\n1,\"x,y\",9.5,2023-11-14 22:13:20.000,true\n2,\"say \"\"hi\"\"\nthen go\",3.0,,\n");
    }

    #[test]
    fn a_csv_that_cannot_be_created_names_its_path() {
        let df = documents_to_frame(&[doc! { "a": 1_i64 }]).unwrap();
        let blocker = std::env::temp_dir().join(format!("helpers-export-file-{}", std::process::id()));
        std::fs::write(&blocker, b"a file, not a folder").unwrap();
        let err = write_csv(&df, blocker.join("out.csv")).unwrap_err().to_string();
        std::fs::remove_file(&blocker).ok();
        assert!(err.contains("helpers-export-file-"), "{err}");
    }
}
