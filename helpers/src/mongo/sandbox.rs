//! What a learner types as a pipeline, run so that it can neither write nor run away — the
//! MongoDB side of [`crate::sql::sandbox`].
//!
//! An exercise check ([`super::SyncMongo::check_exercise`]) runs the learner's pipeline
//! [`read_only`]: a pipeline with a `$out` or `$merge` stage anywhere (also inside a `$facet`,
//! a `$lookup` or a `$unionWith`) is refused before it is sent; the rest runs with the server's
//! `maxTimeMS` at [`Limits::timeout`] (and the same bound on the client, for a server that does
//! not honour it), and at most [`Limits::max_rows`] documents are read back. What happened
//! is an [`Outcome`] the verdict can name — never an error of the helpers'.

use std::time::{Duration, Instant};

use bson::{Bson, Document};
use mongodb::error::ErrorKind;
use mongodb::options::AggregateOptions;

use super::Mongo;
use crate::error::Result;

pub use crate::exercise::Limits;

/// What a learner's pipeline did.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// It read these documents.
    Documents(Vec<Document>),
    /// It holds a stage that writes (`$out` or `$merge`): not sent.
    Writes(&'static str),
    /// It ran past the time limit and was stopped.
    TimedOut(Duration),
    /// It returned more than this many documents (the rest were never read).
    TooManyDocuments(usize),
    /// The server refused it (an unknown stage, a wrong operator, …); its words.
    Refused(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Documents(_) => "documents",
            Outcome::Writes(_) => "writes",
            Outcome::TimedOut(_) => "timed out",
            Outcome::TooManyDocuments(_) => "too many documents",
            Outcome::Refused(_) => "refused",
        }
    }
}

/// The stages that write what a pipeline produces into a collection.
const WRITING_STAGES: [&str; 2] = ["$out", "$merge"];

/// The first writing stage (`$out`, `$merge`) anywhere in `pipeline`: at its top level or in a
/// sub-pipeline (`$facet`, `$lookup`, `$unionWith`), at any depth.
pub fn writing_stage(pipeline: &[Document]) -> Option<&'static str> {
    fn in_document(d: &Document) -> Option<&'static str> {
        for (key, value) in d {
            if let Some(stage) = WRITING_STAGES.iter().find(|s| **s == key) {
                return Some(stage);
            }
            if let Some(stage) = in_value(value) {
                return Some(stage);
            }
        }
        None
    }
    fn in_value(v: &Bson) -> Option<&'static str> {
        match v {
            Bson::Document(d) => in_document(d),
            Bson::Array(items) => items.iter().find_map(in_value),
            _ => None,
        }
    }
    pipeline.iter().find_map(in_document)
}

/// Runs `pipeline` on `collection` read-only and bounded (see the module). `Err` only when the
/// server cannot be reached.
pub async fn read_only(m: &Mongo, collection: &str, pipeline: Vec<Document>, limits: Limits) -> Result<Outcome> {
    let started = Instant::now();
    let outcome = match writing_stage(&pipeline) {
        Some(stage) => Outcome::Writes(stage),
        None => run(m, collection, pipeline, limits).await?,
    };
    tracing::info!(target: "helpers::mongo", collection, ms = started.elapsed().as_secs_f64() * 1e3, outcome = outcome.label(), "read-only aggregate");
    Ok(outcome)
}

enum Fetched {
    Documents(Vec<Document>),
    TooMany,
}

async fn run(m: &Mongo, collection: &str, pipeline: Vec<Document>, limits: Limits) -> Result<Outcome> {
    let options = AggregateOptions::builder().max_time(limits.timeout).build();
    let fetch = async {
        let mut cursor = m.collection::<Document>(collection).aggregate(pipeline).with_options(options).await?;
        let mut docs = Vec::new();
        while cursor.advance().await? {
            if docs.len() == limits.max_rows {
                return Ok(Fetched::TooMany);
            }
            docs.push(cursor.deserialize_current()?);
        }
        Ok::<_, mongodb::error::Error>(Fetched::Documents(docs))
    };
    // The server stops the pipeline at maxTimeMS; this bound is for a server that does not.
    let Ok(fetched) = tokio::time::timeout(limits.timeout + Duration::from_millis(500), fetch).await else {
        return Ok(Outcome::TimedOut(limits.timeout));
    };
    Ok(match fetched {
        Ok(Fetched::Documents(docs)) => Outcome::Documents(docs),
        Ok(Fetched::TooMany) => Outcome::TooManyDocuments(limits.max_rows),
        Err(e) => match e.kind.as_ref() {
            // MaxTimeMSExpired
            ErrorKind::Command(c) if c.code == 50 => Outcome::TimedOut(limits.timeout),
            ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::DnsResolve { .. } | ErrorKind::ConnectionPoolCleared { .. } => {
                return Err(m.error(e));
            }
            ErrorKind::Command(c) => Outcome::Refused(format!("{} ({})", c.message, c.code_name)),
            _ => Outcome::Refused(super::first_line(&e.to_string()).to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn a_writing_stage_is_found_at_any_depth() {
        assert_eq!(writing_stage(&[doc! { "$match": {} }, doc! { "$out": "copy" }]), Some("$out"));
        assert_eq!(writing_stage(&[doc! { "$merge": { "into": "copy" } }]), Some("$merge"));
        let in_facet = doc! { "$facet": { "a": [{ "$match": {} }], "b": [{ "$merge": { "into": "x" } }] } };
        assert_eq!(writing_stage(&[in_facet]), Some("$merge"));
        let in_lookup = doc! { "$lookup": { "from": "events", "as": "e", "pipeline": [{ "$facet": { "c": [{ "$out": "y" }] } }] } };
        assert_eq!(writing_stage(&[doc! { "$match": {} }, in_lookup]), Some("$out"));
        let in_union = doc! { "$unionWith": { "coll": "events", "pipeline": [{ "$out": "z" }] } };
        assert_eq!(writing_stage(&[in_union]), Some("$out"));
        // Reading stages, and a field merely named like an operator's value, are fine.
        let reads = [doc! { "$group": { "_id": "$event_type", "n": { "$sum": 1 } } }, doc! { "$project": { "o": { "$mergeObjects": ["$a", "$b"] } } }];
        assert_eq!(writing_stage(&reads), None);
    }
}
