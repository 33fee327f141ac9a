//! The collections, their `$jsonSchema` validators and their indexes, declared in code.
//!
//! [`ensure`] is idempotent: it creates what is missing and brings the validators of
//! existing collections up to date (`collMod`), so a notebook can call it every time.
//!
//! | collection | validator | indexes |
//! |---|---|---|
//! | `user_profiles` | username of 3–32 characters without spaces, `@` or `$`, an e-mail address, engagement 0–10 | unique `username`, unique `email`, multikey `profile.interests` |
//! | `events` | user id ≥ 1, a known event type, a date, a GeoJSON point | compound `(user_id, timestamp desc)`, 2dsphere `geo.location`, `(event_type, timestamp desc)` |
//! | `analytics` | a kind, a date, a data document | `(kind, computed_at desc)` |
//! | `sessions` | — | TTL: a session document expires 30 minutes after `last_seen` |
//! | `metrics_ts` | — | a time-series collection (MongoDB 5+; detected, see [`TimeSeries`]) |

use mongodb::IndexModel;
use bson::{Document, doc};
use mongodb::options::{IndexOptions, TimeseriesGranularity, TimeseriesOptions};
use serde::Serialize;

use super::Mongo;
use crate::error::Result;

/// User profiles (the UserManager's collection).
pub const USERS: &str = "user_profiles";
/// Events (the EventTracker's collection).
pub const EVENTS: &str = "events";
/// Stored analytics results.
pub const ANALYTICS: &str = "analytics";
/// Sessions, expired by a TTL index.
pub const SESSIONS: &str = "sessions";
/// Per-minute metrics, a time-series collection where the server supports one.
pub const METRICS: &str = "metrics_ts";

/// Event types the `events` validator accepts.
pub const EVENT_TYPES: &[&str] = &["signup", "login", "view", "search", "cart", "purchase"];

/// Seconds after `last_seen` at which the TTL index removes a session.
pub const SESSION_TTL_SECONDS: u64 = 30 * 60;

/// The `$jsonSchema` validator of `user_profiles`.
pub fn users_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["username", "email", "created_at"],
        "properties": {
            "username": { "bsonType": "string", "minLength": 3, "maxLength": 32, "pattern": "^[^\\s@$]+$",
                          "description": "3–32 characters, no spaces, @ or $" },
            "email": { "bsonType": "string", "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", "description": "an e-mail address" },
            "created_at": { "bsonType": "date" },
            "profile": { "bsonType": "object", "properties": {
                "interests": { "bsonType": "array", "items": { "bsonType": "string" } },
                "expertise_level": { "enum": ["junior", "middle", "senior"] },
            } },
            "metrics": { "bsonType": "object", "properties": {
                "engagement_score": { "bsonType": "number", "minimum": 0, "maximum": 10 },
                "logins": { "bsonType": ["int", "long"], "minimum": 0 },
            } },
        },
    } }
}

/// The `$jsonSchema` validator of `events`.
pub fn events_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["user_id", "event_type", "timestamp"],
        "properties": {
            "user_id": { "bsonType": ["int", "long"], "minimum": 1 },
            "event_type": { "enum": EVENT_TYPES },
            "timestamp": { "bsonType": "date" },
            "metadata": { "bsonType": "object", "properties": {
                "price": { "bsonType": "number", "minimum": 0 },
                "quantity": { "bsonType": ["int", "long"], "minimum": 1 },
            } },
            "geo": { "bsonType": "object", "properties": {
                "location": { "bsonType": "object", "required": ["type", "coordinates"], "properties": {
                    "type": { "enum": ["Point"] },
                    "coordinates": { "bsonType": "array", "minItems": 2, "maxItems": 2, "items": { "bsonType": "number" } },
                } },
            } },
        },
    } }
}

/// The `$jsonSchema` validator of `analytics`.
pub fn analytics_validator() -> Document {
    doc! { "$jsonSchema": {
        "bsonType": "object",
        "required": ["kind", "computed_at", "data"],
        "properties": {
            "kind": { "bsonType": "string", "minLength": 1 },
            "computed_at": { "bsonType": "date" },
            "data": { "bsonType": ["object", "array"] },
        },
    } }
}

/// Whether the server has time-series collections, and what it said.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeSeries {
    /// `metrics_ts` is a time-series collection.
    pub supported: bool,
    /// How we know: the collection's options, or the server's refusal.
    pub note: String,
}

/// One index as the server lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IndexRow {
    /// The collection.
    pub collection: String,
    /// The index name.
    pub name: String,
    /// Its key pattern as JSON, e.g. `{"user_id":1,"timestamp":-1}`.
    pub keys: String,
    /// Unique index.
    pub unique: bool,
    /// TTL, seconds, for an expiring index.
    pub ttl_seconds: Option<i64>,
}
crate::frame_row!(IndexRow { collection, name, keys, unique, ttl_seconds });

/// One collection as the server lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CollectionRow {
    /// The collection.
    pub collection: String,
    /// `collection`, `timeseries` or `view`.
    pub kind: String,
    /// Fields its validator requires (empty when there is no validator).
    pub required: String,
    /// Documents in it (the server's estimate).
    pub documents: i64,
}
crate::frame_row!(CollectionRow { collection, kind, required, documents });

/// Creates the indexes whose names the collection does not have yet. (Asking again for an
/// existing index is a no-op on MongoDB, but SecantusDB 0.7 refuses to re-create an identical
/// 2dsphere index, so we never ask twice.)
async fn create_missing(m: &Mongo, collection: &str, indexes: Vec<IndexModel>) -> Result<()> {
    let coll = m.collection::<Document>(collection);
    let existing = coll.list_index_names().await.unwrap_or_default();
    let missing: Vec<IndexModel> = indexes
        .into_iter()
        .filter(|i| i.options.as_ref().and_then(|o| o.name.as_ref()).is_none_or(|n| !existing.contains(n)))
        .collect();
    if !missing.is_empty() {
        coll.create_indexes(missing).await.map_err(|e| m.error(e))?;
    }
    Ok(())
}

fn named(keys: Document, name: &str, unique: bool) -> IndexModel {
    IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name.to_string()).unique(unique).build()).build()
}

/// Creates what is missing and updates the validators of what exists. Returns whether the
/// server has time-series collections.
pub async fn ensure(m: &Mongo) -> Result<TimeSeries> {
    let existing = ensure_collections(m).await?;
    ensure_indexes(m, GeoIndex::Build).await?;
    time_series(m, existing.iter().any(|c| c == METRICS)).await
}

/// Creates the validated collections that are missing and updates the validators of the
/// others. Returns the names of the collections that existed before.
pub async fn ensure_collections(m: &Mongo) -> Result<Vec<String>> {
    let db = m.database();
    let existing = db.list_collection_names().await.map_err(|e| m.error(e))?;
    for (name, validator) in [(USERS, users_validator()), (EVENTS, events_validator()), (ANALYTICS, analytics_validator())] {
        if existing.iter().any(|c| c == name) {
            db.run_command(doc! { "collMod": name, "validator": validator, "validationLevel": "strict", "validationAction": "error" })
                .await
                .map_err(|e| m.error(e))?;
        } else {
            db.create_collection(name).validator(validator).await.map_err(|e| m.error(e))?;
        }
    }
    Ok(existing)
}

/// Whether the events' 2dsphere index (on `geo.location`) is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeoIndex {
    /// Built, with the others: the geo lessons need it.
    Build,
    /// Left out: the bench loads 100k events, and SecantusDB builds 2dsphere indexes in
    /// quadratic time.
    Skip,
}

/// Creates the indexes that are missing (the 2dsphere one as `geo` says).
pub async fn ensure_indexes(m: &Mongo, geo: GeoIndex) -> Result<()> {
    create_missing(
        m,
        USERS,
        vec![
            named(doc! { "username": 1 }, "username_unique", true),
            named(doc! { "email": 1 }, "email_unique", true),
            named(doc! { "profile.interests": 1 }, "interests", false),
        ],
    )
    .await?;
    create_missing(
        m,
        EVENTS,
        vec![
            named(doc! { "user_id": 1, "timestamp": -1 }, "user_time", false),
            named(doc! { "event_type": 1, "timestamp": -1 }, "type_time", false),
        ]
        .into_iter()
        .chain((geo == GeoIndex::Build).then(|| named(doc! { "geo.location": "2dsphere" }, "location_2dsphere", false)))
        .collect(),
    )
    .await?;
    create_missing(m, ANALYTICS, vec![named(doc! { "kind": 1, "computed_at": -1 }, "kind_time", false)]).await?;
    let ttl = IndexOptions::builder().name("last_seen_ttl".to_string()).expire_after(std::time::Duration::from_secs(SESSION_TTL_SECONDS)).build();
    create_missing(m, SESSIONS, vec![IndexModel::builder().keys(doc! { "last_seen": 1 }).options(ttl).build()]).await
}

/// How often [`wait_until_gone`] asks the server again.
pub const EXPIRY_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Waits — at most `within` — until no document of `collection` matches `filter`, asking the
/// server every [`EXPIRY_POLL`]; returns how long that took, or `None` when a match is still
/// there at the bound. What a TTL index does is seen this way: the server, not the client,
/// removes a document once its date field is older than the index's `expireAfterSeconds`, on
/// its TTL monitor's next pass (mongod: every `ttlMonitorSleepSecs`, 60 s by default; our
/// local servers: every second, see `scripts/secantusd.py` and `docker-compose.yml`).
pub async fn wait_until_gone(m: &Mongo, collection: &str, filter: Document, within: std::time::Duration) -> Result<Option<std::time::Duration>> {
    let started = std::time::Instant::now();
    loop {
        // Each count is bounded by the time left too: a server that stalls on one answer does
        // not stretch the wait (at least one count is always asked).
        let bound = within.saturating_sub(started.elapsed()).max(EXPIRY_POLL);
        let left = match tokio::time::timeout(bound, m.collection::<Document>(collection).count_documents(filter.clone())).await {
            Ok(counted) => counted.map_err(|e| m.error(e))?,
            Err(_) => return Ok(None),
        };
        if left == 0 {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() >= within {
            return Ok(None);
        }
        tokio::time::sleep(EXPIRY_POLL.min(within.saturating_sub(started.elapsed()))).await;
    }
}

async fn time_series(m: &Mongo, exists: bool) -> Result<TimeSeries> {
    let db = m.database();
    if !exists {
        let options = TimeseriesOptions::builder()
            .time_field("timestamp".to_string())
            .meta_field(Some("meta".to_string()))
            .granularity(Some(TimeseriesGranularity::Minutes))
            .build();
        if let Err(e) = db.create_collection(METRICS).timeseries(options).await {
            // Servers before 5.0 (and some compatible servers) refuse the option.
            return Ok(TimeSeries {
                supported: false,
                note: format!("the server refused a time-series collection: {}", super::first_line(&e.to_string())),
            });
        }
    }
    let spec = m.drain(db.list_collections().filter(doc! { "name": METRICS }).await.map_err(|e| m.error(e))?).await?.into_iter().next();
    Ok(match spec {
        Some(spec) if spec.options.timeseries.is_some() => TimeSeries {
            supported: true,
            note: "metrics_ts is a time-series collection (timeField timestamp, metaField meta, granularity minutes)".into(),
        },
        _ => TimeSeries { supported: false, note: "metrics_ts exists but is a plain collection: the server kept no time-series options".into() },
    })
}

/// Lists our collections (kind, required fields, documents) and all their indexes.
pub async fn describe(m: &Mongo) -> Result<(Vec<CollectionRow>, Vec<IndexRow>)> {
    let db = m.database();
    let specs = m.drain(db.list_collections().await.map_err(|e| m.error(e))?).await?;
    let mut collections = Vec::new();
    for spec in specs {
        let required = spec
            .options
            .validator
            .as_ref()
            .and_then(|v| v.get_document("$jsonSchema").ok())
            .and_then(|s| s.get_array("required").ok())
            .map(|r| r.iter().filter_map(|b| b.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let kind = if spec.options.timeseries.is_some() { "timeseries".to_string() } else { format!("{:?}", spec.collection_type).to_lowercase() };
        collections.push(CollectionRow { collection: spec.name, kind, required, documents: 0 });
    }
    collections.sort_by(|a, b| a.collection.cmp(&b.collection));
    let mut indexes = Vec::new();
    for c in &mut collections {
        let coll = m.collection::<Document>(&c.collection);
        c.documents = coll.estimated_document_count().await.map_err(|e| m.error(e))? as i64;
        if c.kind == "timeseries" {
            continue;
        }
        for index in m.drain(coll.list_indexes().await.map_err(|e| m.error(e))?).await? {
            let options = index.options.unwrap_or_default();
            indexes.push(IndexRow {
                collection: c.collection.clone(),
                name: options.name.unwrap_or_default(),
                keys: bson::Bson::Document(index.keys).into_relaxed_extjson().to_string(),
                unique: options.unique.unwrap_or(false),
                ttl_seconds: options.expire_after.map(|d| d.as_secs() as i64),
            });
        }
    }
    Ok((collections, indexes))
}
