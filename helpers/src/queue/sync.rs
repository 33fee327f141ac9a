//! [`SyncBroker`]: RabbitMQ from a notebook cell — messages in, reports and rows out.
//!
//! Each method is sync and non-generic: it connects (declaring the topology, a no-op when
//! it exists), does its work on a runtime of its own and closes, so a cell compiles a call,
//! not an AMQP client (see `sql::SyncDb` for why). A consumer's handler is a plain closure
//! the cell writes — `&mut |r| Outcome::Ack` — passed as a trait object, so the consume loop
//! itself is compiled once, here.

use lapin::types::AMQPValue;

use super::dlq::{self, DeadLetter, ReplayReport};
use super::lessons::{self, AttemptRow, PriorityRow, RoutingRow};
use super::measure::{self, Rate};
use super::{Broker, ConsumeLimits, Taken, ConsumeReport, Message, Published, Received, RetryPolicy, Routed, Topology, consume, Outcome};
use crate::config::Settings;
use crate::error::Result;
use crate::frame_row;
use crate::latency::Latency;
use crate::runtime::run;

/// Connects with the topology, evaluates `$body` with `$b: &Broker`, closes. A macro so that
/// each method's future is concrete (and checked to be `Send`) where it is written.
macro_rules! with_broker {
    ($self:ident, |$b:ident| $body:expr) => {
        run(async {
            let opened = Broker::connect(&$self.settings.amqp_addr, $self.topology.clone()).await?;
            let $b = &opened;
            let out = $body;
            opened.close().await;
            out
        })
    };
}

/// A message as it sits in a queue: its JSON body and its AMQP properties.
#[derive(Clone, Debug, PartialEq)]
pub struct Peeked {
    /// Position in the queue, from 1.
    pub position: i64,
    /// The `message_id` property.
    pub message_id: String,
    /// The `type` property.
    pub kind: String,
    /// The `content_type` property.
    pub content_type: String,
    /// `delivery_mode` (2 = persistent).
    pub delivery_mode: i64,
    /// The `priority` property, if set.
    pub priority: Option<i64>,
    /// The headers as JSON (`x-schema-version`, `x-published-us`, `x-attempt`, …).
    pub headers: String,
    /// The body, as the consumer will read it.
    pub body: String,
}
frame_row!(Peeked { position, message_id, kind, content_type, delivery_mode, priority, headers, body });

/// The broker at `AMQP_ADDR` with one [`Topology`], for notebook cells. Holds only the
/// settings and the topology's names; every call connects and closes.
///
/// ```no_run
/// use helpers::prelude::*;
/// use helpers::queue::{ConsumeLimits, Message, Outcome, RetryPolicy, SyncBroker, Topology, UserData};
/// let mq = SyncBroker::new(&Settings::from_env()?, Topology::unique("demo"));
/// let t = mq.topology().clone();
/// let ada = Message::UserData(UserData { username: "ada".into(), email: "ada@example.com".into(), registration_date: "2026-01-01T00:00:00Z".into(), country: None });
/// mq.publish(&t.data_processing(), "user.signup", &ada)?;
/// let report = mq.consume(&t.user_data_queue(), ConsumeLimits::count(1), RetryPolicy::default(), &mut |r| {
///     println!("got {}", r.message_id);
///     Outcome::Ack
/// })?;
/// mq.teardown()?;
/// # Ok::<(), helpers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncBroker {
    settings: Settings,
    topology: Topology,
}

impl SyncBroker {
    /// The settings and topology it was made with (for the architecture, which composes this
    /// module with the others and adds [`SyncBroker::architecture`] from its own file).
    pub(crate) fn parts(&self) -> (&Settings, &Topology) {
        (&self.settings, &self.topology)
    }

    /// The broker `settings.amqp_addr` names, with `topology` (nothing is opened yet).
    pub fn new(settings: &Settings, topology: Topology) -> SyncBroker {
        SyncBroker { settings: settings.clone(), topology }
    }

    /// The topology's names.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Connects, declares the topology, and returns the broker's version (`None` over TLS).
    pub fn declare(&self) -> Result<Option<String>> {
        with_broker!(self, |b| Ok(b.server_version().await))
    }

    /// Publishes `message` with confirms (mandatory: an unroutable message comes back).
    pub fn publish(&self, exchange: &str, routing_key: &str, message: &Message) -> Result<Published> {
        with_broker!(self, |b| b.publish(exchange, routing_key, message).await)
    }

    /// Publishes each message in turn, each with its own confirm.
    pub fn publish_each(&self, exchange: &str, routing_key: &str, messages: &[Message]) -> Result<Vec<Published>> {
        with_broker!(self, |b| {
            let mut out = Vec::with_capacity(messages.len());
            for m in messages {
                out.push(b.publish(exchange, routing_key, m).await?);
            }
            Ok(out)
        })
    }

    /// Publishes raw bytes with the properties of a `kind` message — for bad input that
    /// [`Message`] cannot express on purpose (malformed JSON, unknown types).
    pub fn publish_raw(&self, exchange: &str, routing_key: &str, kind: &str, body: &[u8]) -> Result<Routed> {
        with_broker!(self, |b| b.publish_raw(exchange, routing_key, body, super::message::properties(kind, 1, None)).await)
    }

    /// Up to `limit` messages of `queue`, left where they are (taken with `basic.get`, then
    /// given back): body and properties as the consumer will see them.
    pub fn peek(&self, queue: &str, limit: usize) -> Result<Vec<Peeked>> {
        with_broker!(self, |b| {
            let taken = Taken::take(b, queue, limit).await?;
            let text = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
            let rows = (taken.messages().iter().enumerate())
                .map(|(i, msg)| {
                    let p = &msg.delivery.properties;
                    Peeked {
                        position: i as i64 + 1,
                        message_id: text(p.message_id()),
                        kind: text(p.kind()),
                        content_type: text(p.content_type()),
                        delivery_mode: p.delivery_mode().map_or(1, i64::from),
                        priority: p.priority().map(i64::from),
                        headers: p.headers().as_ref().map(|h| headers_json(h.inner())).unwrap_or_else(|| "{}".into()),
                        body: String::from_utf8_lossy(&msg.delivery.data).into_owned(),
                    }
                })
                .collect();
            taken.give_back().await;
            Ok(rows)
        })
    }

    /// Consumes `queue` with `handler` until `limits` say stop (see [`consume`]): ack, retry
    /// through delay queues with backoff, or dead-letter with the reason.
    pub fn consume(&self, queue: &str, limits: ConsumeLimits, retry: RetryPolicy, handler: &mut (dyn FnMut(&Received) -> Outcome + Send)) -> Result<ConsumeReport> {
        with_broker!(self, |b| consume(b, queue, limits, retry, &mut *handler).await)
    }

    /// Messages waiting in `queue`.
    pub fn depth(&self, queue: &str) -> Result<u32> {
        with_broker!(self, |b| b.queue_depth(queue).await)
    }

    /// Where each routing key lands (see [`lessons::routing`]).
    pub fn routing(&self) -> Result<Vec<RoutingRow>> {
        with_broker!(self, |b| lessons::routing(b).await)
    }

    /// `n` tasks through the priority queue (see [`lessons::priority_order`]).
    pub fn priority_order(&self, n: usize) -> Result<Vec<PriorityRow>> {
        with_broker!(self, |b| lessons::priority_order(b, n).await)
    }

    /// Three messages that succeed after 0, 1 and 2 retries and one that never does
    /// (see [`lessons::retry_timeline`]).
    pub fn retry_timeline(&self, policy: RetryPolicy) -> Result<(Vec<AttemptRow>, ConsumeReport)> {
        with_broker!(self, |b| lessons::retry_timeline(b, policy).await)
    }

    /// Up to `limit` dead letters, left in the queue.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        with_broker!(self, |b| dlq::inspect(b, limit).await)
    }

    /// Sends the dead letters `pick` chooses back to their queue (see [`dlq::replay`]).
    pub fn replay(&self, limit: usize, pick: &(dyn Fn(&DeadLetter) -> bool + Sync)) -> Result<ReplayReport> {
        with_broker!(self, |b| dlq::replay(b, limit, pick).await)
    }

    /// Throughput and latency with `n` messages (see [`measure::benchmark`]).
    pub fn benchmark(&self, n: usize) -> Result<(Vec<Rate>, Vec<Latency>)> {
        with_broker!(self, |b| measure::benchmark(b, n).await)
    }

    /// The signup pipeline with MongoDB (see [`super::pipeline::run_with_services`]).
    #[cfg(feature = "mongo")]
    pub fn signup_pipeline(&self, signups: &[super::UserData], bad_input: super::pipeline::BadInput) -> Result<super::pipeline::PipelineReport> {
        run(super::pipeline::run_with_services(&self.settings, self.topology.clone(), signups, bad_input, super::Cleanup::Remove))
    }

    /// `n` sign-ups published and consumed through a link that drops every connection `cuts`
    /// times on the way (see [`super::chaos::connection_cuts`]): what was confirmed, resent,
    /// processed, processed twice and lost. Uses a topology of its own, not this one.
    pub fn connection_cuts(&self, n: usize, cuts: usize) -> Result<super::chaos::CutReport> {
        run(super::chaos::connection_cuts(&self.settings.amqp_addr, n, cuts))
    }

    /// Deletes every exchange and queue of the topology.
    pub fn teardown(&self) -> Result<()> {
        with_broker!(self, |b| b.teardown().await)
    }
}

/// AMQP header values as JSON (numbers, strings, booleans, nested tables and arrays).
fn headers_json(table: &std::collections::BTreeMap<lapin::types::ShortString, AMQPValue>) -> String {
    fn value(v: &AMQPValue) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            AMQPValue::Boolean(b) => J::Bool(*b),
            AMQPValue::ShortShortInt(i) => J::from(*i),
            AMQPValue::ShortShortUInt(i) => J::from(*i),
            AMQPValue::ShortInt(i) => J::from(*i),
            AMQPValue::ShortUInt(i) => J::from(*i),
            AMQPValue::LongInt(i) => J::from(*i),
            AMQPValue::LongUInt(i) => J::from(*i),
            AMQPValue::LongLongInt(i) => J::from(*i),
            AMQPValue::Float(f) => J::from(*f),
            AMQPValue::Double(f) => J::from(*f),
            AMQPValue::ShortString(s) => J::from(s.as_str()),
            AMQPValue::LongString(s) => J::from(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::FieldArray(a) => J::Array(a.as_slice().iter().map(value).collect()),
            AMQPValue::FieldTable(t) => J::Object(t.inner().iter().map(|(k, v)| (k.as_str().to_string(), value(v))).collect()),
            AMQPValue::Timestamp(t) => J::from(*t),
            other => J::from(format!("{other:?}")),
        }
    }
    serde_json::Value::Object(table.iter().map(|(k, v)| (k.as_str().to_string(), value(v))).collect()).to_string()
}
