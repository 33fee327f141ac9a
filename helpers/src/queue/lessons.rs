//! The notebook's measured demonstrations: where each routing key lands, the order a priority
//! queue delivers in, and a retry timeline with backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::Broker;
use super::consumer::{ConsumeLimits, ConsumeReport, Outcome, Received, RetryPolicy, consume};
use super::message::{AnalyticsEvent, Message, Notification, UserData};
use crate::error::Result;
use crate::frame_row;

/// Where one published message went.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingRow {
    /// Exchange (without the prefix).
    pub exchange: String,
    /// Routing key used.
    pub routing_key: String,
    /// What the broker said (`stored`, `returned: NO_ROUTE`).
    pub outcome: String,
    /// Queues whose depth grew by one, without the prefix.
    pub reached: String,
}
frame_row!(RoutingRow { exchange, routing_key, outcome, reached });

fn short<'a>(prefix: &str, name: &'a str) -> &'a str {
    name.strip_prefix(prefix).and_then(|n| n.strip_prefix('.')).unwrap_or(name)
}

/// Publishes one message per case — direct, topic (matching two patterns, one, none) and
/// fanout — and reports which queues it reached, by their depth before and after. Purges the
/// queues afterwards.
pub async fn routing(broker: &Broker) -> Result<Vec<RoutingRow>> {
    let t = broker.topology();
    let mut queues = vec![t.user_data_queue(), t.priority_queue(), t.email_queue(), t.audit_queue()];
    queues.extend(t.analytics_queues());
    let note = |to: &str| {
        Message::Notification(Notification { recipient: "ada@example.com".into(), subject: "Hi".into(), content: to.into(), channel: "email".into() })
    };
    let user = Message::UserData(UserData { username: "ada".into(), email: "ada@example.com".into(), registration_date: chrono::Utc::now().to_rfc3339(), country: None });
    let event = Message::Analytics(AnalyticsEvent { event_type: "page_view".into(), user_id: 1, properties: serde_json::json!({}) });
    let cases = [
        (t.data_processing(), "user.signup", user.clone()),
        (t.data_processing(), "user.deleted", user),
        (t.notifications(), "notification.email.welcome", note("email")),
        (t.notifications(), "notification.sms.alert", note("sms")),
        (t.notifications(), "billing.invoice", note("invoice")),
        (t.analytics(), "", event),
    ];
    let mut rows = Vec::new();
    for (exchange, key, message) in cases {
        let mut before = HashMap::new();
        for q in &queues {
            before.insert(q.clone(), broker.queue_depth(q).await?);
        }
        let published = broker.publish(&exchange, key, &message).await?;
        let mut reached = Vec::new();
        for q in &queues {
            // Publisher confirms for persistent messages come after the queues have them.
            if broker.queue_depth(q).await? > before[q] {
                reached.push(short(t.prefix(), q).to_string());
            }
        }
        rows.push(RoutingRow {
            exchange: short(t.prefix(), &exchange).to_string(),
            routing_key: if key.is_empty() { "(none)".into() } else { key.into() },
            outcome: published.outcome,
            reached: if reached.is_empty() { "—".into() } else { reached.join(", ") },
        });
    }
    let ch = broker.channel().await?;
    for q in &queues {
        super::bounded(ch.queue_purge(q.as_str().into(), Default::default())).await.map_err(|e| broker.error(e))?;
    }
    let _ = super::bounded(ch.close(200, "OK".into())).await;
    Ok(rows)
}

/// One delivery from the priority queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriorityRow {
    /// Delivery order (1 = first).
    pub delivered: i64,
    /// Order it was published in.
    pub published: i64,
    /// Its priority.
    pub priority: i64,
}
frame_row!(PriorityRow { delivered, published, priority });

/// Publishes `n` tasks with priorities cycling through 0–9 while no consumer runs, then
/// consumes them with prefetch 1: the queue hands out the highest priority first.
pub async fn priority_order(broker: &Broker, n: usize) -> Result<Vec<PriorityRow>> {
    let t = broker.topology();
    for i in 0..n {
        let task = Message::Analytics(AnalyticsEvent { event_type: "urgent_task".into(), user_id: i as i64, properties: serde_json::json!({ "task": i }) });
        broker.publish_with_priority(&t.data_processing(), "task.urgent", &task, Some(((i * 7) % 10) as u8)).await?;
    }
    let mut rows = Vec::new();
    let limits = ConsumeLimits { max_messages: n, prefetch: 1, ..Default::default() };
    consume(broker, &t.priority_queue(), limits, RetryPolicy::default(), |r: &Received| {
        let published = match &r.message {
            Message::Analytics(e) => e.user_id + 1,
            _ => -1,
        };
        rows.push(PriorityRow { delivered: rows.len() as i64 + 1, published, priority: r.priority.unwrap_or(0) as i64 });
        Outcome::Ack
    })
    .await?;
    Ok(rows)
}

/// One handler call in the retry demonstration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptRow {
    /// Which message (its user name).
    pub message: String,
    /// Attempt number.
    pub attempt: i64,
    /// When the handler saw it, ms after the run began.
    pub at_ms: f64,
    /// What the handler answered.
    pub outcome: String,
}
frame_row!(AttemptRow { message, attempt, at_ms, outcome });

/// Four messages through a handler whose "service" is flaky: `ok` succeeds at once, `flaky`
/// fails once, `flakier` fails twice, `broken` always fails. With `policy` (say 3 attempts,
/// 200 ms base) the first three are processed — after 0, 1 and 2 retries — and `broken` goes
/// to the dead-letter queue after its last attempt. Returns every handler call and the report.
pub async fn retry_timeline(broker: &Broker, policy: RetryPolicy) -> Result<(Vec<AttemptRow>, ConsumeReport)> {
    let t = broker.topology();
    let failures = [("ok", 0u32), ("flaky", 1), ("flakier", 2), ("broken", u32::MAX)];
    for (name, _) in failures {
        let m = Message::UserData(UserData { username: name.into(), email: format!("{name}@example.com"), registration_date: chrono::Utc::now().to_rfc3339(), country: None });
        broker.publish(&t.data_processing(), "user.data", &m).await?;
    }
    let started = Instant::now();
    let mut rows = Vec::new();
    let limits = ConsumeLimits { max_messages: failures.len(), idle: policy.delay_before(policy.max_attempts) + Duration::from_secs(3), total: Duration::from_secs(60), prefetch: 10 };
    let report = consume(broker, &t.user_data_queue(), limits, policy, |r: &Received| {
        let name = match &r.message {
            Message::UserData(u) => u.username.clone(),
            other => other.type_name().to_string(),
        };
        let fail_times = failures.iter().find(|(n, _)| *n == name).map_or(0, |(_, f)| *f);
        let outcome = if r.attempt > fail_times { Outcome::Ack } else { Outcome::Retry("service unavailable (simulated)".into()) };
        rows.push(AttemptRow {
            message: name,
            attempt: r.attempt as i64,
            at_ms: started.elapsed().as_secs_f64() * 1e3,
            outcome: match &outcome {
                Outcome::Ack => "ack".into(),
                Outcome::Retry(_) if r.attempt >= policy.max_attempts => "retry → gave up, dead-lettered".into(),
                Outcome::Retry(_) => format!("retry in {} ms", policy.delay_before(r.attempt + 1).as_millis()),
                Outcome::Reject(_) => "reject".into(),
            },
        });
        outcome
    })
    .await?;
    Ok((rows, report))
}
