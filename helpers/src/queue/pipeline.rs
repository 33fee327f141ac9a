//! The signup pipeline of the original architecture, end to end on real services:
//!
//! ```text
//! sign-up form ──user.signup──▶ data_processing ─▶ user_data ─▶ validate, enrich, store in MongoDB
//!                                                                 │
//!                 ┌── notification.email.welcome ◀────────────────┤
//!                 ▼                                               ▼
//!   notifications ─▶ notifications.email (send)      analytics (fanout) ─▶ analytics.store   (MongoDB)
//!                 └▶ notifications.audit (log)                          ├▶ analytics.metrics (counts)
//!                                                                       └▶ analytics.alerts  (disposable domains)
//! anything unusable ─▶ dlx ─▶ dead_letters (with the reason)
//! ```
//!
//! [`run_signups`] publishes the sign-ups (and, on request, three bad messages) while every
//! stage's consumer runs at the same time, as separate services would, each until its queue is
//! drained (bounded), and returns the counts per stage and the dead letters. The accounting
//! holds: every published message is either stored or dead-lettered — also when the connection
//! drops in the middle (each consumer reconnects; redeliveries are recognised by message id).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::consumer::{ConsumeLimits, ConsumeReport, DeadLettered, Handler, Outcome, Received, RetryPolicy, consume};
use super::message::{self, AnalyticsEvent, Message, Notification, UserData};
use super::Broker;
use crate::data::World;
use crate::error::{Error, Result};
use crate::frame_row;
use crate::mongo::docs::UserProfile;
use crate::mongo::{Mongo, doc, schema, users};

/// Domains the alerts consumer flags (throw-away inboxes).
pub const DISPOSABLE_DOMAINS: [&str; 3] = ["mailinator.com", "trashmail.com", "10minutemail.com"];

/// One stage's counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageCount {
    /// The stage, in words.
    pub stage: String,
    /// The queue it consumes.
    pub queue: String,
    /// Deliveries received.
    pub received: i64,
    /// Processed and acknowledged.
    pub processed: i64,
    /// Sent back for a later attempt.
    pub retried: i64,
    /// Sent to the dead-letter queue.
    pub dead_lettered: i64,
    /// Wall time of the stage, ms.
    pub ms: f64,
    /// 99th percentile of the time from publishing a message to this stage receiving it, ms.
    pub p99_ms: f64,
}
frame_row!(StageCount { stage, queue, received, processed, retried, dead_lettered, ms, p99_ms });

impl StageCount {
    fn from_report(stage: &str, r: &ConsumeReport) -> StageCount {
        StageCount {
            stage: stage.into(),
            queue: r.queue.clone(),
            received: r.deliveries as i64,
            processed: r.acked as i64,
            retried: r.retried as i64,
            dead_lettered: r.dead_lettered as i64,
            ms: r.seconds * 1e3,
            p99_ms: crate::latency::summarize(stage, r.latencies_us.clone()).p99_us / 1e3,
        }
    }
}

/// What a pipeline run did.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineReport {
    /// Messages published into the pipeline (sign-ups plus bad input).
    pub published: usize,
    /// Profiles stored in MongoDB.
    pub stored: usize,
    /// Counts per stage, in order.
    pub stages: Vec<StageCount>,
    /// Everything dead-lettered, with reasons.
    pub dead: Vec<DeadLettered>,
    /// Sign-ups per e-mail domain (the metrics consumer's view).
    pub domains: BTreeMap<String, i64>,
    /// Alerts raised (sign-ups from disposable domains).
    pub alerts: Vec<String>,
    /// Analytics documents stored in MongoDB.
    pub analytics_stored: usize,
}

/// Sign-ups from one e-mail domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DomainCount {
    /// The domain.
    pub domain: String,
    /// Sign-ups.
    pub signups: i64,
}
frame_row!(DomainCount { domain, signups });

impl PipelineReport {
    /// The metrics consumer's counts, most sign-ups first.
    pub fn domain_counts(&self) -> Vec<DomainCount> {
        let mut rows: Vec<DomainCount> = self.domains.iter().map(|(d, n)| DomainCount { domain: d.clone(), signups: *n }).collect();
        rows.sort_by(|a, b| b.signups.cmp(&a.signups).then_with(|| a.domain.cmp(&b.domain)));
        rows
    }
}

/// `n` sign-ups made from the world's users, with `tag` in each username and address so runs
/// do not collide. Every 10th uses a disposable domain (the alerts consumer flags them).
pub fn signups(world: &World, n: usize, tag: &str) -> Vec<UserData> {
    world
        .users
        .iter()
        .cycle()
        .take(n)
        .enumerate()
        .map(|(i, u)| {
            let domain = if i % 10 == 9 { DISPOSABLE_DOMAINS[i % 3] } else { u.email.rsplit_once('@').map_or("example.com", |(_, d)| d) };
            let short: String = u.username.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
            UserData {
                username: format!("{short}_{tag}{i}"),
                email: format!("{short}.{tag}{i}@{domain}"),
                registration_date: chrono::Utc::now().to_rfc3339(),
                country: Some(world.country_of(u).to_string()),
            }
        })
        .collect()
}

/// The three bad messages of the lesson: malformed JSON, an unknown type, an invalid e-mail.
pub fn bad_messages() -> Vec<(&'static str, Vec<u8>, lapin::BasicProperties)> {
    let bad_email = Message::UserData(UserData { username: "mallory".into(), email: "mallory-at-example.com".into(), registration_date: "2026-01-01T00:00:00Z".into(), country: None });
    vec![
        ("malformed JSON", br#"{"type": "user_data", "username": "eve""#.to_vec(), message::properties("user_data", 1, None)),
        ("unknown type", br#"{"type": "refund_request", "order_id": 42}"#.to_vec(), message::properties("refund_request", 1, None)),
        ("invalid e-mail", bad_email.to_json(), message::properties("user_data", 1, None)),
    ]
}

/// Stage 2's work for one sign-up: validate, enrich, store; idempotent, so a retry after a
/// partial success does not fail on its own earlier write.
async fn store_signup(mongo: &Mongo, u: &UserData, user_id: i64) -> Outcome {
    let username = match crate::validate::username(&u.username) {
        Ok(n) => n,
        Err(e) => return Outcome::Reject(e.to_string()),
    };
    let email = match crate::validate::email(&u.email) {
        Ok(e) => e,
        Err(e) => return Outcome::Reject(e.to_string()),
    };
    let mut profile = UserProfile::new(user_id, &username, &email, &[]);
    profile.country = u.country.clone().unwrap_or_else(|| "unknown".into());
    profile.subscriptions = vec!["welcome-series".into()];
    match users::insert_user(mongo, &profile).await {
        Ok(()) => Outcome::Ack,
        Err(Error::Constraint { .. }) if matches!(users::by_username(mongo, &username).await, Ok(Some(p)) if p.email == email) => Outcome::Ack,
        Err(e @ Error::Constraint { .. }) => Outcome::Reject(e.to_string()),
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Stage 2's handler: store the profile, then publish the welcome e-mail and the analytics
/// event. A failure to publish after storing asks for a retry, which the idempotent store
/// turns into "already stored".
struct StoreAndAnnounce<'a> {
    broker: &'a Broker,
    mongo: &'a Mongo,
    next_id: i64,
    stored_names: Vec<String>,
}

impl Handler for &mut StoreAndAnnounce<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::UserData(u) = &r.message else {
            return Outcome::Reject(format!("user_data queue got a {} message", r.message.type_name()));
        };
        self.next_id += 1;
        let user_id = self.next_id;
        let outcome = store_signup(self.mongo, u, user_id).await;
        if outcome != Outcome::Ack {
            return outcome;
        }
        let t = self.broker.topology();
        let email = u.email.trim().to_lowercase();
        let welcome = Message::Notification(Notification {
            recipient: email.clone(),
            subject: format!("Welcome, {}!", u.username),
            content: "Thanks for signing up.".into(),
            channel: "email".into(),
        });
        let domain = email.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
        let event = Message::Analytics(AnalyticsEvent {
            event_type: "user_signup".into(),
            user_id,
            properties: serde_json::json!({ "domain": domain, "country": u.country, "run": t.prefix() }),
        });
        if let Err(e) = self.broker.publish(&t.notifications(), "notification.email.welcome", &welcome).await {
            return Outcome::Retry(format!("stored, but publishing the welcome e-mail failed: {e}"));
        }
        if let Err(e) = self.broker.publish(&t.analytics(), "", &event).await {
            return Outcome::Retry(format!("stored, but publishing the analytics event failed: {e}"));
        }
        self.stored_names.push(u.username.trim().to_string());
        Outcome::Ack
    }
}

/// Stage 4's storing consumer: the event into MongoDB's `analytics`, tagged with the run.
struct StoreEvent<'a> {
    mongo: &'a Mongo,
    run: String,
}

impl Handler for StoreEvent<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::Analytics(e) = &r.message else { return Outcome::Reject("not an analytics event".into()) };
        let data = match mongodb::bson::to_document(e) {
            Ok(d) => d,
            Err(err) => return Outcome::Reject(format!("cannot store the event: {err}")),
        };
        let record = doc! { "kind": "signup_event", "computed_at": mongodb::bson::DateTime::now(), "data": data, "run": &self.run };
        match self.mongo.collection::<mongodb::bson::Document>(schema::ANALYTICS).insert_one(record).await {
            Ok(_) => Outcome::Ack,
            Err(err) => Outcome::Retry(crate::mongo::map_error(self.mongo.url(), err).to_string()),
        }
    }
}

/// Runs the pipeline for `signups` (plus [`bad_messages`] when `with_bad_input`): see the
/// module docs. Profiles and analytics documents it stored are deleted again unless `keep`.
pub async fn run_signups(broker: &Broker, mongo: &Mongo, signups: &[UserData], with_bad_input: bool, keep: bool) -> Result<PipelineReport> {
    let t = broker.topology().clone();
    // Every stage runs at the same time as the others, as separate services would: each
    // consumer stops at its count, or when its queue has been quiet for `idle` (downstream
    // stages wait for upstream ones, so they get longer), or at the deadline.
    let limits = |n: usize, idle: u64| ConsumeLimits { max_messages: n, idle: Duration::from_secs(idle), total: Duration::from_secs(180), prefetch: 50 };
    let retry = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(200) };
    let bad = if with_bad_input { bad_messages() } else { Vec::new() };
    let (good, all) = (signups.len(), signups.len() + bad.len());

    // Stage 1: the sign-up form publishes.
    let publishing = async {
        for u in signups {
            broker.publish(&t.data_processing(), "user.signup", &Message::UserData(u.clone())).await?;
        }
        for (_, body, props) in bad {
            broker.publish_raw(&t.data_processing(), "user.signup", &body, props).await?;
        }
        Ok::<usize, Error>(all)
    };

    // Stage 2: validate, enrich, store, then tell the others.
    let (user_data_q, email_q, audit_q) = (t.user_data_queue(), t.email_queue(), t.audit_queue());
    let mut stage2_handler = StoreAndAnnounce { broker, mongo, next_id: 9_000_000, stored_names: Vec::new() };
    let stage2 = consume(broker, &user_data_q, limits(all, 5), retry, &mut stage2_handler);

    // Stage 3: notifications. The e-mail queue "sends"; the audit queue sees every notification.
    let email = consume(broker, &email_q, limits(good, 10), retry, |r: &Received| match &r.message {
        Message::Notification(n) if crate::validate::email(&n.recipient).is_ok() => Outcome::Ack,
        Message::Notification(n) => Outcome::Reject(format!("cannot send to {:?}", n.recipient)),
        other => Outcome::Reject(format!("notification queue got a {} message", other.type_name())),
    });
    let audit = consume(broker, &audit_q, limits(good, 10), retry, |_: &Received| Outcome::Ack);

    // Stage 4: the analytics fan-out — three consumers, each its own copy.
    let [store_q, metrics_q, alerts_q] = t.analytics_queues();
    let analytics = mongo.collection::<mongodb::bson::Document>(schema::ANALYTICS);
    let store = consume(broker, &store_q, limits(good, 10), retry, StoreEvent { mongo, run: t.prefix().to_string() });
    let mut domains = BTreeMap::new();
    let metrics = consume(broker, &metrics_q, limits(good, 10), retry, |r: &Received| {
        if let Message::Analytics(e) = &r.message {
            let d = e.properties.get("domain").and_then(|d| d.as_str()).unwrap_or("unknown").to_string();
            *domains.entry(d).or_insert(0) += 1;
        }
        Outcome::Ack
    });
    let mut alerts = Vec::new();
    let alerting = consume(broker, &alerts_q, limits(good, 10), retry, |r: &Received| {
        if let Message::Analytics(e) = &r.message {
            let d = e.properties.get("domain").and_then(|d| d.as_str()).unwrap_or("");
            if DISPOSABLE_DOMAINS.contains(&d) {
                alerts.push(format!("user {} signed up with a disposable address ({d})", e.user_id));
            }
        }
        Outcome::Ack
    });

    let (published, stage2, email, audit, store, metrics, alerting) = tokio::join!(publishing, stage2, email, audit, store, metrics, alerting);
    let (published, stage2, email, audit, store, metrics, alerting) = (published?, stage2?, email?, audit?, store?, metrics?, alerting?);
    let stored_names = stage2_handler.stored_names;
    let stored = stage2.acked;

    let stages = vec![
        StageCount::from_report("2 · validate, enrich, store profile", &stage2),
        StageCount::from_report("3 · send welcome e-mail", &email),
        StageCount::from_report("3 · audit log of notifications", &audit),
        StageCount::from_report("4 · store analytics event", &store),
        StageCount::from_report("4 · update metrics", &metrics),
        StageCount::from_report("4 · raise alerts", &alerting),
    ];
    let dead = [&stage2, &email, &audit, &store, &metrics, &alerting].iter().flat_map(|r| r.dead.clone()).collect();
    let analytics_stored = analytics.count_documents(doc! { "kind": "signup_event", "run": t.prefix() }).await.map_err(|e| crate::mongo::map_error(mongo.url(), e))? as usize;
    if !keep {
        let profiles = mongo.collection::<mongodb::bson::Document>(schema::USERS);
        profiles.delete_many(doc! { "username": { "$in": &stored_names } }).await.map_err(|e| crate::mongo::map_error(mongo.url(), e))?;
        analytics.delete_many(doc! { "run": t.prefix() }).await.map_err(|e| crate::mongo::map_error(mongo.url(), e))?;
    }
    Ok(PipelineReport { published, stored, stages, dead, domains, alerts, analytics_stored })
}

/// [`run_signups`] with its own connections: MongoDB at `MONGODB_URI` (schema declared) and
/// RabbitMQ at `AMQP_ADDR` with `topology` — the shape of one notebook cell.
pub async fn run_with_services(settings: &crate::config::Settings, topology: super::Topology, signups: &[UserData], with_bad_input: bool, keep: bool) -> Result<PipelineReport> {
    let mongo = Mongo::open(settings).await?;
    let broker = match Broker::connect(&settings.amqp_addr, topology).await {
        Ok(b) => b,
        Err(e) => {
            mongo.close().await;
            return Err(e);
        }
    };
    let out = run_signups(&broker, &mongo, signups, with_bad_input, keep).await;
    mongo.close().await;
    broker.close().await;
    out
}
