//! The model manager and the integrated flow of the original architecture.
//!
//! [`ModelManager`] holds the fitted models under one version. [`ModelManager::predict`]
//! answers `predict(kind, user)`: the user's predictions are cached in Redis (module 3's
//! [`RedisCache`], key `pred:<version>:<user>`, so a new model version never reads an old
//! model's answer). [`request_flow`] is the personalised-recommendation request end to end:
//!
//! ```text
//! request(user) → Redis ─hit──────────────────────────────────────────────┐
//!                   └miss→ SQL: user with address, orders → MongoDB: events │
//!                          → features → models → Redis SET ────────────────┤
//!                                                     analytics event ◀────┘ (RabbitMQ, module 4)
//! ```
//! with the time of every step, for a cold and a warm request.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::churn::ChurnModel;
use super::features::{self, Tables, Window};
use super::recommend::Recommender;
use super::segments::SegmentRules;
use super::value::{self, LtvModel};
use super::{StudyConfig, purchases_around};
use crate::cache::RedisCache;
use crate::config::Settings;
use crate::data::World;
use crate::display::column_f64;
use crate::error::{Error, Result};
use crate::frame_row;
use crate::mongo::{Document, Mongo, doc, schema};
use crate::queue::Broker;
use crate::sql::{Db, users};

/// What to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PredictionKind {
    /// Probability of churning in the horizon.
    Churn,
    /// Expected spend over the next 12 months.
    LifetimeValue,
    /// Days until the next purchase.
    NextPurchase,
    /// Products to recommend.
    Recommendation,
}

/// Everything the models say about one user, as cached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserPrediction {
    /// The user.
    pub user_id: i64,
    /// The model version that made it.
    pub model_version: String,
    /// Segment.
    pub segment: String,
    /// Churn probability.
    pub churn_probability: f64,
    /// 12-month value.
    pub ltv_12m: f64,
    /// Days to the next purchase (NaN without orders).
    pub next_purchase_days: f64,
    /// The 80 % interval of `ltv_12m` ([`LtvModel::interval`](super::value::LtvModel::interval)).
    pub ltv_interval: (f64, f64),
    /// Recommended product ids, best first.
    pub recommendations: Vec<i64>,
    /// Each recommendation's relevance (the recommender's score), in the same order.
    pub relevance: Vec<f64>,
}

/// One answer of [`ModelManager::predict`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The user.
    pub user_id: i64,
    /// What was asked.
    pub kind: String,
    /// The answer as text (a number, or product ids).
    pub value: String,
    /// How sure the answer is, and on what grounds: for churn the probability of the
    /// predicted outcome, for LTV its 80 % interval, for recommendations their relevance; the
    /// next-purchase estimate is a rule and says so.
    pub confidence: String,
    /// The model version.
    pub model_version: String,
    /// Whether Redis answered.
    pub cached: bool,
    /// Time to answer, ms.
    pub ms: f64,
}
frame_row!(Prediction { user_id, kind, value, confidence, model_version, cached, ms });

/// The fitted models under one version, and the window they serve.
#[derive(Clone, Debug)]
pub struct ModelManager {
    churn: ChurnModel,
    ltv: LtvModel,
    rules: SegmentRules,
    recommender: Recommender,
    serve: Window,
    k: usize,
    version: String,
}

impl ModelManager {
    /// Fits every model on all users of `world` (features cut `horizon_days` before its
    /// `as_of`); serves with features as of `as_of`.
    pub fn train(world: &World, config: StudyConfig) -> Result<ModelManager> {
        let tables = Tables::from_world(world)?;
        let window = Window::before_as_of(world, config.horizon_days);
        let df = features::user_features(&tables, window)?;
        let x = features::matrix(&df)?;
        let ids: Vec<i64> = column_f64(&df, "user_id")?.iter().map(|v| *v as i64).collect();
        let churned: Vec<bool> = column_f64(&df, "churned")?.iter().map(|v| *v > 0.5).collect();
        let churn = ChurnModel::fit(&x, &churned, config.seed)?;
        // What a running system can learn from: the spend it observed after the cutoff.
        let ltv = LtvModel::fit(&x, &value::observed_ltv(&column_f64(&df, "future_spend")?, window.horizon_days))?;
        let spend = column_f64(&df, "monetary")?;
        let rules = SegmentRules::from_spend(&spend, config.vip_quantile);
        // The recommender learns what each segment buys: every user's segment at the cutoff.
        let p = churn.predict_proba(&x);
        let recency = column_f64(&df, "recency_days")?;
        let segment_of: std::collections::HashMap<i64, super::segments::Segment> = ids.iter().enumerate().map(|(i, id)| (*id, rules.assign(recency[i], spend[i], p[i]))).collect();
        let (before, _) = purchases_around(&tables, window)?;
        let recommender = Recommender::fit(&before, &segment_of);
        let serve = Window::before_as_of(world, 0);
        let version = format!("m5-{}-u{}-s{}", world.config.as_of, ids.len(), config.seed);
        Ok(ModelManager { churn, ltv, rules, recommender, serve, k: config.k, version })
    }

    /// [`demo`] from a notebook cell: sync, its connections opened and closed inside.
    pub fn serve_demo(&self, settings: &Settings, world_config: &crate::data::WorldConfig, user_id: i64) -> Result<(UserPrediction, Vec<FlowStep>, Vec<Prediction>)> {
        crate::run(demo(settings, self, world_config, user_id))
    }

    /// The version every prediction and cache key carries.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The Redis key of a user's predictions under this model version.
    fn cache_key(&self, user_id: i64) -> String {
        format!("pred:{}:{user_id}", self.version)
    }

    /// Scores one user from their own rows (users: one row; orders and events: theirs).
    pub fn score(&self, user_id: i64, tables: &Tables) -> Result<UserPrediction> {
        let df = features::user_features(tables, self.serve)?;
        if df.height() != 1 {
            return Err(Error::NotFound(format!("user {user_id}: expected one features row, got {}", df.height())));
        }
        let x = features::matrix(&df)?;
        let p = self.churn.predict_proba(&x)[0];
        let ltv = self.ltv.predict(&x)[0];
        let col = |name: &str| column_f64(&df, name).map(|v| v[0]);
        let next = value::next_purchase_days(&[col("days_between_orders")?], &[col("recency_days")?], &[col("frequency")?])[0];
        let segment = self.rules.assign(col("recency_days")?, col("monetary")?, p);
        let recommended = self.recommender.recommend(user_id, segment, self.k);
        Ok(UserPrediction {
            user_id,
            model_version: self.version.clone(),
            segment: segment.as_str().into(),
            churn_probability: p,
            ltv_12m: ltv,
            ltv_interval: self.ltv.interval(ltv),
            next_purchase_days: next,
            recommendations: recommended.iter().map(|r| r.product_id).collect(),
            relevance: recommended.iter().map(|r| r.score).collect(),
        })
    }

    /// `predict(kind, user)`: from Redis when a prediction of this version is cached there,
    /// else loaded from SQL and MongoDB, scored and cached for `ttl`.
    pub async fn predict(&self, kind: PredictionKind, user_id: i64, services: &Services<'_>, ttl: Duration) -> Result<Prediction> {
        let started = Instant::now();
        let key = self.cache_key(user_id);
        // A cache must never fail a request: with Redis away, the prediction is computed.
        let cached: Option<UserPrediction> = services.cache.get(&key).await.unwrap_or(None);
        let hit = cached.is_some();
        let p = match cached {
            Some(p) => p,
            None => {
                let p = self.score(user_id, &load_user(services, user_id).await?.1)?;
                let _ = services.cache.set(&key, &p, ttl).await;
                p
            }
        };
        let (value, confidence) = answer(kind, &p);
        Ok(Prediction { user_id, kind: format!("{kind:?}"), value, confidence, model_version: p.model_version, cached: hit, ms: started.elapsed().as_secs_f64() * 1e3 })
    }
}

/// The answer to `kind` from a user's predictions, and how sure it is.
pub fn answer(kind: PredictionKind, p: &UserPrediction) -> (String, String) {
    match kind {
        PredictionKind::Churn => {
            let (sure, what) = if p.churn_probability >= 0.5 { (p.churn_probability, "churns") } else { (1.0 - p.churn_probability, "stays") };
            (format!("{:.3}", p.churn_probability), format!("{:.0} % that the user {what} (the model's probability)", 100.0 * sure))
        }
        PredictionKind::LifetimeValue => (format!("{:.2}", p.ltv_12m), format!("80 % interval {:.0}–{:.0}", p.ltv_interval.0, p.ltv_interval.1)),
        PredictionKind::NextPurchase => (
            if p.next_purchase_days.is_finite() { format!("{:.1}", p.next_purchase_days) } else { "no orders yet".into() },
            "a rule (mean gap between orders − days since last activity), no model: no confidence".into(),
        ),
        PredictionKind::Recommendation => (
            format!("{:?}", p.recommendations),
            format!("relevance {}", p.relevance.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")),
        ),
    }
}

/// The connections one request uses.
pub struct Services<'a> {
    /// SQL: users, addresses, orders.
    pub db: &'a Db,
    /// MongoDB: events.
    pub mongo: &'a Mongo,
    /// Redis: cached predictions.
    pub cache: &'a RedisCache,
    /// RabbitMQ: analytics events (optional).
    pub broker: Option<&'a Broker>,
}

/// The user with address (SQL), and their users/orders/events tables (SQL + MongoDB).
async fn load_user(s: &Services<'_>, user_id: i64) -> Result<(Option<crate::sql::loading::UserWithAddress>, Tables)> {
    let (user, who) = load_sql(s, user_id).await?;
    let events = load_events(s.mongo, user_id).await?;
    Ok((who, Tables { users: user.0, orders: user.1, events }))
}

async fn load_sql(s: &Services<'_>, user_id: i64) -> Result<((DataFrame, DataFrame), Option<crate::sql::loading::UserWithAddress>)> {
    use crate::display::ToFrame;
    let row = users::by_id(s.db, user_id).await?.ok_or_else(|| Error::NotFound(format!("there is no user {user_id} in {}", s.db.url())))?;
    let who = users::with_address(s.db, user_id).await?;
    let users_df = DataFrame::new_infer_height(vec![
        Column::new("id".into(), vec![row.id]),
        Column::new("registered_at".into(), vec![row.registered_at]),
        Column::new("verified".into(), vec![row.verified]),
    ])?;
    let orders = users::orders_of(s.db, user_id).await?;
    let orders_df = if orders.is_empty() {
        DataFrame::new_infer_height(vec![
            Column::new("user_id".into(), Vec::<i64>::new()),
            Column::new("product_id".into(), Vec::<i64>::new()),
            Column::new("total".into(), Vec::<f64>::new()),
            Column::new("ordered_at".into(), Vec::<NaiveDateTime>::new()),
            Column::new("status".into(), Vec::<String>::new()),
        ])?
    } else {
        orders.to_frame()?
    };
    Ok(((users_df, orders_df), who))
}

/// The feature tables from the services: users and orders from SQL, events from MongoDB.
pub async fn tables_from_services(db: &Db, m: &Mongo) -> Result<Tables> {
    use crate::display::ToFrame;
    let users = users::registrations(db).await?.to_frame()?;
    let orders = users::all_orders(db).await?.to_frame()?;
    let events = events_frame(m, doc! {}).await?;
    Ok(Tables { users, orders, events })
}

/// The feature tables from the services at `settings` (SQL and MongoDB seeded with
/// `world_config` if empty), and how long reading them took in ms: the notebook's load step,
/// sync, with its connections opened and closed inside.
pub fn load_tables(settings: &Settings, world_config: &crate::data::WorldConfig) -> Result<(Tables, f64)> {
    crate::run(async {
        let started = std::time::Instant::now();
        let db = crate::sql::open_seeded(settings, world_config).await?;
        let m = crate::mongo::open_seeded(settings, world_config).await?;
        let tables = tables_from_services(&db, &m).await;
        m.close().await;
        db.close().await;
        Ok((tables?, started.elapsed().as_secs_f64() * 1e3))
    })
}

/// One user's events from MongoDB as a `user_id, kind, at` frame.
pub async fn load_events(m: &Mongo, user_id: i64) -> Result<DataFrame> {
    events_frame(m, doc! { "user_id": user_id }).await
}

async fn events_frame(m: &Mongo, filter: Document) -> Result<DataFrame> {
    let cursor = m
        .collection::<Document>(schema::EVENTS)
        .find(filter)
        .projection(doc! { "user_id": 1, "event_type": 1, "timestamp": 1 })
        .await
        .map_err(|e| crate::mongo::map_error(m.url(), e))?;
    let docs = m.drain(cursor).await?;
    let ids: Vec<i64> = docs.iter().map(|d| d.get_i64("user_id").or_else(|_| d.get_i32("user_id").map(i64::from)).unwrap_or(0)).collect();
    let kinds: Vec<String> = docs.iter().map(|d| d.get_str("event_type").unwrap_or("").to_string()).collect();
    let at: Vec<NaiveDateTime> = docs.iter().map(|d| d.get_datetime("timestamp").map(|t| chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).map(|d| d.naive_utc()).unwrap_or_default()).unwrap_or_default()).collect();
    Ok(DataFrame::new_infer_height(vec![
        Column::new("user_id".into(), ids),
        Column::new("kind".into(), kinds),
        Column::new("at".into(), at),
    ])?)
}

/// One step of a request, timed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowStep {
    /// `cold` or `warm`.
    pub request: String,
    /// The step.
    pub step: String,
    /// Milliseconds.
    pub ms: f64,
    /// What it found.
    pub note: String,
}
frame_row!(FlowStep { request, step, ms, note });

impl FlowStep {
    /// The step and the request in a few words, for a chart's axis: `cold Redis`, `warm SQL`.
    pub fn label(&self) -> String {
        let tier = match self.step.chars().next() {
            Some('1') => "Redis",
            Some('2') => "SQL",
            Some('3') => "Mongo",
            Some('4') => "model",
            Some('5') => "SET",
            _ => "MQ",
        };
        format!("{} {tier}", self.request)
    }
}

/// One personalised-recommendation request for `user_id`, step by step (see the module docs).
pub async fn request_flow(manager: &ModelManager, s: &Services<'_>, user_id: i64, label: &str, ttl: Duration) -> Result<(UserPrediction, Vec<FlowStep>)> {
    let mut steps = Vec::new();
    let mut t = Instant::now();
    let mut step = |name: &str, note: String, t: &mut Instant| {
        steps.push(FlowStep { request: label.into(), step: name.into(), ms: t.elapsed().as_secs_f64() * 1e3, note });
        *t = Instant::now();
    };
    let key = manager.cache_key(user_id);
    // The cache speeds the request up and never fails it: Redis away counts as a miss.
    let (cached, note) = match s.cache.get::<UserPrediction>(&key).await {
        Ok(Some(p)) => (Some(p), "hit".to_string()),
        Ok(None) => (None, "miss".to_string()),
        Err(e) => (None, format!("Redis unavailable, answered without the cache ({e})")),
    };
    step("1 Redis GET", note, &mut t);
    let prediction = match cached {
        Some(p) => p,
        None => {
            let ((users_df, orders_df), who) = load_sql(s, user_id).await?;
            let place = who.map(|w| format!("{} in {}, {}", w.username, w.city.unwrap_or_default(), w.country.unwrap_or_default())).unwrap_or_default();
            step("2 SQL: user with address, orders", format!("{place}; {} orders", orders_df.height()), &mut t);
            let events = load_events(s.mongo, user_id).await?;
            step("3 MongoDB: events", format!("{} events", events.height()), &mut t);
            let p = manager.score(user_id, &Tables { users: users_df, orders: orders_df, events })?;
            step("4 features + models", format!("{}, churn {:.2}, LTV {:.0}", p.segment, p.churn_probability, p.ltv_12m), &mut t);
            let note = match s.cache.set(&key, &p, ttl).await {
                Ok(()) => format!("TTL {} s", ttl.as_secs()),
                Err(e) => format!("not cached: Redis unavailable ({e})"),
            };
            step("5 Redis SET", note, &mut t);
            p
        }
    };
    if let Some(b) = s.broker {
        let props = serde_json::json!({ "recommendations": prediction.recommendations, "model_version": prediction.model_version, "request": label });
        let published = b.publish_analytics_event("recommendations_served", user_id, props).await?;
        step("6 RabbitMQ: analytics event", published.outcome, &mut t);
    }
    Ok((prediction, steps))
}

/// The demonstration: connects to every service (SQL and MongoDB seeded with `world_config`
/// if empty, a Redis namespace and a RabbitMQ topology of its own), then requests `user_id`'s
/// recommendations twice — cold, then warm — and asks `predict` for every kind. Cleans up.
pub async fn demo(settings: &Settings, manager: &ModelManager, world_config: &crate::data::WorldConfig, user_id: i64) -> Result<(UserPrediction, Vec<FlowStep>, Vec<Prediction>)> {
    let db = crate::sql::open_seeded(settings, world_config).await?;
    let mongo = crate::mongo::open_seeded(settings, world_config).await?;
    let cache = RedisCache::new(&settings.redis_url, &crate::cache::run_namespace("m5"))?;
    let broker = Broker::connect(&settings.amqp_addr, crate::queue::Topology::unique("m5")).await?;
    let s = Services { db: &db, mongo: &mongo, cache: &cache, broker: Some(&broker) };
    let ttl = Duration::from_secs(600);
    let run = async {
        let (_, mut steps) = request_flow(manager, &s, user_id, "cold", ttl).await?;
        let (prediction, warm) = request_flow(manager, &s, user_id, "warm", ttl).await?;
        steps.extend(warm);
        let mut answers = Vec::new();
        for kind in [PredictionKind::Churn, PredictionKind::LifetimeValue, PredictionKind::NextPurchase, PredictionKind::Recommendation] {
            answers.push(manager.predict(kind, user_id, &s, ttl).await?);
        }
        let fresh_user = user_id % 1000 + 1;
        answers.push(manager.predict(PredictionKind::Churn, if fresh_user == user_id { user_id + 1 } else { fresh_user }, &s, ttl).await?);
        Ok::<_, Error>((prediction, steps, answers))
    }
    .await;
    let _ = cache.invalidate("*").await;
    let _ = broker.teardown().await;
    broker.close().await;
    mongo.close().await;
    db.close().await;
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(churn: f64) -> UserPrediction {
        UserPrediction {
            user_id: 7,
            model_version: "v".into(),
            segment: "ACTIVE".into(),
            churn_probability: churn,
            ltv_12m: 120.0,
            ltv_interval: (80.0, 190.0),
            next_purchase_days: f64::NAN,
            recommendations: vec![3, 9],
            relevance: vec![0.91234, 0.5],
        }
    }

    #[test]
    fn every_answer_says_how_sure_it_is() {
        assert_eq!(answer(PredictionKind::Churn, &prediction(0.2)).1, "80 % that the user stays (the model's probability)");
        assert_eq!(answer(PredictionKind::Churn, &prediction(0.9)).1, "90 % that the user churns (the model's probability)");
        assert_eq!(answer(PredictionKind::LifetimeValue, &prediction(0.2)), ("120.00".to_string(), "80 % interval 80–190".to_string()));
        assert_eq!(answer(PredictionKind::Recommendation, &prediction(0.2)), ("[3, 9]".to_string(), "relevance 0.912, 0.500".to_string()));
        let (value, confidence) = answer(PredictionKind::NextPurchase, &prediction(0.2));
        assert_eq!(value, "no orders yet");
        assert!(confidence.contains("no confidence"));
    }
}
