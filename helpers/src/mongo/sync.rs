//! [`SyncMongo`]: MongoDB from a notebook cell — filters and pipelines in, DataFrames out.
//!
//! Each method is sync and non-generic: it connects, does its work on a runtime of its own
//! and closes, so a cell compiles a call, not a driver (see `sql::SyncDb` for why). The
//! filters and pipelines are written in the cell with [`doc!`](super::doc).

use bson::{Bson, Document};
use std::time::Instant;

use polars::prelude::DataFrame;

use super::docs::{LoadReport, UserProfile};
use super::explain::ExplainSummary;
use super::schema::{CollectionRow, IndexRow, TimeSeries};
use super::users::{BulkReport, InjectionOutcome, UpdateOutcome, WriteAttempt};
use super::{Mongo, docs, explain, export, schema, users};
use crate::config::Settings;
use crate::data::World;
use crate::error::{Error, Result};
use crate::runtime::run;

/// Connects (declaring the collections, validators and indexes), evaluates `$body` with
/// `$m: &Mongo`, closes. A macro so that each method's future is concrete where it is written.
macro_rules! with_mongo {
    ($self:ident, |$m:ident| $body:expr) => {
        run(async {
            let opened = Mongo::open(&$self.settings).await?;
            let $m = &opened;
            let out = $body;
            opened.close().await;
            out
        })
    };
}

/// The MongoDB database at `MONGODB_URI`, for notebook cells. Holds only the settings.
///
/// ```no_run
/// use helpers::prelude::*;
/// use helpers::mongo::doc;
/// let mongo = mongo::SyncMongo::new(&Settings::from_env()?);
/// let per_type = mongo.aggregate("events", vec![
///     doc! { "$group": { "_id": "$event_type", "events": { "$sum": 1 } } },
///     doc! { "$sort": { "events": -1 } },
/// ])?;
/// # Ok::<(), helpers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncMongo {
    settings: Settings,
}

impl SyncMongo {
    /// The database `settings.mongodb_uri` names (nothing is opened yet).
    pub fn new(settings: &Settings) -> SyncMongo {
        SyncMongo { settings: settings.clone() }
    }

    /// The server's version, the database's name, and whether time-series collections are
    /// supported (declaring the schema on the way, idempotently).
    pub fn server(&self) -> Result<(String, String, TimeSeries)> {
        with_mongo!(self, |m| {
            let version = m.server_version().await?;
            let ts = schema::ensure(m).await?;
            Ok((version, m.database().name().to_string(), ts))
        })
    }

    /// Drops and reloads the world's profiles and events, then builds the indexes
    /// (see [`docs::load_world`]).
    pub fn load_world(&self, world: &World) -> Result<LoadReport> {
        with_mongo!(self, |m| docs::load_world(m, world).await)
    }

    /// Every collection and every index the server holds.
    pub fn describe(&self) -> Result<(Vec<CollectionRow>, Vec<IndexRow>)> {
        with_mongo!(self, |m| schema::describe(m).await)
    }

    /// `find(filter)` on `collection`, at most `limit` documents in `_id` order, as a
    /// DataFrame (nested fields become dotted columns).
    pub fn find(&self, collection: &str, filter: Document, limit: i64) -> Result<DataFrame> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| export::find_frame(m, collection, filter, limit).await);
        trace_call("find", collection, &shown, started, out.as_ref().map(|f| f.height()));
        out
    }

    /// `find(filter)` on `collection` as a frame of the named fields with the named types, at
    /// most `limit` documents (0: all): only those fields are fetched, and a document without
    /// one, or with a value of another type, gives a null (see [`super::typed::find_typed`]).
    pub fn find_typed(&self, collection: &str, filter: Document, schema: &[(&str, super::typed::FieldType)], limit: i64) -> Result<DataFrame> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| super::typed::find_typed(m, collection, filter, schema, limit).await);
        trace_call("find", collection, &shown, started, out.as_ref().map(|f| f.height()));
        out
    }

    /// The `collections` named (all when none is) with their sizes, and every field path a
    /// sample of `sample` documents shows, with its types and how often it is there (see
    /// [`super::explore::sample_fields`]).
    pub fn sample_fields(&self, collections: &[&str], sample: usize) -> Result<Vec<super::explore::FieldSample>> {
        with_mongo!(self, |m| super::explore::sample_fields(m, collections, sample).await)
    }

    /// At most `limit` documents of `find(filter)` as pretty JSON (without `_id`).
    pub fn find_json(&self, collection: &str, filter: Document, limit: i64) -> Result<Vec<String>> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| export::find_json(m, collection, filter, limit).await);
        trace_call("find", collection, &shown, started, out.as_ref().map(|d| d.len()));
        out
    }

    /// Runs the aggregation `pipeline` on `collection` and returns its documents as a
    /// DataFrame. A stage the server refuses is an error that quotes the server.
    pub fn aggregate(&self, collection: &str, pipeline: Vec<Document>) -> Result<DataFrame> {
        export::documents_to_frame(&self.aggregate_documents(collection, pipeline)?)
    }

    /// Runs the aggregation `pipeline` on `collection` and returns its documents.
    pub fn aggregate_documents(&self, collection: &str, pipeline: Vec<Document>) -> Result<Vec<Document>> {
        let started = Instant::now();
        let shown = format!("[{}]", pipeline.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
        let out = with_mongo!(self, |m| {
            let cursor = m.collection::<Document>(collection).aggregate(pipeline).await.map_err(|e| m.error(e))?;
            m.drain(cursor).await
        });
        trace_call("aggregate", collection, &shown, started, out.as_ref().map(|d| d.len()));
        out
    }

    /// Runs a learner's `pipeline` on `collection` read-only and bounded by `limits` (see
    /// [`super::sandbox`]): what happened, never the server's refusal as an error.
    pub fn read_only(&self, collection: &str, pipeline: Vec<Document>, limits: super::sandbox::Limits) -> Result<super::sandbox::Outcome> {
        let started = Instant::now();
        let shown = format!("[{}]", pipeline.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
        let out = with_mongo!(self, |m| super::sandbox::read_only(m, collection, pipeline, limits).await);
        trace_call("aggregate (read-only)", collection, &shown, started, out.as_ref().map(|o| match o {
            super::sandbox::Outcome::Documents(d) => d.len(),
            _ => 0,
        }));
        out
    }

    /// Profiles whose interests contain `interest`, most engaged first.
    pub fn find_by_interest(&self, interest: &str, limit: i64) -> Result<Vec<UserProfile>> {
        with_mongo!(self, |m| users::find_by_interest(m, interest, limit).await)
    }

    /// `update_metrics` on one profile, with the profile read before and after.
    pub fn update_metrics(&self, username: &str, engagement_score: f64, new_logins: i64) -> Result<(UserProfile, UpdateOutcome, UserProfile)> {
        with_mongo!(self, |m| {
            let missing = || Error::NotFound(format!("no profile with username `{username}`"));
            let before = users::by_username(m, username).await?.ok_or_else(missing)?;
            let outcome = users::update_metrics(m, username, engagement_score, new_logins).await?;
            let after = users::by_username(m, username).await?.ok_or_else(missing)?;
            Ok((before, outcome, after))
        })
    }

    /// `explain` of one user's events through the index and by a forced collection scan.
    pub fn index_vs_scan(&self, user_id: i64) -> Result<Vec<ExplainSummary>> {
        with_mongo!(self, |m| explain::index_vs_scan(m, user_id).await)
    }

    /// `explain` (executionStats) of `find(filter)` on `collection`, as the server plans it.
    pub fn explain_find(&self, collection: &str, filter: Document) -> Result<ExplainSummary> {
        with_mongo!(self, |m| explain::explain_find(m, collection, filter, explain::Plan::Chosen).await)
    }

    /// The bad-writes lesson: each refused write with the rule it broke.
    pub fn bad_writes_demo(&self) -> Result<Vec<WriteAttempt>> {
        with_mongo!(self, |m| users::bad_writes_demo(m).await)
    }

    /// The unordered bulk insert lesson: seven profiles, four of them bad.
    pub fn bulk_demo(&self) -> Result<BulkReport> {
        with_mongo!(self, |m| users::bulk_demo(m).await)
    }

    /// The operator-injection lesson for each input: bound as a string vs parsed.
    pub fn injection_demo(&self, inputs: &[&str]) -> Result<Vec<InjectionOutcome>> {
        with_mongo!(self, |m| {
            let mut rows = Vec::new();
            for input in inputs {
                rows.push(users::injection_demo(m, input).await?);
            }
            Ok(rows)
        })
    }

    /// Inserts `docs` into `collection` (one unordered `insert_many`); returns how many were
    /// stored. A document the collection's validator refuses is an error that quotes the server.
    pub fn insert_many(&self, collection: &str, docs: Vec<Document>) -> Result<u64> {
        let (started, shown) = (Instant::now(), format!("{} documents", docs.len()));
        let out = with_mongo!(self, |m| {
            let options = mongodb::options::InsertManyOptions::builder().ordered(false).build();
            m.collection::<Document>(collection).insert_many(docs).with_options(options).await.map(|r| r.inserted_ids.len() as u64).map_err(|e| m.error(e))
        });
        trace_call("insert_many", collection, &shown, started, out.as_ref().map(|n| *n as usize));
        out
    }

    /// Stores one event (see [`super::events::log_event`]); an event the validator refuses is
    /// an error that names the rule it broke.
    pub fn log_event(&self, event: &super::docs::EventDoc) -> Result<()> {
        let (started, shown) = (Instant::now(), format!("{} by user {}", event.event_type, event.user_id));
        let out = with_mongo!(self, |m| super::events::log_event(m, event).await);
        trace_call("insert_one", super::schema::EVENTS, &shown, started, out.as_ref().map(|()| 1));
        out
    }

    /// Deletes the documents of `collection` that match `filter`; returns how many. (On a
    /// time-series collection the filter may only name the meta field.)
    pub fn delete_many(&self, collection: &str, filter: Document) -> Result<u64> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| m.collection::<Document>(collection).delete_many(filter).await.map(|r| r.deleted_count).map_err(|e| m.error(e)));
        trace_call("delete_many", collection, &shown, started, out.as_ref().map(|n| *n as usize));
        out
    }

    /// Waits — at most `within`, asking every 50 ms — until no document of `collection`
    /// matches `filter`; how long that took, or `None` if one is still there at the bound. For
    /// watching the server expire documents by a TTL index ([`schema::wait_until_gone`]).
    pub fn wait_until_gone(&self, collection: &str, filter: Document, within: std::time::Duration) -> Result<Option<std::time::Duration>> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| schema::wait_until_gone(m, collection, filter, within).await);
        trace_call("wait_until_gone", collection, &shown, started, out.as_ref().map(|gone| usize::from(gone.is_none())));
        out
    }

    /// How many documents of `collection` match `filter`.
    pub fn count(&self, collection: &str, filter: Document) -> Result<u64> {
        let (started, shown) = (Instant::now(), filter.to_string());
        let out = with_mongo!(self, |m| m.collection::<Document>(collection).count_documents(filter).await.map_err(|e| m.error(e)));
        trace_call("count", collection, &shown, started, out.as_ref().map(|n| *n as usize));
        out
    }
}

/// One `info` event per call written in a cell (target `helpers::mongo`): the operation, the
/// collection, the filter or pipeline as sent, the documents back, the time; a refused call
/// is a `warn` event with the server's reason.
fn trace_call(op: &str, collection: &str, shown: &str, started: Instant, outcome: std::result::Result<usize, &Error>) {
    let ms = started.elapsed().as_secs_f64() * 1e3;
    match outcome {
        Ok(docs) => tracing::info!(target: "helpers::mongo", collection, docs, ms, "{op} {shown}"),
        Err(e) => tracing::warn!(target: "helpers::mongo", collection, ms, error = %e, "{op} {shown}"),
    }
}

/// A MongoDB date for a `doc!` filter or pipeline, from a date-time of the synthetic world.
pub fn date(t: chrono::NaiveDateTime) -> Bson {
    Bson::DateTime(docs::bson_date(t))
}
