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
use super::{Broker, Cleanup};
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
    pub(crate) fn from_report(stage: &str, r: &ConsumeReport) -> StageCount {
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
pub(crate) async fn store_signup(mongo: &Mongo, u: &UserData, user_id: i64, city: Option<&str>) -> Outcome {
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
    if let Some(city) = city {
        profile.city = city.to_string();
    }
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
        let outcome = store_signup(self.mongo, u, user_id, None).await;
        if outcome != Outcome::Ack {
            return outcome;
        }
        if let Err(retry) = announce(self.broker, u, user_id).await {
            return retry;
        }
        self.stored_names.push(u.username.trim().to_string());
        Outcome::Ack
    }
}

/// After a profile is stored: the welcome e-mail on the topic exchange, then the `user_signup`
/// event on the analytics fan-out. A failed publish asks for a retry (the store before it is
/// idempotent).
pub(crate) async fn announce(broker: &Broker, u: &UserData, user_id: i64) -> std::result::Result<(), Outcome> {
    let t = broker.topology();
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
    if let Err(e) = broker.publish(&t.notifications(), "notification.email.welcome", &welcome).await {
        return Err(Outcome::Retry(format!("stored, but publishing the welcome e-mail failed: {e}")));
    }
    if let Err(e) = broker.publish(&t.analytics(), "", &event).await {
        return Err(Outcome::Retry(format!("stored, but publishing the analytics event failed: {e}")));
    }
    Ok(())
}

/// Stage 4's storing consumer: every event into MongoDB's `analytics`, tagged with the run.
struct StoreEvent<'a> {
    mongo: &'a Mongo,
    run: String,
}

impl Handler for StoreEvent<'_> {
    async fn handle(&mut self, r: &Received) -> Outcome {
        let Message::Analytics(e) = &r.message else { return Outcome::Reject("not an analytics event".into()) };
        let data = match bson::to_document(e) {
            Ok(d) => d,
            Err(err) => return Outcome::Reject(format!("cannot store the event: {err}")),
        };
        let record = doc! { "kind": "event", "computed_at": bson::DateTime::now(), "data": data, "run": &self.run };
        match self.mongo.collection::<bson::Document>(schema::ANALYTICS).insert_one(record).await {
            Ok(_) => Outcome::Ack,
            Err(err) => Outcome::Retry(self.mongo.error(err).to_string()),
        }
    }
}

/// Every stage runs at the same time as the others, as separate services would: each
/// consumer stops at its count, or when its queue has been quiet for `idle` seconds
/// (downstream stages wait for upstream ones, so they get longer), or at the deadline.
pub(crate) fn limits(n: usize, idle: u64) -> ConsumeLimits {
    ConsumeLimits { max_messages: n, idle: Duration::from_secs(idle), total: Duration::from_secs(180), prefetch: 50 }
}

/// The retry policy of every stage.
pub(crate) const RETRY: RetryPolicy = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(200) };

/// Stages 3 and 4 as they ran: the notification consumers and the analytics fan-out.
pub(crate) struct Downstream {
    pub(crate) email: ConsumeReport,
    pub(crate) audit: ConsumeReport,
    pub(crate) store: ConsumeReport,
    pub(crate) metrics: ConsumeReport,
    pub(crate) alerting: ConsumeReport,
    pub(crate) domains: BTreeMap<String, i64>,
    pub(crate) alerts: Vec<String>,
}

impl Downstream {
    pub(crate) fn stages(&self) -> Vec<StageCount> {
        vec![
            StageCount::from_report("3 · send welcome e-mail", &self.email),
            StageCount::from_report("3 · audit log of notifications", &self.audit),
            StageCount::from_report("4 · store analytics event", &self.store),
            StageCount::from_report("4 · update metrics", &self.metrics),
            StageCount::from_report("4 · raise alerts", &self.alerting),
        ]
    }

    pub(crate) fn dead(&self) -> impl Iterator<Item = DeadLettered> + '_ {
        [&self.email, &self.audit, &self.store, &self.metrics, &self.alerting].into_iter().flat_map(|r| r.dead.iter().cloned())
    }
}

/// Stages 3 and 4, each consumer running until it has settled its share: `notifications`
/// welcome e-mails (the e-mail queue "sends", the audit queue sees every notification) and
/// `events` analytics events on the fan-out — one consumer stores them in MongoDB, one counts
/// sign-ups per e-mail domain, one raises an alert for throw-away addresses.
pub(crate) async fn downstream(broker: &Broker, mongo: &Mongo, notifications: usize, events: usize) -> Result<Downstream> {
    let t = broker.topology();
    let (email_q, audit_q) = (t.email_queue(), t.audit_queue());
    let email = consume(broker, &email_q, limits(notifications, 10), RETRY, |r: &Received| match &r.message {
        Message::Notification(n) if crate::validate::email(&n.recipient).is_ok() => Outcome::Ack,
        Message::Notification(n) => Outcome::Reject(format!("cannot send to {:?}", n.recipient)),
        other => Outcome::Reject(format!("notification queue got a {} message", other.type_name())),
    });
    let audit = consume(broker, &audit_q, limits(notifications, 10), RETRY, |_: &Received| Outcome::Ack);

    // The analytics fan-out: each consumer gets its own copy of every event.
    let [store_q, metrics_q, alerts_q] = t.analytics_queues();
    let store = consume(broker, &store_q, limits(events, 10), RETRY, StoreEvent { mongo, run: t.prefix().to_string() });
    let mut domains = BTreeMap::new();
    let metrics = consume(broker, &metrics_q, limits(events, 10), RETRY, |r: &Received| {
        if let Message::Analytics(e) = &r.message
            && e.event_type == "user_signup"
        {
            let d = e.properties.get("domain").and_then(|d| d.as_str()).unwrap_or("unknown").to_string();
            *domains.entry(d).or_insert(0) += 1;
        }
        Outcome::Ack
    });
    let mut alerts = Vec::new();
    let alerting = consume(broker, &alerts_q, limits(events, 10), RETRY, |r: &Received| {
        if let Message::Analytics(e) = &r.message {
            let d = e.properties.get("domain").and_then(|d| d.as_str()).unwrap_or("");
            if DISPOSABLE_DOMAINS.contains(&d) {
                alerts.push(format!("user {} signed up with a disposable address ({d})", e.user_id));
            }
        }
        Outcome::Ack
    });
    let (email, audit, store, metrics, alerting) = tokio::join!(email, audit, store, metrics, alerting);
    Ok(Downstream { email: email?, audit: audit?, store: store?, metrics: metrics?, alerting: alerting?, domains, alerts })
}

/// Analytics documents this run stored in MongoDB.
pub(crate) async fn analytics_stored(mongo: &Mongo, run: &str) -> Result<usize> {
    let analytics = mongo.collection::<bson::Document>(schema::ANALYTICS);
    let n = analytics.count_documents(doc! { "kind": "event", "run": run }).await.map_err(|e| mongo.error(e))?;
    Ok(n as usize)
}

/// Deletes what a run stored in MongoDB: the profiles named, and its analytics documents.
pub(crate) async fn forget(mongo: &Mongo, run: &str, usernames: &[String]) -> Result<()> {
    let profiles = mongo.collection::<bson::Document>(schema::USERS);
    profiles.delete_many(doc! { "username": { "$in": usernames } }).await.map_err(|e| mongo.error(e))?;
    let analytics = mongo.collection::<bson::Document>(schema::ANALYTICS);
    analytics.delete_many(doc! { "run": run }).await.map_err(|e| mongo.error(e))?;
    Ok(())
}

/// Whether the pipeline's input holds [`bad_messages`] beside the sign-ups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadInput {
    /// The sign-ups and the bad messages: what is rejected, retried and dead-lettered is shown.
    Included,
    /// The sign-ups only.
    Left,
}

/// Runs the pipeline for `signups` (plus [`bad_messages`] with [`BadInput::Included`]): see the
/// module docs. Profiles and analytics documents it stored are deleted again with [`Cleanup::Remove`].
pub async fn run_signups(broker: &Broker, mongo: &Mongo, signups: &[UserData], bad_input: BadInput, cleanup: Cleanup) -> Result<PipelineReport> {
    let t = broker.topology().clone();
    let bad = if bad_input == BadInput::Included { bad_messages() } else { Vec::new() };
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
    let mut stage2_handler = StoreAndAnnounce { broker, mongo, next_id: 9_000_000, stored_names: Vec::new() };
    let user_data_q = t.user_data_queue();
    let stage2 = consume(broker, &user_data_q, limits(all, 5), RETRY, &mut stage2_handler);

    let (published, stage2, rest) = tokio::join!(publishing, stage2, downstream(broker, mongo, good, good));
    let (published, stage2, rest) = (published?, stage2?, rest?);
    let stored_names = stage2_handler.stored_names;

    let mut stages = vec![StageCount::from_report("2 · validate, enrich, store profile", &stage2)];
    stages.extend(rest.stages());
    let dead = stage2.dead.iter().cloned().chain(rest.dead()).collect();
    let analytics_stored = analytics_stored(mongo, t.prefix()).await?;
    if cleanup == Cleanup::Remove {
        forget(mongo, t.prefix(), &stored_names).await?;
    }
    Ok(PipelineReport { published, stored: stage2.acked, stages, dead, domains: rest.domains, alerts: rest.alerts, analytics_stored })
}

/// [`run_signups`] with its own connections: MongoDB at `MONGODB_URI` (schema declared) and
/// RabbitMQ at `AMQP_ADDR` with `topology` — the shape of one notebook cell.
pub async fn run_with_services(settings: &crate::config::Settings, topology: super::Topology, signups: &[UserData], bad_input: BadInput, cleanup: Cleanup) -> Result<PipelineReport> {
    let mongo = Mongo::open(settings).await?;
    let broker = match Broker::connect(&settings.amqp_addr, topology).await {
        Ok(b) => b,
        Err(e) => {
            mongo.close().await;
            return Err(e);
        }
    };
    let out = run_signups(&broker, &mongo, signups, bad_input, cleanup).await;
    mongo.close().await;
    broker.close().await;
    out
}
