//! The document types, and loading a [`World`] into them.
//!
//! A user profile keeps what belongs to one user in one document (interests, metrics,
//! subscriptions) — what SQL spreads over joined tables. An event carries its place as a
//! GeoJSON point, which the 2dsphere index and `$geoNear` use.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{Mongo, schema};
use crate::config::{ALLOW_RESET_VAR, OWNER_MARKER, is_module_name, reset_allowed};
use crate::data::{EventKind, World};
use crate::error::{Error, Result};

/// A GeoJSON point: `{ "type": "Point", "coordinates": [lon, lat] }` (longitude first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Always `Point`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `[longitude, latitude]`, degrees.
    pub coordinates: [f64; 2],
}

impl GeoPoint {
    /// The point at `lon`, `lat` (degrees).
    pub fn new(lon: f64, lat: f64) -> Self {
        GeoPoint { kind: "Point".into(), coordinates: [lon, lat] }
    }
}

/// Where an event happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    /// The user's country.
    pub country: String,
    /// The user's city.
    pub city: String,
    /// Where the event was, as GeoJSON.
    pub location: GeoPoint,
}

/// What an event was about. Every field is optional: a login has none of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMeta {
    /// The product viewed, carted or bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<i64>,
    /// Its category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Purchases: the order's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Purchases: units bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
}

/// One event document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventDoc {
    /// Who.
    pub user_id: i64,
    /// One of [`schema::EVENT_TYPES`].
    pub event_type: String,
    /// When (a BSON date).
    pub timestamp: bson::DateTime,
    /// The session it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<i64>,
    /// What it was about.
    #[serde(default)]
    pub metadata: EventMeta,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
}

/// Interests and level: the nested part of a profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Product categories the user looks at most (up to three).
    pub interests: Vec<String>,
    /// `junior`, `middle` or `senior` (by how often they come back).
    pub expertise_level: String,
}

/// Activity figures kept on the profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// 0–10, from logins per month of membership.
    pub engagement_score: f64,
    /// Logins so far.
    pub logins: i64,
    /// Orders so far.
    pub orders: i64,
    /// Money spent on completed orders.
    pub total_spent: f64,
    /// Last activity.
    pub last_active: bson::DateTime,
}

/// One user profile document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// The relational id (the same user in SQL and in events).
    pub user_id: i64,
    /// Unique login name.
    pub username: String,
    /// Unique e-mail address.
    pub email: String,
    /// Given and family name.
    pub full_name: String,
    /// Country name.
    pub country: String,
    /// City name.
    pub city: String,
    /// Sign-up time.
    pub created_at: bson::DateTime,
    /// E-mail verified.
    pub verified: bool,
    /// Interests and level.
    pub profile: Profile,
    /// Activity figures.
    pub metrics: Metrics,
    /// Newsletters and alerts they receive.
    pub subscriptions: Vec<String>,
}

impl UserProfile {
    /// A minimal new profile (no activity yet), for inserting by hand.
    pub fn new(user_id: i64, username: &str, email: &str, interests: &[&str]) -> Self {
        let now = bson::DateTime::now();
        UserProfile {
            user_id,
            username: username.into(),
            email: email.into(),
            full_name: String::new(),
            country: String::new(),
            city: String::new(),
            created_at: now,
            verified: false,
            profile: Profile { interests: interests.iter().map(|s| s.to_string()).collect(), expertise_level: "junior".into() },
            metrics: Metrics { engagement_score: 0.0, logins: 0, orders: 0, total_spent: 0.0, last_active: now },
            subscriptions: Vec::new(),
        }
    }
}

impl crate::display::FrameRow for UserProfile {
    /// The flat part of each profile: identity, interests joined by `, `, level and metrics.
    fn frame(rows: &[Self]) -> Result<polars::prelude::DataFrame> {
        use polars::prelude::{Column, DataFrame};
        let col = |name: &str, values: Vec<String>| Column::new(name.into(), values);
        Ok(DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), rows.iter().map(|r| r.user_id).collect::<Vec<_>>()),
            col("username", rows.iter().map(|r| r.username.clone()).collect()),
            col("country", rows.iter().map(|r| r.country.clone()).collect()),
            col("interests", rows.iter().map(|r| r.profile.interests.join(", ")).collect()),
            col("expertise_level", rows.iter().map(|r| r.profile.expertise_level.clone()).collect()),
            Column::new("engagement_score".into(), rows.iter().map(|r| r.metrics.engagement_score).collect::<Vec<_>>()),
            Column::new("logins".into(), rows.iter().map(|r| r.metrics.logins).collect::<Vec<_>>()),
            Column::new("orders".into(), rows.iter().map(|r| r.metrics.orders).collect::<Vec<_>>()),
            Column::new("total_spent".into(), rows.iter().map(|r| r.metrics.total_spent).collect::<Vec<_>>()),
            Column::new("created_at".into(), rows.iter().map(|r| naive(r.created_at)).collect::<Vec<_>>()),
        ])?)
    }
}

/// A BSON date from a naive UTC time.
pub fn bson_date(t: NaiveDateTime) -> bson::DateTime {
    bson::DateTime::from_millis(t.and_utc().timestamp_millis())
}

/// A naive UTC time from a BSON date.
pub fn naive(t: bson::DateTime) -> NaiveDateTime {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or_default().naive_utc()
}

pub(crate) fn de_naive<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<NaiveDateTime, D::Error> {
    Ok(naive(bson::DateTime::deserialize(d)?))
}

/// The world's events as documents. Purchases carry their order's total and quantity
/// (the world makes one order per purchase, in the same order).
pub fn events_from_world(world: &World) -> Vec<EventDoc> {
    let place = places(world);
    let category: HashMap<i64, &str> = world.products.iter().map(|p| (p.id, p.category.as_str())).collect();
    let mut orders = world.orders.iter();
    world
        .events
        .iter()
        .map(|e| {
            let order = if e.kind == EventKind::Purchase { orders.next() } else { None };
            let (country, city) = place.get(&e.user_id).cloned().unwrap_or_default();
            EventDoc {
                user_id: e.user_id,
                event_type: e.kind.as_str().to_string(),
                timestamp: bson_date(e.at),
                session_id: Some(e.session_id),
                metadata: EventMeta {
                    product_id: e.product_id,
                    category: e.product_id.and_then(|p| category.get(&p)).map(|c| c.to_string()),
                    price: order.map(|o| o.total),
                    quantity: order.map(|o| o.quantity),
                },
                geo: Some(Geo { country: country.to_string(), city: city.to_string(), location: GeoPoint::new(e.lon, e.lat) }),
            }
        })
        .collect()
}

/// The world's users as profile documents: interests are the categories they viewed most,
/// metrics come from their logins and completed orders.
pub fn profiles_from_world(world: &World) -> Vec<UserProfile> {
    let place = places(world);
    let category: HashMap<i64, &str> = world.products.iter().map(|p| (p.id, p.category.as_str())).collect();
    let mut views: HashMap<i64, HashMap<&str, usize>> = HashMap::new();
    for e in &world.events {
        if let (EventKind::View, Some(p)) = (e.kind, e.product_id) {
            *views.entry(e.user_id).or_default().entry(category[&p]).or_default() += 1;
        }
    }
    let mut spent: HashMap<i64, (i64, f64)> = HashMap::new();
    for o in world.orders.iter().filter(|o| o.status == "completed") {
        let s = spent.entry(o.user_id).or_default();
        s.0 += 1;
        s.1 += o.total;
    }
    let as_of = world.config.as_of.and_hms_opt(23, 59, 59).unwrap_or_default();
    world
        .users
        .iter()
        .map(|u| {
            let mut interests: Vec<(&str, usize)> = views.get(&u.id).map(|v| v.iter().map(|(c, n)| (*c, *n)).collect()).unwrap_or_default();
            interests.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let months = ((as_of - u.registered_at).num_days() as f64 / 30.0).max(1.0);
            let per_month = u.login_count as f64 / months;
            let (orders, total) = spent.get(&u.id).copied().unwrap_or_default();
            let (country, city) = place.get(&u.id).cloned().unwrap_or_default();
            UserProfile {
                user_id: u.id,
                username: u.username.clone(),
                email: u.email.clone(),
                full_name: format!("{} {}", u.first_name, u.last_name),
                country: country.to_string(),
                city: city.to_string(),
                created_at: bson_date(u.registered_at),
                verified: u.verified,
                profile: Profile {
                    interests: interests.iter().take(3).map(|(c, _)| c.to_string()).collect(),
                    expertise_level: match per_month {
                        x if x >= 4.0 => "senior",
                        x if x >= 1.5 => "middle",
                        _ => "junior",
                    }
                    .into(),
                },
                metrics: Metrics {
                    engagement_score: ((per_month * 2.0).min(10.0) * 10.0).round() / 10.0,
                    logins: u.login_count,
                    orders,
                    total_spent: (total * 100.0).round() / 100.0,
                    last_active: bson_date(u.last_active_at),
                },
                subscriptions: if u.verified { vec!["newsletter".into(), "price-alerts".into()] } else { vec![] },
            }
        })
        .collect()
}

/// user id → (country name, city name).
fn places(world: &World) -> HashMap<i64, (&str, &str)> {
    let countries: HashMap<i64, &str> = world.countries.iter().map(|c| (c.id, c.name.as_str())).collect();
    let cities: HashMap<i64, (&str, &str)> =
        world.cities.iter().map(|c| (c.id, (countries.get(&c.country_id).copied().unwrap_or(""), c.name.as_str()))).collect();
    let address_city: HashMap<i64, i64> = world.addresses.iter().map(|a| (a.id, a.city_id)).collect();
    world
        .users
        .iter()
        .map(|u| (u.id, address_city.get(&u.address_id).and_then(|c| cities.get(c)).copied().unwrap_or(("", ""))))
        .collect()
}

/// What [`load_world`] stored and how long it took.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadReport {
    /// Profiles stored.
    pub profiles: u64,
    /// Events stored.
    pub events: u64,
    /// Seconds for the profiles (one `insert_many`).
    pub profile_seconds: f64,
    /// Seconds for the events (one unordered `insert_many`).
    pub event_seconds: f64,
    /// Seconds to build the indexes afterwards.
    pub index_seconds: f64,
}

impl LoadReport {
    /// Events stored per second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.event_seconds.max(1e-9)
    }
}

/// Replaces the profiles and events with those of `world`, the way bulk loads are done:
/// drop both collections, re-create them with their validators, insert with one bulk
/// `insert_many` each (the driver splits it into server-sized batches), then build the
/// indexes once over the loaded data — cheaper than maintaining them document by document.
pub async fn load_world(m: &Mongo, world: &World) -> Result<LoadReport> {
    load_world_with(m, world, schema::GeoIndex::Build).await
}

/// [`load_world`], with the 2dsphere index left out with [`schema::GeoIndex::Skip`] (for loads
/// too big for SecantusDB's 2dsphere build, which takes quadratic time).
///
/// Like a SQL seed, it refuses ([`Error::WouldDestroy`], nothing dropped) to drop documents
/// this module did not write: outside the module's own database (`module8`, `module8_…`),
/// collections that hold documents and no marker of an earlier load are left alone unless
/// `M8_ALLOW_RESET=1` (or [`load_world_replacing`]).
pub async fn load_world_with(m: &Mongo, world: &World, geo: schema::GeoIndex) -> Result<LoadReport> {
    check_may_replace(m).await?;
    load(m, world, geo).await
}

/// [`load_world`] without the check: drops the two collections whoever wrote them.
pub async fn load_world_replacing(m: &Mongo, world: &World) -> Result<LoadReport> {
    load(m, world, schema::GeoIndex::Build).await
}

/// See [`load_world_with`]: the module's own database, empty collections, an earlier load's
/// marker, or `M8_ALLOW_RESET=1`.
async fn check_may_replace(m: &Mongo) -> Result<()> {
    let name = m.database().name().to_string();
    if reset_allowed() || is_module_name(&name) {
        return Ok(());
    }
    let existing = m.database().list_collection_names().await.map_err(|e| m.error(e))?;
    if existing.iter().any(|c| c == OWNER_MARKER) {
        return Ok(());
    }
    let mut documents = 0;
    for collection in [schema::USERS, schema::EVENTS] {
        if existing.iter().any(|c| c == collection) {
            documents += m.collection::<bson::Document>(collection).count_documents(bson::doc! {}).await.map_err(|e| m.error(e))?;
        }
    }
    if documents == 0 {
        return Ok(());
    }
    Err(Error::WouldDestroy {
        action: "bulk-load",
        place: format!("MongoDB database `{name}`"),
        reason: format!(
            "its collections {} and {} hold {documents} document{} that this module did not write (there is no `{OWNER_MARKER}` collection), and a bulk load drops both",
            schema::USERS,
            schema::EVENTS,
            if documents == 1 { "" } else { "s" }
        ),
        how: format!("Load into the module's own database (MONGODB_DATABASE=module8, the default), or set {ALLOW_RESET_VAR}=1 to replace them"),
    })
}

async fn load(m: &Mongo, world: &World, geo: schema::GeoIndex) -> Result<LoadReport> {
    for name in [schema::USERS, schema::EVENTS] {
        m.collection::<bson::Document>(name).drop().await.map_err(|e| m.error(e))?;
    }
    schema::ensure_collections(m).await?;
    let users = m.collection::<UserProfile>(schema::USERS);
    let events = m.collection::<EventDoc>(schema::EVENTS);
    let profiles = profiles_from_world(world);
    let started = Instant::now();
    let stored = users.insert_many(&profiles).await.map_err(|e| m.error(e))?.inserted_ids.len() as u64;
    let profile_seconds = started.elapsed().as_secs_f64();
    let docs = events_from_world(world);
    let started = Instant::now();
    let stored_events = events.insert_many(&docs).ordered(false).await.map_err(|e| m.error(e))?.inserted_ids.len() as u64;
    let event_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    schema::ensure_indexes(m, geo).await?;
    // The marker: these collections are the module's now, and the next load may replace them.
    let marker = m.collection::<bson::Document>(OWNER_MARKER);
    marker.delete_many(bson::doc! {}).await.map_err(|e| m.error(e))?;
    marker.insert_one(bson::doc! { "loaded_at": bson::DateTime::now() }).await.map_err(|e| m.error(e))?;
    Ok(LoadReport { profiles: stored, events: stored_events, profile_seconds, event_seconds, index_seconds: started.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::WorldConfig;

    #[test]
    fn every_purchase_document_carries_its_orders_total() {
        let world = World::generate(&WorldConfig::with_users(200));
        let docs = events_from_world(&world);
        assert_eq!(docs.len(), world.events.len());
        let purchases: Vec<&EventDoc> = docs.iter().filter(|d| d.event_type == "purchase").collect();
        assert_eq!(purchases.len(), world.orders.len());
        for (d, o) in purchases.iter().zip(&world.orders) {
            assert_eq!((d.user_id, d.metadata.product_id, d.metadata.price), (o.user_id, Some(o.product_id), Some(o.total)));
            assert_eq!(naive(d.timestamp), o.ordered_at);
        }
        assert!(docs.iter().all(|d| d.geo.as_ref().is_some_and(|g| !g.country.is_empty() && !g.city.is_empty())));
    }

    #[test]
    fn profiles_keep_the_users_identity_and_sum_only_completed_orders() {
        let world = World::generate(&WorldConfig::with_users(200));
        let profiles = profiles_from_world(&world);
        assert_eq!(profiles.len(), world.users.len());
        let completed: f64 = world.orders.iter().filter(|o| o.status == "completed").map(|o| o.total).sum();
        let stored: f64 = profiles.iter().map(|p| p.metrics.total_spent).sum();
        assert!((completed - stored).abs() < 0.01 * profiles.len() as f64, "{completed} vs {stored}");
        assert!(profiles.iter().all(|p| (0.0..=10.0).contains(&p.metrics.engagement_score) && p.profile.interests.len() <= 3));
        assert_eq!(profiles[0].username, world.users[0].username);
    }
}
