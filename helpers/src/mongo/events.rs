//! The EventTracker (log an event, distribution, activity, purchases), the
//! GeoLocationManager (events near a point) and the DataProcessor's cohort metrics: each
//! runs one pipeline of [`pipelines`](super::pipelines) and returns typed rows.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use bson::Document;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::docs::{EventDoc, de_naive};
use super::pipelines::{self, Pipeline};
use super::{Mongo, schema};
use crate::error::Result;

/// Stores one event. An event the validator refuses (unknown type, no date, a user id
/// below 1, a malformed point) is an [`Error::Constraint`](crate::Error::Constraint) that
/// names the field.
pub async fn log_event(m: &Mongo, event: &EventDoc) -> Result<()> {
    m.collection::<EventDoc>(schema::EVENTS).insert_one(event).await.map_err(|e| m.error(e))?;
    Ok(())
}

/// Runs `pipeline` and deserializes every result document as `T`.
pub async fn aggregate<T: DeserializeOwned + Send + Sync>(m: &Mongo, pipeline: &Pipeline) -> Result<Vec<T>> {
    let cursor = m
        .collection::<Document>(pipeline.collection)
        .aggregate(pipeline.stages.clone())
        .with_type::<T>()
        .await
        .map_err(|e| m.error(e))?;
    m.drain(cursor).await
}

/// Events of one type and their share of all events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventCount {
    /// The type.
    #[serde(rename = "_id")]
    pub event_type: String,
    /// Events of that type.
    pub count: i64,
    /// Share of all events, 0–1 (computed after the pipeline).
    #[serde(default)]
    pub share: f64,
}
crate::frame_row!(EventCount { event_type, count, share });

/// Events per type, most frequent first ([`pipelines::event_distribution`]).
pub async fn event_distribution(m: &Mongo) -> Result<Vec<EventCount>> {
    let mut rows: Vec<EventCount> = aggregate(m, &pipelines::event_distribution()).await?;
    let total: i64 = rows.iter().map(|r| r.count).sum();
    for r in &mut rows {
        r.share = r.count as f64 / total.max(1) as f64;
    }
    Ok(rows)
}

/// One user's activity in a time window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserActivity {
    /// The user.
    #[serde(rename = "_id")]
    pub user_id: i64,
    /// Events in the window.
    pub events: i64,
    /// Distinct sessions.
    pub sessions: i64,
    /// Purchases.
    pub purchases: i64,
    /// First event in the window.
    #[serde(deserialize_with = "de_naive")]
    pub first: NaiveDateTime,
    /// Last event in the window.
    #[serde(deserialize_with = "de_naive")]
    pub last: NaiveDateTime,
}
crate::frame_row!(UserActivity { user_id, events, sessions, purchases, first, last });

/// The `limit` most active users in `[start, end)` ([`pipelines::user_activity`]).
pub async fn user_activity(m: &Mongo, start: NaiveDateTime, end: NaiveDateTime, limit: i64) -> Result<Vec<UserActivity>> {
    aggregate(m, &pipelines::user_activity(start, end, limit)).await
}

/// Purchases of one category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategorySales {
    /// The category.
    #[serde(rename = "_id")]
    pub category: String,
    /// Purchases.
    pub purchases: i64,
    /// Units bought.
    pub units: i64,
    /// Money taken, rounded to cents.
    pub revenue: f64,
    /// Average purchase value.
    pub average: f64,
    /// Distinct buyers.
    pub buyers: i64,
}
crate::frame_row!(CategorySales { category, purchases, units, revenue, average, buyers });

/// Purchase analytics per category, by revenue ([`pipelines::purchases_by_category`]).
pub async fn purchase_analytics(m: &Mongo) -> Result<Vec<CategorySales>> {
    aggregate(m, &pipelines::purchases_by_category()).await
}

/// An event near a point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NearEvent {
    /// Who.
    pub user_id: i64,
    /// What.
    pub event_type: String,
    /// When.
    #[serde(deserialize_with = "de_naive")]
    pub timestamp: NaiveDateTime,
    /// The user's city.
    pub city: String,
    /// The user's country.
    pub country: String,
    /// Where the event was: longitude, degrees.
    pub lon: f64,
    /// Where the event was: latitude, degrees.
    pub lat: f64,
    /// Metres from the point (great-circle).
    pub distance_m: f64,
}
crate::frame_row!(NearEvent { user_id, event_type, timestamp, city, country, lon, lat, distance_m });

/// Events within `max_meters` of (`lon`, `lat`), nearest first ([`pipelines::events_near`]).
pub async fn events_near(m: &Mongo, lon: f64, lat: f64, max_meters: f64, limit: i64) -> Result<Vec<NearEvent>> {
    aggregate(m, &pipelines::events_near(lon, lat, max_meters, limit)).await
}

#[derive(Deserialize)]
struct CohortKey {
    #[serde(deserialize_with = "de_naive")]
    cohort: NaiveDateTime,
    age: i64,
}

#[derive(Deserialize)]
struct CohortCount {
    #[serde(rename = "_id")]
    key: CohortKey,
    users: i64,
}

/// One cell of the cohort table: of the users whose first event was in `cohort`, how many
/// were active `age` months later.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohortCell {
    /// The cohort's month, `YYYY-MM`.
    pub cohort: String,
    /// Months since the cohort's month (0 = the first month).
    pub age: i64,
    /// Users of the cohort active that month.
    pub active: i64,
    /// Users in the cohort.
    pub size: i64,
    /// `active / size`.
    pub retention: f64,
}
crate::frame_row!(CohortCell { cohort, age, active, size, retention });

/// Cohort metrics ([`pipelines::cohorts`]): retention by months since the first event.
pub async fn cohort_metrics(m: &Mongo) -> Result<Vec<CohortCell>> {
    let counts: Vec<CohortCount> = aggregate(m, &pipelines::cohorts()).await?;
    let mut sizes: BTreeMap<NaiveDateTime, i64> = BTreeMap::new();
    for c in counts.iter().filter(|c| c.key.age == 0) {
        sizes.insert(c.key.cohort, c.users);
    }
    Ok(counts
        .iter()
        .map(|c| {
            let size = sizes.get(&c.key.cohort).copied().unwrap_or(0);
            CohortCell {
                cohort: c.key.cohort.format("%Y-%m").to_string(),
                age: c.key.age,
                active: c.users,
                size,
                retention: c.users as f64 / size.max(1) as f64,
            }
        })
        .collect())
}

/// Profiles sharing one interest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterestCount {
    /// The interest.
    #[serde(rename = "_id")]
    pub interest: String,
    /// Profiles with it.
    pub users: i64,
    /// Their mean engagement score.
    pub engagement: f64,
}
crate::frame_row!(InterestCount { interest, users, engagement });

/// How many profiles share each interest ([`pipelines::interest_counts`]).
pub async fn interest_counts(m: &Mongo) -> Result<Vec<InterestCount>> {
    aggregate(m, &pipelines::interest_counts()).await
}
