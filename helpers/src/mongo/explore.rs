//! A MongoDB database looked at for the first time: each collection's size and, from a random
//! sample of its documents (`$sample`), every field path with the types its values have and how
//! often it is there — what a schema is in a database that does not keep one.

use std::collections::BTreeMap;

use bson::{RawBsonRef, RawDocument, RawDocumentBuf, doc};
use futures_util::TryStreamExt as _;

use super::Mongo;
use crate::error::Result;
use crate::frame_row;

/// One field of one collection, as the sample saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSample {
    /// The collection.
    pub collection: String,
    /// Its documents (the server's estimate, from its metadata).
    pub documents: i64,
    /// The field's dotted path (`geo.country`); an array's elements are not walked.
    pub field: String,
    /// The BSON types its values had, most frequent first, with their shares: `string 100%`,
    /// `int32 60%, double 40%`.
    pub types: String,
    /// The share of sampled documents that have the field.
    pub present: f64,
}
frame_row!(FieldSample { collection, documents, field, types, present });

/// Sub-documents are walked this deep.
const MAX_DEPTH: usize = 4;

/// The `collections` named (all of the database's when none is named; system collections left
/// out), each described from `sample` random documents (see [`FieldSample`]), by collection
/// then field. A named collection that does not exist is described as empty.
pub async fn sample_fields(m: &Mongo, collections: &[&str], sample: usize) -> Result<Vec<FieldSample>> {
    let mut names = if collections.is_empty() {
        m.database().list_collection_names().await.map_err(|e| m.error(e))?
    } else {
        collections.iter().map(|c| c.to_string()).collect()
    };
    names.retain(|n| !n.starts_with("system."));
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let collection = m.collection::<RawDocumentBuf>(&name);
        let documents = collection.estimated_document_count().await.map_err(|e| m.error(e))? as i64;
        let mut cursor = collection.aggregate([doc! { "$sample": { "size": sample.max(1) as i64 } }]).await.map_err(|e| m.error(e))?;
        let (mut seen, mut fields): (usize, BTreeMap<String, BTreeMap<&'static str, usize>>) = (0, BTreeMap::new());
        while let Some(d) = cursor.try_next().await.map_err(|e| m.error(e))? {
            let raw = RawDocumentBuf::from_document(&d).map_err(|e| crate::error::Error::Codec { what: format!("a document of {name}"), reason: e.to_string() })?;
            seen += 1;
            walk(&raw, "", 0, &mut fields);
        }
        for (field, types) in fields {
            let present: usize = types.values().sum();
            let mut by_count: Vec<(&&str, &usize)> = types.iter().collect();
            by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let types = by_count.iter().map(|(t, n)| format!("{t} {:.0}%", 100.0 * **n as f64 / present as f64)).collect::<Vec<_>>().join(", ");
            out.push(FieldSample { collection: name.clone(), documents, field, types, present: present as f64 / seen.max(1) as f64 });
        }
    }
    Ok(out)
}

/// Counts the type of every field of `doc` under `prefix`, walking sub-documents.
fn walk(doc: &RawDocument, prefix: &str, depth: usize, fields: &mut BTreeMap<String, BTreeMap<&'static str, usize>>) {
    for (key, value) in doc.iter().flatten() {
        let path = if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
        *fields.entry(path.clone()).or_default().entry(type_name(&value)).or_default() += 1;
        if let RawBsonRef::Document(sub) = value
            && depth + 1 < MAX_DEPTH
        {
            walk(sub, &path, depth + 1, fields);
        }
    }
}

fn type_name(v: &RawBsonRef) -> &'static str {
    match v {
        RawBsonRef::Double(_) => "double",
        RawBsonRef::String(_) => "string",
        RawBsonRef::Document(_) => "object",
        RawBsonRef::Array(_) => "array",
        RawBsonRef::Binary(_) => "binData",
        RawBsonRef::ObjectId(_) => "objectId",
        RawBsonRef::Boolean(_) => "bool",
        RawBsonRef::DateTime(_) => "date",
        RawBsonRef::Null => "null",
        RawBsonRef::Int32(_) => "int",
        RawBsonRef::Int64(_) => "long",
        RawBsonRef::Timestamp(_) => "timestamp",
        RawBsonRef::Decimal128(_) => "decimal",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_are_walked_and_their_types_counted() {
        let mut fields = BTreeMap::new();
        for d in [bson::rawdoc! { "a": 1_i32, "geo": { "country": "Peru", "at": [1, 2] } }, bson::rawdoc! { "a": 2.5, "geo": { "country": "Chile" } }] {
            walk(&d, "", 0, &mut fields);
        }
        let types = |f: &str| fields[f].iter().map(|(t, n)| format!("{t}:{n}")).collect::<Vec<_>>().join(" ");
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["a", "geo", "geo.at", "geo.country"]);
        assert_eq!(types("a"), "double:1 int:1");
        assert_eq!(types("geo.country"), "string:2");
        assert_eq!(types("geo.at"), "array:1");
    }
}
