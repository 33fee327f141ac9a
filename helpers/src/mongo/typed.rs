//! MongoDB documents into a DataFrame whose columns the caller names and types — PyMongoArrow's
//! habit (`find_polars_all(collection, query, schema=Schema({...}))`): the server sends only the
//! named fields (a projection), the driver hands over raw BSON, and each field goes straight
//! into its column's builder without a `Document` being built per row.
//!
//! A dotted name reaches into sub-documents (`geo.country`). A document without the field, or
//! with a value of another type, gives a null — never an error, since documents of one
//! collection need not agree; an integer in a [`FieldType::Float`] field is widened, an `int32`
//! in an [`FieldType::Int`] field too.

use bson::{RawBsonRef, RawDocument, RawDocumentBuf};
use futures_util::TryStreamExt as _;
use polars::prelude::*;

use super::Mongo;
use crate::error::{Error, Result};

/// The type of one column of [`find_typed`]'s frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `int32` or `int64` → `i64`.
    Int,
    /// `double` (or an integer, widened) → `f64`.
    Float,
    /// `string` → text (an `ObjectId` is shown as its hex).
    Text,
    /// `bool`.
    Bool,
    /// `date` → a date-time (UTC), as the SQL frames' date-times.
    DateTime,
}

enum Builder {
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Text(StringChunkedBuilder),
    Bool(BooleanChunkedBuilder),
    /// Milliseconds since 1970.
    DateTime(PrimitiveChunkedBuilder<Int64Type>),
}

impl Builder {
    fn new(name: &str, ty: FieldType) -> Builder {
        let n: PlSmallStr = name.into();
        match ty {
            FieldType::Int => Builder::Int(PrimitiveChunkedBuilder::new(n, 1024)),
            FieldType::Float => Builder::Float(PrimitiveChunkedBuilder::new(n, 1024)),
            FieldType::Text => Builder::Text(StringChunkedBuilder::new(n, 1024)),
            FieldType::Bool => Builder::Bool(BooleanChunkedBuilder::new(n, 1024)),
            FieldType::DateTime => Builder::DateTime(PrimitiveChunkedBuilder::new(n, 1024)),
        }
    }

    fn push(&mut self, value: Option<RawBsonRef<'_>>) {
        use RawBsonRef as B;
        match (self, value) {
            (Builder::Int(b), Some(B::Int64(v))) => b.append_value(v),
            (Builder::Int(b), Some(B::Int32(v))) => b.append_value(v as i64),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), Some(B::Double(v))) => b.append_value(v),
            (Builder::Float(b), Some(B::Int64(v))) => b.append_value(v as f64),
            (Builder::Float(b), Some(B::Int32(v))) => b.append_value(v as f64),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Text(b), Some(B::String(v))) => b.append_value(v),
            (Builder::Text(b), Some(B::ObjectId(v))) => b.append_value(v.to_hex()),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Bool(b), Some(B::Boolean(v))) => b.append_value(v),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::DateTime(b), Some(B::DateTime(v))) => b.append_value(v.timestamp_millis()),
            (Builder::DateTime(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> Result<Column> {
        Ok(match self {
            Builder::Int(b) => b.finish().into_column(),
            Builder::Float(b) => b.finish().into_column(),
            Builder::Text(b) => b.finish().into_column(),
            Builder::Bool(b) => b.finish().into_column(),
            Builder::DateTime(b) => {
                let like_sql = Column::new("t".into(), [chrono::NaiveDateTime::default()]).dtype().clone();
                b.finish().into_series().cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?.cast(&like_sql)?.into_column()
            }
        })
    }
}

/// The value at a dotted `path` of `doc`, if every step is there.
fn at<'a>(doc: &'a RawDocument, path: &[&str]) -> Option<RawBsonRef<'a>> {
    let (last, parents) = path.split_last()?;
    let mut here = doc;
    for p in parents {
        here = here.get_document(p).ok()?;
    }
    here.get(last).ok().flatten()
}

/// The documents of `collection` matching `filter`, at most `limit` (0: all), as a frame with
/// one column per `(field, type)` of `schema`, in that order (see the module docs).
pub async fn find_typed(m: &Mongo, collection: &str, filter: bson::Document, schema: &[(&str, FieldType)], limit: i64) -> Result<DataFrame> {
    if schema.is_empty() {
        return Err(Error::Invalid { field: "schema".into(), reason: "name at least one field and its type".into() });
    }
    let mut projection = bson::Document::new();
    for (field, _) in schema {
        projection.insert(*field, 1);
    }
    if !schema.iter().any(|(f, _)| *f == "_id") {
        projection.insert("_id", 0);
    }
    let paths: Vec<Vec<&str>> = schema.iter().map(|(f, _)| f.split('.').collect()).collect();
    let mut builders: Vec<Builder> = schema.iter().map(|(f, t)| Builder::new(f, *t)).collect();
    let mut cursor = m
        .collection::<RawDocumentBuf>(collection)
        .find(filter)
        .projection(projection)
        .batch_size(10_000)
        .limit(limit)
        .await
        .map_err(|e| m.error(e))?;
    while let Some(doc) = cursor.try_next().await.map_err(|e| m.error(e))? {
        for (b, path) in builders.iter_mut().zip(&paths) {
            b.push(at(&doc, path));
        }
    }
    let columns = builders.into_iter().map(Builder::finish).collect::<Result<Vec<_>>>()?;
    Ok(DataFrame::new_infer_height(columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_path_and_a_missing_or_mistyped_value_is_null() {
        let docs = [
            bson::rawdoc! { "user_id": 1_i64, "score": 2.5, "geo": { "country": "Peru" }, "ok": true, "at": bson::DateTime::from_millis(1_000) },
            bson::rawdoc! { "user_id": 2_i32, "score": 3_i32, "geo": "not a document", "ok": "yes" },
            bson::rawdoc! { "user_id": "three", "geo": { "country": 7 } },
        ];
        let schema = [("user_id", FieldType::Int), ("score", FieldType::Float), ("geo.country", FieldType::Text), ("ok", FieldType::Bool), ("at", FieldType::DateTime)];
        let mut builders: Vec<Builder> = schema.iter().map(|(f, t)| Builder::new(f, *t)).collect();
        for d in &docs {
            for (b, (f, _)) in builders.iter_mut().zip(&schema) {
                b.push(at(d, &f.split('.').collect::<Vec<_>>()));
            }
        }
        let df = DataFrame::new_infer_height(builders.into_iter().map(|b| b.finish().unwrap()).collect()).unwrap();
        assert_eq!(df.column("user_id").unwrap().i64().unwrap().iter().collect::<Vec<_>>(), [Some(1), Some(2), None]);
        assert_eq!(df.column("score").unwrap().f64().unwrap().iter().collect::<Vec<_>>(), [Some(2.5), Some(3.0), None]);
        assert_eq!(df.column("geo.country").unwrap().str().unwrap().iter().collect::<Vec<_>>(), [Some("Peru"), None, None]);
        assert_eq!(df.column("ok").unwrap().bool().unwrap().iter().collect::<Vec<_>>(), [Some(true), None, None]);
        let at = df.column("at").unwrap();
        assert_eq!(at.null_count(), 2);
        assert_eq!(at.dtype(), Column::new("t".into(), [chrono::NaiveDateTime::default()]).dtype());
    }
}
