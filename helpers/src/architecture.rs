//! The original's architecture end to end: a registration and what follows it, through all
//! four services, with the time the API takes to answer beside the time until the work is done.
//!
//! ```text
//!  POST /api/users ─▶ API: validate ─▶ PostgreSQL INSERT users ─▶ Redis SET profile:<id> ─▶ 201 Created
//!                                                                     │ publish user.signup
//!  POST /api/events (product views) ─▶ analytics fan-out ◀───┐        ▼
//!        ┌────────────┬────────────┬─────────────┐           │   user_data ─▶ enrich from PostgreSQL (address → city, country)
//!        ▼            ▼            ▼             ▼           │                store the profile in MongoDB
//!   store (MongoDB) metrics    alerts    dashboard (Redis:   │                ├─ welcome e-mail ─▶ notifications (e-mail, audit)
//!                  per domain  disposable  counts per type,  └────────────────├─ user_signup event
//!                              addresses   unique users,                      └─ task.recommendations ─▶ recommendations:
//!                                          trending products)                      popular in the user's country (PostgreSQL)
//!                                                                                  ─▶ Redis SET recs:<id>, MongoDB profile $set
//! ```
//!
//! [`run`] plays a batch of visitors against it: each signs up (the API answers as soon as the
//! user is in PostgreSQL, the profile in Redis and the event with the broker) and then views a
//! few products. Every consumer runs at the same time, as separate services would. The report
//! has, per request, the API's answer and its time (*accepted*) and the time until the user's
//! first recommendations were in Redis (*done*) — the point of a broker: the client waits for
//! the first, never for the second. Bad requests get a 400 or a 409 and leave nothing behind.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cache::RedisCache;
use crate::data::World;
use crate::error::{Error, Result};
use crate::frame_row;
use crate::latency::{Latency, summarize};
use crate::mongo::{Mongo, doc, schema};
use crate::queue::consumer::{DeadLettered, Handler, Outcome, Received, consume};
use crate::queue::message::{AnalyticsEvent, Message, UserData};
use crate::queue::pipeline::{self, RETRY, StageCount, limits};
use crate::queue::Broker;
use crate::sql::{Db, analytics::ProductPick, users};

/// How long the API keeps a profile in Redis, and the recommendation consumer its picks.
pub const CACHE_TTL: Duration = Duration::from_secs(3600);

/// Recommendations computed for each new user.
pub const FIRST_RECOMMENDATIONS: usize = 5;

/// A sign-up as the web form sends it (`POST /api/users`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignupForm {
    /// Login name.
    pub username: String,
    /// E-mail address as typed.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The address picked in the form, if any (a row of `addresses`).
    pub address_id: Option<i64>,
}

/// Someone who signs up and then looks at a few products.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Visitor {
    /// The sign-up.
    pub form: SignupForm,
    /// Products viewed after signing up (`POST /api/events`, one `product_view` each).
    pub views: Vec<i64>,
}

/// `n` visitors made from the world's users (cycling), `tag` in every username and address so
/// runs never collide; each views the products of their first three product events. Every
/// 10th uses a throw-away e-mail domain (the alerts consumer flags them).
pub fn visitors(world: &World, n: usize, tag: &str) -> Vec<Visitor> {
    let signups = pipeline::signups(world, n, tag);
    let mut views: HashMap<i64, Vec<i64>> = HashMap::new();
    for e in &world.events {
        if let Some(p) = e.product_id {
            let seen = views.entry(e.user_id).or_default();
            if seen.len() < 3 {
                seen.push(p);
            }
        }
    }
    world
        .users
        .iter()
        .cycle()
        .zip(signups)
        .map(|(u, s)| Visitor {
            form: SignupForm { username: s.username, email: s.email, first_name: u.first_name.clone(), last_name: u.last_name.clone(), address_id: Some(u.address_id) },
            views: views.get(&u.id).cloned().unwrap_or_default(),
        })
        .collect()
}

/// Three requests the API must refuse: an invalid e-mail address, an empty username, and a
/// second sign-up with `taken`'s username and e-mail (a conflict PostgreSQL's unique
/// constraints catch).
pub fn bad_visitors(taken: &SignupForm) -> Vec<Visitor> {
    let form = |username: &str, email: &str| SignupForm { username: username.into(), email: email.into(), first_name: "Mallory".into(), last_name: "Test".into(), address_id: None };
    vec![
        Visitor { form: form(&format!("{}_x", taken.username), "mallory-at-example.com"), views: vec![1] },
        Visitor { form: form("   ", "blank@example.com"), views: vec![] },
        Visitor { form: SignupForm { first_name: "Again".into(), ..taken.clone() }, views: vec![2] },
    ]
}

/// The API's answer to one sign-up, and when its background work was done.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Response {
    /// The username as sent.
    pub username: String,
    /// `201 Created`, `400 Bad Request: …`, `409 Conflict: …` or `503 …`.
    pub status: String,
    /// The new user's id (201 only).
    pub user_id: Option<i64>,
    /// From receiving the request to answering it, ms.
    pub accepted_ms: f64,
    /// From receiving the request until the user's first recommendations were in Redis, ms
    /// (201 only).
    pub done_ms: Option<f64>,
}
frame_row!(Response { username, status, user_id, accepted_ms, done_ms });

/// Events of one type, as the dashboard counted them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventCount {
    /// `user_signup`, `product_view`.
    pub event_type: String,
    /// How many.
    pub events: i64,
}
frame_row!(EventCount { event_type, events });

/// A product on the dashboard's trending list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Trending {
    /// Product id.
    pub product_id: i64,
    /// Views counted.
    pub views: i64,
}
frame_row!(Trending { product_id, views });

/// The live dashboard, read back from Redis: a hash of counts per event type, a HyperLogLog
/// of users (`PFCOUNT`: unique users in 12 KB, whatever their number), a sorted set of views
/// per product.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Dashboard {
    /// Counts per event type.
    pub events: Vec<EventCount>,
    /// Distinct users seen.
    pub unique_users: i64,
    /// The most viewed products, most first.
    pub trending: Vec<Trending>,
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct ArchitectureReport {
    /// One row per request, in order.
    pub responses: Vec<Response>,
    /// Messages and events published by the API (sign-ups and product views).
    pub published: usize,
    /// Counts per consumer.
    pub stages: Vec<StageCount>,
    /// Dead-lettered messages, with reasons.
    pub dead: Vec<DeadLettered>,
    /// Users written to the SQL database.
    pub users_in_sql: usize,
    /// Which SQL database that was (`PostgreSQL` or `SQLite`), for the sentences and the figure.
    pub sql_backend: &'static str,
    /// Profiles the API cached in Redis.
    pub profiles_cached: usize,
    /// Profiles the consumer stored in MongoDB that carry their recommendations.
    pub profiles_with_recommendations: usize,
    /// Users whose recommendations are in Redis.
    pub recommendations_cached: usize,
    /// Analytics documents stored in MongoDB.
    pub analytics_stored: usize,
    /// The live counters.
    pub dashboard: Dashboard,
    /// Alerts raised.
    pub alerts: Vec<String>,
    /// Accepted times of the 201s, µs.
    pub accepted: Latency,
    /// Done times of the 201s, µs.
    pub done: Latency,
    /// What a client fetching the first new user now gets from the cache: the profile the API
    /// cached and the recommendations the consumer cached, as JSON.
    pub first_user: Option<String>,
}

/// A latency summary in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimingRow {
    /// What was timed.
    pub case: String,
    /// Requests.
    pub samples: i64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}
frame_row!(TimingRow { case, samples, p50_ms, p95_ms, p99_ms, max_ms });

impl ArchitectureReport {
    /// Accepted and done side by side, in ms.
    pub fn timing(&self) -> Vec<TimingRow> {
        let ms = |l: &Latency| TimingRow { case: l.case.clone(), samples: l.samples, p50_ms: l.p50_us / 1e3, p95_ms: l.p95_us / 1e3, p99_ms: l.p99_us / 1e3, max_ms: l.max_us / 1e3 };
        vec![ms(&self.accepted), ms(&self.done)]
    }
}

/// The profile the API caches (`profile:<id>`), so a page can show the user without a query.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CachedProfile {
    /// Id in PostgreSQL.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// E-mail address, checked and lower-cased.
    pub email: String,
    /// First and last name.
    pub name: String,
}

/// `POST /api/users`: validate, insert into PostgreSQL, cache the profile in Redis (a cache
/// that is down costs the cache, not the request), publish `user.signup` — and answer. Returns
/// the status line and, for a 201, the new id.
pub async fn register(db: &Db, cache: &RedisCache, broker: &Broker, form: &SignupForm) -> Result<(String, Option<i64>)> {
    let registered_at = chrono::Utc::now().naive_utc();
    let user = match users::NewUser::parse(&form.username, &form.email, &form.first_name, &form.last_name, registered_at) {
        Ok(u) => u,
        Err(e) => return Ok((format!("400 Bad Request: {e}"), None)),
    };
    let user = match form.address_id {
        Some(a) => user.at_address(a),
        None => user,
    };
    let id = match users::create(db, &user).await {
        Ok(id) => id,
        Err(e @ Error::Constraint { .. }) => return Ok((format!("409 Conflict: {e}"), None)),
        Err(e) => return Ok((format!("503 Service Unavailable: {e}"), None)),
    };
    let profile = CachedProfile { user_id: id, username: user.username().into(), email: user.email().into(), name: format!("{} {}", form.first_name.trim(), form.last_name.trim()) };
    let _ = cache.set(&format!("profile:{id}"), &profile, CACHE_TTL).await;
    let t = broker.topology();
    let signup = Message::UserData(UserData { username: user.username().into(), email: user.email().into(), registration_date: chrono::Utc::now().to_rfc3339(), country: None });
    broker.publish(&t.data_processing(), "user.signup", &signup).await?;
    Ok(("201 Created".into(), Some(id)))
}

/// The sign-up consumer: find the user in PostgreSQL by e-mail and enrich the profile with
/// their city and country, store it in MongoDB (idempotent), then announce it — the welcome
/// e-mail, the `user_signup` event — and queue the recommendation task.
struct EnrichAndStore<'a> {
    db: &'a Db,
    broker: &'a Broker,
    mongo: &'a Mongo,
    stored: Vec<String>,
}

impl Handler for &mut EnrichAndStore<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::UserData(u) = &r.message else {
            return Outcome::Reject(format!("user_data queue got a {} message", r.message.type_name()));
        };
        let email = u.email.trim().to_lowercase();
        let found = match users::by_email(self.db, &email).await {
            Ok(Some(row)) => row,
            Ok(None) => return Outcome::Reject(format!("no registered user has the e-mail address {email:?}")),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let place = match users::with_address(self.db, found.id).await {
            Ok(p) => p,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let (city, country) = place.map(|p| (p.city, p.country)).unwrap_or_default();
        let enriched = UserData { country: country.or_else(|| Some("unknown".into())), ..u.clone() };
        let outcome = pipeline::store_signup(self.mongo, &enriched, found.id, city.as_deref()).await;
        if outcome != Outcome::Ack {
            return outcome;
        }
        if let Err(retry) = pipeline::announce(self.broker, &enriched, found.id).await {
            return retry;
        }
        let t = self.broker.topology();
        let task = Message::Analytics(AnalyticsEvent { event_type: "recommendations_requested".into(), user_id: found.id, properties: serde_json::json!({ "country": enriched.country }) });
        if let Err(e) = self.broker.publish(&t.data_processing(), "task.recommendations", &task).await {
            return Outcome::Retry(format!("stored, but queueing the recommendations failed: {e}"));
        }
        self.stored.push(u.username.trim().to_string());
        Outcome::Ack
    }
}

/// The recommendation consumer: the products most bought in the user's country (one SQL
/// statement), cached in Redis for the next request and written into the MongoDB profile.
struct Recommend<'a> {
    db: &'a Db,
    mongo: &'a Mongo,
    cache: &'a RedisCache,
    done: HashMap<i64, Instant>,
}

impl Handler for &mut Recommend<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::Analytics(task) = &r.message else {
            return Outcome::Reject(format!("recommendations queue got a {} message", r.message.type_name()));
        };
        let picks = match crate::sql::analytics::popular_in_users_country(self.db, task.user_id, FIRST_RECOMMENDATIONS).await {
            Ok(p) => p,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if let Err(e) = self.cache.set(&format!("recs:{}", task.user_id), &picks, CACHE_TTL).await {
            return Outcome::Retry(e.to_string());
        }
        let ids: Vec<i64> = picks.iter().map(|p| p.product_id).collect();
        let profiles = self.mongo.collection::<bson::Document>(schema::USERS);
        if let Err(e) = profiles.update_one(doc! { "user_id": task.user_id }, doc! { "$set": { "recommendations": ids } }).await {
            return Outcome::Retry(self.mongo.error(e).to_string());
        }
        self.done.entry(task.user_id).or_insert_with(Instant::now);
        Outcome::Ack
    }
}

/// The dashboard's three keys. One hash tag, `{dash}`: on a Redis Cluster they share a slot, so
/// the consumer's pipeline (and the read-back) stays one round trip to one node.
const DASH_KEYS: [&str; 3] = ["{dash}:events", "{dash}:users", "{dash}:trending"];

/// The dashboard consumer: one pipelined round trip per event — `HINCRBY` the event type,
/// `PFADD` the user, `ZINCRBY` the product.
struct LiveDashboard<'a> {
    cache: &'a RedisCache,
}

impl Handler for LiveDashboard<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::Analytics(e) = &r.message else { return Outcome::Reject("not an analytics event".into()) };
        let mut pipe = redis::pipe();
        let [events, users, trending] = DASH_KEYS.map(|k| self.cache.key(k));
        pipe.hincr(&events, &e.event_type, 1).ignore();
        pipe.pfadd(&users, e.user_id).ignore();
        if let Some(p) = e.properties.get("product_id").and_then(|p| p.as_i64()) {
            pipe.zincr(&trending, p, 1).ignore();
        }
        // In the same round trip: the counters go by themselves if the run's clean-up never
        // comes (an interrupted cell), like the run's queues (`queue::LESSON_EXPIRY`).
        for key in [&events, &users, &trending] {
            pipe.expire(key, crate::queue::LESSON_EXPIRY.as_secs() as i64).ignore();
        }
        match self.cache.query_pipe::<()>(&events, &pipe).await {
            Ok(()) => Outcome::Ack,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

/// Reads the dashboard's counters back from Redis (the top `k` products).
pub async fn read_dashboard(cache: &RedisCache, k: usize) -> Result<Dashboard> {
    let mut pipe = redis::pipe();
    let [events, users, trending] = DASH_KEYS.map(|k| cache.key(k));
    pipe.hgetall(&events).pfcount(&users).zrevrange_withscores(&trending, 0, k as isize - 1);
    let (events, unique_users, trending): (HashMap<String, i64>, i64, Vec<(i64, f64)>) = cache.query_pipe(&events, &pipe).await?;
    let mut events: Vec<EventCount> = events.into_iter().map(|(event_type, events)| EventCount { event_type, events }).collect();
    events.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.event_type.cmp(&b.event_type)));
    let trending = trending.into_iter().map(|(product_id, views)| Trending { product_id, views: views as i64 }).collect();
    Ok(Dashboard { events, unique_users, trending })
}

/// The requests that can pass the API's checks, first of each username and e-mail: how many
/// sign-ups the consumers should expect (a request refused later still ends them by idling).
fn expected(visitors: &[Visitor]) -> Vec<&Visitor> {
    let (mut names, mut emails) = (HashSet::new(), HashSet::new());
    let now = chrono::Utc::now().naive_utc();
    visitors
        .iter()
        .filter(|v| {
            let f = &v.form;
            match users::NewUser::parse(&f.username, &f.email, &f.first_name, &f.last_name, now) {
                Ok(u) => names.insert(u.username().to_string()) & emails.insert(u.email().to_string()),
                Err(_) => false,
            }
        })
        .collect()
}

/// Plays `visitors` against the architecture (see the module docs) on the given services;
/// `broker`'s topology must be declared. Everything it wrote — users in PostgreSQL, profiles
/// and events in MongoDB, keys under `cache`'s namespace — is deleted again unless `keep`.
pub async fn run(db: &Db, mongo: &Mongo, cache: &RedisCache, broker: &Broker, visitors: &[Visitor], cleanup: crate::queue::Cleanup) -> Result<ArchitectureReport> {
    let t = broker.topology().clone();
    t.declare_architecture(broker).await?;
    let valid = expected(visitors);
    let signups = valid.len();
    // The sign-ups are the lesson's own (made-up addresses): users an interrupted earlier run
    // left behind would turn this run's sign-ups into conflicts, so they go first.
    let emails: Vec<&str> = visitors.iter().map(|v| v.form.email.as_str()).collect();
    users::delete_by_emails(db, &emails).await?;
    let events = signups + valid.iter().map(|v| v.views.len()).sum::<usize>();

    // The front door: one client's requests, one after the other.
    let api = async {
        let (mut responses, mut started, mut published) = (Vec::new(), HashMap::new(), 0);
        for v in visitors {
            let t0 = Instant::now();
            let (status, user_id) = register(db, cache, broker, &v.form).await?;
            let accepted_ms = t0.elapsed().as_secs_f64() * 1e3;
            if let Some(id) = user_id {
                started.insert(id, t0);
                published += 1;
                for p in &v.views {
                    broker.publish_analytics_event("product_view", id, serde_json::json!({ "product_id": p, "run": t.prefix() })).await?;
                    published += 1;
                }
            }
            responses.push(Response { username: v.form.username.clone(), status, user_id, accepted_ms, done_ms: None });
        }
        Ok::<_, Error>((responses, started, published))
    };
    let (user_data_q, recommendations_q, dashboard_q) = (t.user_data_queue(), t.recommendations_queue(), t.dashboard_queue());
    let mut stage2 = EnrichAndStore { db, broker, mongo, stored: Vec::new() };
    let enrich = consume(broker, &user_data_q, limits(signups, 5), RETRY, &mut stage2);
    let mut recommender = Recommend { db, mongo, cache, done: HashMap::new() };
    let recommend = consume(broker, &recommendations_q, limits(signups, 10), RETRY, &mut recommender);
    let dashboard = consume(broker, &dashboard_q, limits(events, 10), RETRY, LiveDashboard { cache });
    let (api, enrich, recommend, dashboard, rest) = tokio::join!(api, enrich, recommend, dashboard, pipeline::downstream(broker, mongo, signups, events));
    let ((mut responses, started, published), enrich, recommend, dashboard, rest) = (api?, enrich?, recommend?, dashboard?, rest?);

    for r in &mut responses {
        if let Some(id) = r.user_id {
            r.done_ms = recommender.done.get(&id).zip(started.get(&id)).map(|(done, t0)| done.duration_since(*t0).as_secs_f64() * 1e3);
        }
    }
    let created: Vec<i64> = responses.iter().filter_map(|r| r.user_id).collect();
    let accepted = summarize("API answered (accepted)", responses.iter().filter(|r| r.user_id.is_some()).map(|r| r.accepted_ms * 1e3).collect());
    let done = summarize("recommendations in Redis (done)", responses.iter().filter_map(|r| r.done_ms).map(|ms| ms * 1e3).collect());

    let mut stages = vec![StageCount::from_report("2 · enrich from SQL, store profile in MongoDB", &enrich)];
    stages.extend(pipeline::Downstream::stages(&rest));
    stages.push(StageCount::from_report("4 · live dashboard in Redis", &dashboard));
    stages.push(StageCount::from_report("5 · first recommendations", &recommend));
    let dead = [&enrich, &dashboard, &recommend].into_iter().flat_map(|r| r.dead.iter().cloned()).chain(rest.dead()).collect();

    let users_in_sql = users::count_existing(db, &created).await?;
    let profile_keys: Vec<String> = created.iter().map(|id| format!("profile:{id}")).collect();
    let rec_keys: Vec<String> = created.iter().map(|id| format!("recs:{id}")).collect();
    let profiles: Vec<Option<CachedProfile>> = cache.get_many(&profile_keys.iter().map(String::as_str).collect::<Vec<_>>()).await?;
    let recs: Vec<Option<Vec<ProductPick>>> = cache.get_many(&rec_keys.iter().map(String::as_str).collect::<Vec<_>>()).await?;
    let first_user = match (profiles.first(), recs.first()) {
        (Some(Some(p)), Some(r)) => Some(serde_json::to_string_pretty(&serde_json::json!({ "user": p, "recommendations": r })).unwrap_or_default()),
        _ => None,
    };
    let with_recs = mongo
        .collection::<bson::Document>(schema::USERS)
        .count_documents(doc! { "user_id": { "$in": &created }, "recommendations.0": { "$exists": true } })
        .await
        .map_err(|e| mongo.error(e))? as usize;
    let report = ArchitectureReport {
        published,
        stages,
        dead,
        users_in_sql,
        sql_backend: db.backend().name(),
        profiles_cached: profiles.iter().flatten().count(),
        profiles_with_recommendations: with_recs,
        recommendations_cached: recs.iter().flatten().count(),
        analytics_stored: pipeline::analytics_stored(mongo, t.prefix()).await?,
        dashboard: read_dashboard(cache, 5).await?,
        alerts: rest.alerts.clone(),
        accepted,
        done,
        first_user,
        responses,
    };
    if cleanup == crate::queue::Cleanup::Remove {
        pipeline::forget(mongo, t.prefix(), &stage2.stored).await?;
        users::delete_all(db, &created).await?;
        cache.invalidate("*").await?;
    }
    Ok(report)
}

/// [`run`] with its own connections — PostgreSQL or SQLite at `DATABASE_URL` (seeded with the
/// small world if empty), MongoDB, a Redis namespace of its own, RabbitMQ with `topology` —
/// cleaned up afterwards: the shape of one notebook cell.
pub async fn run_with_services(settings: &crate::config::Settings, topology: crate::queue::Topology, visitors: &[Visitor]) -> Result<ArchitectureReport> {
    let db = crate::sql::open_seeded(settings, &crate::data::WorldConfig::small()).await?;
    let mongo = Mongo::open(settings).await?;
    let cache = RedisCache::new(&settings.redis_url, &crate::cache::run_namespace("arch"))?;
    let broker = match Broker::connect(&settings.amqp_addr, topology).await {
        Ok(b) => b,
        Err(e) => {
            mongo.close().await;
            db.close().await;
            return Err(e);
        }
    };
    let out = run(&db, &mongo, &cache, &broker, visitors, crate::queue::Cleanup::Remove).await;
    broker.close().await;
    mongo.close().await;
    db.close().await;
    out
}

impl crate::queue::SyncBroker {
    /// The original's whole architecture with this broker's topology and the other three
    /// services at their URLs (see [`crate::architecture`]): `visitors` sign up through the
    /// API and view products while every consumer runs. Everything it wrote is deleted again.
    /// (Defined here, not in `queue`: the architecture composes the modules, never the reverse.)
    pub fn architecture(&self, visitors: &[Visitor]) -> Result<ArchitectureReport> {
        let (settings, topology) = self.parts();
        crate::runtime::run(run_with_services(settings, topology.clone(), visitors))
    }
}

/// [`run_with_services`] must be `Send` for [`crate::run`]; this only has to compile.
#[allow(dead_code)]
fn run_with_services_is_send(s: &crate::config::Settings, t: crate::queue::Topology) {
    fn send<T: Send>(_: T) {}
    send(run_with_services(s, t, &[]));
}

/// The architecture as a figure, every arrow labelled with what took it in `r`'s run.
pub fn diagram(r: &ArchitectureReport) -> crate::display::charts::Diagram {
    let created = r.responses.iter().filter(|x| x.user_id.is_some()).count();
    let processed = |stage: &str| r.stages.iter().find(|s| s.stage.contains(stage)).map_or(0, |s| s.processed);
    let (app, sql, redis, mq, mongo) = (0, 1, 5, 2, 3);
    crate::display::charts::Diagram::new(format!("The architecture, as this run used it: {} requests, {created} users created", r.responses.len()), 5.9, 4.8)
        .node("client", "Client\nPOST /api/users,\n/api/events", (0.0, 2.0), app)
        .node("api", format!("API\n{created} × 201,\n{} refused", r.responses.len() - created), (1.0, 2.0), app)
        .node("pg", format!("{}\nusers, orders", r.sql_backend), (1.0, 0.0), sql)
        .node("redis", "Redis\nprofiles, recommendations,\ndashboard counters", (2.2, 3.9), redis)
        .node("dp", "data_processing\ndirect exchange", (2.2, 1.2), mq)
        .node("fanout", "analytics\nfanout exchange", (2.2, 2.9), mq)
        .node("signup", "sign-up consumer\nenrich from SQL,\nstore the profile", (3.4, 0.0), app)
        .node("recs", "recommender\npopular in the\nuser's country", (3.4, 2.9), app)
        .node("store", "3 consumers\nstore, metrics,\nalerts", (3.4, 1.6), app)
        .node("dash", "dashboard\nHINCRBY, PFADD,\nZINCRBY", (3.4, 3.9), app)
        .node("notify", "notifications\ne-mail, audit", (4.8, 0.0), mq)
        .node("mongo", "MongoDB\nprofiles, events", (4.8, 1.6), mongo)
        .edge("client", "api", format!("{}", r.responses.len()))
        .edge("api", "pg", format!("INSERT {created}"))
        .edge("api", "redis", format!("SET {}", r.profiles_cached))
        .edge("api", "dp", format!("user.signup {created}"))
        .edge("api", "fanout", format!("product_view {}", r.published.saturating_sub(created)))
        .edge("dp", "signup", format!("{}", processed("enrich")))
        .edge("dp", "recs", format!("task {}", processed("recommendations")))
        .edge("signup", "notify", format!("welcome {}", processed("e-mail")))
        .edge("signup", "mongo", format!("{}", processed("enrich")))
        .edge_at("signup", "fanout", "user_signup", 0.25)
        .edge("fanout", "store", format!("{}", processed("analytics event")))
        .edge_at("fanout", "dash", format!("{}", processed("dashboard")), 0.8)
        .edge("store", "mongo", format!("{}", r.analytics_stored))
        .edge("recs", "mongo", format!("{}", r.profiles_with_recommendations))
        .edge("recs", "redis", format!("SET {}", r.recommendations_cached))
        .edge("dash", "redis", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, processed: i64) -> StageCount {
        StageCount { stage: name.into(), queue: "q".into(), received: processed, processed, retried: 0, dead_lettered: 0, ms: 1.0, p99_ms: 1.0 }
    }

    #[test]
    fn the_diagram_labels_every_arrow_with_the_runs_counts() {
        let response = |id: Option<i64>| Response { username: "u".into(), status: "s".into(), user_id: id, accepted_ms: 1.0, done_ms: id.map(|_| 9.0) };
        let r = ArchitectureReport {
            responses: vec![response(Some(1)), response(Some(2)), response(None)],
            published: 7,
            stages: vec![stage("2 · enrich from SQL", 2), stage("3 · send welcome e-mail", 2), stage("4 · store analytics event", 7), stage("4 · live dashboard", 7), stage("5 · first recommendations", 2)],
            dead: vec![],
            users_in_sql: 2,
            sql_backend: "SQLite",
            profiles_cached: 2,
            profiles_with_recommendations: 2,
            recommendations_cached: 2,
            analytics_stored: 7,
            dashboard: Dashboard::default(),
            alerts: vec![],
            accepted: summarize("a", vec![1.0]),
            done: summarize("d", vec![9.0]),
            first_user: None,
        };
        let d = diagram(&r);
        let label = |from: &str, to: &str| d.edges.iter().find(|e| e.0 == from && e.1 == to).map(|e| e.2.clone()).unwrap();
        assert_eq!(label("api", "fanout"), "product_view 5", "published minus the sign-ups");
        assert_eq!(label("api", "pg"), "INSERT 2");
        assert_eq!(label("fanout", "store"), "7");
        assert_eq!(label("dp", "recs"), "task 2");
        assert!(d.nodes.iter().any(|n| n.1.contains("2 × 201,\n1 refused")));
        let dir = std::env::temp_dir().join(format!("helpers-arch-{}", std::process::id()));
        let fig = crate::display::Figure::render_into(&dir, "architecture", (1400, 800), &d).unwrap();
        assert!(fig.svg.contains("product_view 5") && fig.svg.contains("MongoDB"));
    }
}
