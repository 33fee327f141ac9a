//! Module 2: documents with the official `mongodb` driver — validation, indexes,
//! aggregation pipelines, geo queries, bulk writes, cohorts, and export to Polars.
//!
//! Everything talks to the server at `MONGODB_URI` (the project's scripts start SecantusDB,
//! a wire-compatible server, when nothing answers there; a real MongoDB by URL or docker
//! compose works the same).
//!
//! | where | what |
//! |---|---|
//! | this file | [`Mongo`]: client + database, [`Mongo::open`] connects and declares the schema; errors that name the rule a write broke |
//! | [`schema`] | collections with `$jsonSchema` validators, indexes (unique, compound, 2dsphere, TTL), the time-series collection where the server has them |
//! | [`docs`] | the document types (user profile, event with GeoJSON place) and loading a [`World`](crate::data::World) into them |
//! | [`users`] | the UserManager: insert, unordered bulk insert with a per-document report, find by interest, update metrics, injection-safe lookups |
//! | [`pipelines`] | every aggregation pipeline as a small named function built with `doc!`, with its SQL equivalent |
//! | [`events`] | the EventTracker, GeoLocationManager and DataProcessor: run those pipelines into typed rows |
//! | [`explain`] | one query explained with its index and with a forced collection scan |
//! | [`export`] | any query or pipeline result as a Polars DataFrame (typed columns, nested fields flattened), and to CSV |
//! | [`exercises`] | notebook 02's exercises: the learner's pipeline checked against the helpers' answer ([`SyncMongo::check_exercise`]) |
//! | [`sandbox`] | the learner's pipeline run read-only and bounded: no `$out` / `$merge` at any depth, `maxTimeMS` 5 s, at most 10,000 documents |
//! | `sync.rs` | [`SyncMongo`]: the notebook surface — sync, non-generic calls; filters and pipelines written in the cell with `doc!` |
//!
//! In a notebook a cell writes its pipeline and gets a DataFrame back; the call connects,
//! runs and closes inside (evcxr does not keep connections between cells):
//!
//! ```no_run
//! use helpers::prelude::*;
//! use helpers::mongo::doc;
//! let mongo = mongo::SyncMongo::new(&Settings::from_env()?);
//! let per_type = mongo.aggregate("events", vec![doc! { "$sortByCount": "$event_type" }])?;
//! println!("{} event types", per_type.height());
//! # Ok::<(), helpers::Error>(())
//! ```
//!
//! Tests, the bench and production code use the async API (`Mongo::open`, then the
//! functions of each module).
//!
//! The database is the one the URL names (`mongodb://host/<db>`), else `MONGODB_DATABASE`,
//! else `module8`, so pointing the helpers at a server you already use touches nothing else.

use std::time::Duration;

use bson::Bson;
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};

use crate::config::{ServiceUrl, Settings};
use crate::error::{Error, Result};

pub mod docs;
pub mod events;
pub mod exercises;
pub mod explain;
pub mod explore;
pub mod export;
pub mod pipelines;
pub mod sandbox;
pub mod typed;
pub mod schema;
mod sync;
pub mod users;

pub use sync::{SyncMongo, date};

/// `doc! { … }`, [`Document`] and [`DateTime`], re-exported so a notebook can build filters without
/// depending on the driver itself.
pub use bson::{DateTime, Document, doc};

/// A document as pretty-printed relaxed extended JSON (what `mongosh` shows and accepts).
pub fn pretty_json(document: &Document) -> String {
    serde_json::to_string_pretty(&Bson::Document(document.clone()).into_relaxed_extjson()).unwrap_or_default()
}

/// The database used unless the URL or `MONGODB_DATABASE` names another.
pub use crate::config::DEFAULT_MONGODB_DATABASE as DEFAULT_DATABASE;

/// How long the driver looks for a server before an operation fails with a clear error.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A client and the database the helpers work in. Cheap to clone. Shows its URL masked.
#[derive(Clone, Debug)]
pub struct Mongo {
    client: Client,
    db: Database,
    url: ServiceUrl,
}

impl Mongo {
    /// Connects to `settings.mongodb_uri` and declares the collections, validators and
    /// indexes of [`schema`] (idempotent).
    pub async fn open(settings: &Settings) -> Result<Mongo> {
        let m = Mongo::connect(&settings.mongodb_uri, Some(&settings.mongodb_database_name())).await?;
        schema::ensure(&m).await?;
        Ok(m)
    }

    /// Connects and checks that the server answers (bounded by [`SERVER_SELECTION_TIMEOUT`]).
    /// `database` overrides the URL's database and [`DEFAULT_DATABASE`] (`Mongo::open` passes
    /// [`Settings::mongodb_database_name`], which reads `MONGODB_DATABASE` too).
    pub async fn connect(url: &ServiceUrl, database: Option<&str>) -> Result<Mongo> {
        let mut options = ClientOptions::parse(url.expose())
            .await
            .map_err(|e| url.refused("MONGODB_URI", e))?;
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
        // The driver's monitor uses the connect timeout as the timeout of its heartbeats. A
        // server busy building an index (SecantusDB answers nothing meanwhile) must not be
        // declared dead, which would interrupt the build; a server that is down refuses the
        // connection at once, and SERVER_SELECTION_TIMEOUT still bounds every operation.
        options.connect_timeout = Some(Duration::from_secs(120));
        options.app_name.get_or_insert_with(|| "module8-helpers".into());
        // M8_CA_FILE: with TLS on (`tls=true`, or `mongodb+srv://`), verify the server's
        // certificate against that CA, unless the URL names its own (`tlsCAFile=`).
        if let (Some(ca), Some(mongodb::options::Tls::Enabled(tls))) = (url.ca_file(), options.tls.as_mut()) {
            tls.ca_file_path.get_or_insert_with(|| ca.to_path_buf());
        }
        let name = match database {
            Some(name) => name.to_string(),
            None => options.default_database.clone().unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
        };
        crate::config::check_mongodb_database(&name)?;
        let client = Client::with_options(options).map_err(|e| map_error(url, e))?;
        let db = client.database(&name);
        let m = Mongo { client, db, url: url.clone() };
        m.db.run_command(doc! { "ping": 1 }).await.map_err(|e| m.error(e))?;
        Ok(m)
    }

    /// The database the helpers work in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// A collection of that database, typed as `T`.
    pub fn collection<T: Send + Sync>(&self, name: &str) -> Collection<T> {
        self.db.collection(name)
    }

    /// The URL, masked when shown.
    pub fn url(&self) -> &ServiceUrl {
        &self.url
    }

    /// The server's version string (`buildInfo`).
    pub async fn server_version(&self) -> Result<String> {
        let info = self.db.run_command(doc! { "buildInfo": 1 }).await.map_err(|e| self.error(e))?;
        Ok(info.get_str("version").unwrap_or("unknown").to_string())
    }

    /// Drops the whole database (tests and benches use throwaway databases).
    pub async fn drop_database(&self) -> Result<()> {
        self.db.drop().await.map_err(|e| self.error(e))
    }

    /// Ends the client's sessions and closes its connections.
    pub async fn close(self) {
        self.client.shutdown().await;
    }

    /// Reads every document left in `cursor` (the driver's `advance` / `deserialize_current`
    /// loop, with errors mapped).
    pub async fn drain<T: serde::de::DeserializeOwned + Send + Sync>(&self, mut cursor: mongodb::Cursor<T>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while cursor.advance().await.map_err(|e| self.error(e))? {
            out.push(cursor.deserialize_current().map_err(|e| self.error(e))?);
        }
        Ok(out)
    }

    /// Maps a driver error into the crate's error (see [`map_error`]).
    pub(crate) fn error(&self, e: mongodb::error::Error) -> Error {
        map_error(&self.url, e)
    }
}

/// Opens the database, runs `f` with it, closes it, and returns what `f` returned: the shape
/// of a notebook cell.
pub async fn with_mongo<T>(settings: &Settings, f: impl AsyncFnOnce(&Mongo) -> Result<T>) -> Result<T> {
    let m = Mongo::open(settings).await?;
    let out = f(&m).await;
    m.close().await;
    out
}

/// Opens the database and, if it holds no events yet, loads a world made from `config` —
/// for lessons that need data but may run before notebook 02 did.
pub async fn open_seeded(settings: &Settings, config: &crate::data::WorldConfig) -> Result<Mongo> {
    let m = Mongo::open(settings).await?;
    let events = m.collection::<Document>(schema::EVENTS).estimated_document_count().await.map_err(|e| m.error(e))?;
    if events == 0 {
        docs::load_world(&m, &crate::data::World::generate(config)).await?;
    }
    Ok(m)
}

/// Maps a driver error into the crate's error:
/// - a duplicate key or a document that fails validation becomes [`Error::Constraint`],
///   naming the index or the rules the document broke (from the server's `errInfo`);
/// - a server that cannot be reached becomes [`Error::Unreachable`] with the URL masked and
///   how to start one;
/// - everything else stays [`Error::Mongo`].
pub fn map_error(url: &ServiceUrl, e: mongodb::error::Error) -> Error {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => {
            if let Some((rule, detail)) = broken_rule(w.code, &w.message, w.details.as_ref()) {
                return Error::Constraint { store: "MongoDB", rule, detail };
            }
        }
        ErrorKind::InsertMany(many) if many.write_concern_error.is_none() => {
            let errors = many.write_errors.as_deref().unwrap_or_default();
            if let Some(w) = errors.first()
                && let Some((rule, detail)) = broken_rule(w.code, &w.message, w.details.as_ref())
            {
                let more = if errors.len() > 1 { format!("; {} more documents refused", errors.len() - 1) } else { String::new() };
                return Error::Constraint { store: "MongoDB", rule, detail: format!("document {} of the batch: {detail}{more}", w.index) };
            }
        }
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::DnsResolve { .. } | ErrorKind::ConnectionPoolCleared { .. } => {
            return url.unreachable("MongoDB", first_line(&e.to_string()));
        }
        _ => {}
    }
    Error::Mongo(e)
}

pub(crate) fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or(text);
    // Server-selection errors carry the whole topology description after the reason.
    line.split(", Topology: ").next().unwrap_or(line)
}

/// The rule a failed write broke, in words, and the server's detail: `None` when the error
/// is not about a rule (then the driver's error is kept as it is).
pub(crate) fn broken_rule(code: i32, message: &str, details: Option<&Document>) -> Option<(String, String)> {
    match code {
        11000 | 11001 => {
            // "E11000 duplicate key error collection: db.users index: username_1 dup key: { … }"
            let index = message.split(" index: ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap_or("(unnamed)");
            let key = message.split(" dup key: ").nth(1).unwrap_or("").trim();
            Some((format!("duplicate value for unique index {index}"), key.to_string()))
        }
        121 => {
            let why = details.and_then(|d| d.get_document("details").ok()).map(describe_validation).unwrap_or_default();
            Some(("document failed validation".into(), if why.is_empty() { message.to_string() } else { why }))
        }
        _ => None,
    }
}

/// Turns the server's `$jsonSchema` failure report (`errInfo.details`) into one line:
/// `email: regular expression did not match (pattern ^…$, got "nope"); missing required field email`.
pub fn describe_validation(details: &Document) -> String {
    let mut reasons = Vec::new();
    collect_reasons(details.get_array("schemaRulesNotSatisfied").into_iter().flatten(), "", &mut reasons);
    reasons.join("; ")
}

/// Walks the failed rules: `properties` nests the rules of each field under its name (at any
/// depth), `required` lists missing fields, anything else is one reason at `path`.
fn collect_reasons<'a>(rules: impl Iterator<Item = &'a Bson>, path: &str, out: &mut Vec<String>) {
    let at = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
    for rule in rules.filter_map(Bson::as_document) {
        match rule.get_str("operatorName").unwrap_or("?") {
            "properties" => {
                for prop in rule.get_array("propertiesNotSatisfied").into_iter().flatten().filter_map(Bson::as_document) {
                    let name = at(prop.get_str("propertyName").unwrap_or("?"));
                    collect_reasons(prop.get_array("details").into_iter().flatten(), &name, out);
                }
            }
            "required" => {
                let missing: Vec<String> =
                    rule.get_array("missingProperties").into_iter().flatten().filter_map(|b| b.as_str().map(at)).collect();
                out.push(format!("missing required field {}", missing.join(", ")));
            }
            _ if rule.contains_key("schemaRulesNotSatisfied") => {
                collect_reasons(rule.get_array("schemaRulesNotSatisfied").into_iter().flatten(), path, out);
            }
            _ => out.push(if path.is_empty() { describe_one(rule) } else { format!("{path}: {}", describe_one(rule)) }),
        }
    }
}

fn describe_one(detail: &Document) -> String {
    let op = detail.get_str("operatorName").unwrap_or("?");
    let reason = detail.get_str("reason").unwrap_or("rule not satisfied");
    let spec = detail.get_document("specifiedAs").ok().and_then(|s| s.get(op)).map(short_json).unwrap_or_default();
    let got = detail.get("consideredValue").map(short_json);
    match got {
        Some(v) => format!("{reason} ({op} {spec}, got {v})"),
        None => format!("{reason} ({op} {spec})"),
    }
}

fn short_json(b: &Bson) -> String {
    let text = b.clone().into_relaxed_extjson().to_string();
    if text.chars().count() > 60 { format!("{}…", text.chars().take(60).collect::<String>()) } else { text }
}

/// Every lesson future must be `Send`: `run` needs it, and a test alone (which awaits on the
/// test's own thread) would not notice. This only has to compile.
#[allow(dead_code)]
fn lesson_futures_are_send(s: &Settings, m: &Mongo, w: &crate::data::World) {
    fn send<T: Send>(_: T) {}
    send(Mongo::open(s));
    send(with_mongo(s, async |m| events::event_distribution(m).await));
    send(docs::load_world(m, w));
    send(users::bulk_insert(m, schema::USERS, &[doc! {}]));
    send(users::injection_demo(m, ""));
    send(users::update_metrics(m, "", 1.0, 1));
    send(users::bad_writes_demo(m));
    send(users::bulk_demo(m));
    send(export::find_json(m, schema::USERS, doc! {}, 1));
    send(events::user_activity(m, chrono::NaiveDateTime::default(), chrono::NaiveDateTime::default(), 1));
    send(events::events_near(m, 0.0, 0.0, 1.0, 1));
    send(events::cohort_metrics(m));
    send(events::purchase_analytics(m));
    send(explain::index_vs_scan(m, 1));
    send(export::aggregate_frame(m, &pipelines::event_distribution()));
    send(schema::describe(m));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_names_the_index_and_the_key() {
        let (rule, detail) = broken_rule(
            11000,
            r#"E11000 duplicate key error collection: m.user_profiles index: username_unique dup key: { username: "ada" }"#,
            None,
        )
        .unwrap();
        assert_eq!(rule, "duplicate value for unique index username_unique");
        assert_eq!(detail, r#"{ username: "ada" }"#);
    }

    #[test]
    fn a_validation_report_becomes_one_line_naming_each_field() {
        // The shape MongoDB 5+ (and SecantusDB) return in errInfo.details, nested fields included.
        let details = doc! {
            "operatorName": "$jsonSchema",
            "schemaRulesNotSatisfied": [
                { "operatorName": "properties", "propertiesNotSatisfied": [
                    { "propertyName": "email", "details": [
                        { "operatorName": "pattern", "specifiedAs": { "pattern": "^.+@.+$" },
                          "reason": "regular expression did not match", "consideredValue": "nope" } ] },
                    { "propertyName": "metrics", "details": [
                        { "operatorName": "properties", "propertiesNotSatisfied": [
                            { "propertyName": "engagement_score", "details": [
                                { "operatorName": "maximum", "specifiedAs": { "maximum": 10 },
                                  "reason": "comparison failed", "consideredValue": 42.0 } ] } ] } ] } ] },
                { "operatorName": "required", "specifiedAs": { "required": ["username", "email"] }, "missingProperties": ["username"] }
            ]
        };
        assert_eq!(
            describe_validation(&details),
            "email: regular expression did not match (pattern \"^.+@.+$\", got \"nope\"); \
             metrics.engagement_score: comparison failed (maximum 10, got 42.0); missing required field username"
        );
    }

    #[test]
    fn other_write_errors_are_not_called_rule_breaks() {
        assert!(broken_rule(2, "BadValue", None).is_none());
    }

    #[test]
    fn a_database_name_with_a_dot_is_refused_before_connecting() {
        let url = ServiceUrl::new("mongodb://u:secret@127.0.0.1:1/?serverSelectionTimeoutMS=100");
        let err = crate::run(Mongo::connect(&url, Some("a.b"))).unwrap_err().to_string();
        assert!(err.contains("MONGODB_DATABASE") && err.contains("a.b"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
