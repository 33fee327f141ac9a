//! Module 4: messaging with RabbitMQ (lapin) — exchanges, confirmed publishing, consumers that
//! retry with backoff and dead-letter what they cannot process, and the signup pipeline.
//!
//! | where | what |
//! |---|---|
//! | `broker.rs` | [`Broker`]: one connection, a confirming publish channel, the topology's names, reconnecting by itself; [`with_broker`] for a notebook cell; errors that name RabbitMQ with the URL masked |
//! | [`topology`] | [`Topology`]: direct `data_processing`, topic `notifications`, fanout `analytics`, the dead-letter exchange and queue, the priority queue, delay queues for retries; declared in code, deleted by [`Broker::teardown`] |
//! | [`message`] | [`Message`]: user data, notification, analytics event (serde JSON with a type, message id, timestamp and schema version); [`message::decode`] says why a delivery is unusable |
//! | [`producer`] | publishing with publisher confirms, one at a time or batched; mandatory routing with returned messages reported; `publish_user_data_event`, `publish_notification`, `publish_analytics_event` |
//! | [`consumer`] | [`consume`]: a handler returns [`Outcome`] (ack, retry, reject); prefetch; retries through delay queues with exponential backoff; the DLQ with reason and attempts in headers; bounded by a count and a timeout |
//! | [`exercises`] | notebook 04's exercise: the learner's handler run on a fixed batch through the real consume loop ([`SyncBroker::check_exercise`]) |
//! | [`chaos`] | connections cut under load ([`chaos::connection_cuts`]) or any other fault ([`chaos::through_faults`]): published, confirmed, lost, processed twice, time to the next confirm |
//! | [`cluster`] | the project's own three-node RabbitMQ cluster ([`cluster::LocalRabbitCluster`]) and a node killed under load, with quorum queues |
//! | [`dlq`] | inspect the dead-letter queue without losing it, replay chosen messages |
//! | [`lessons`] | the notebook's demonstrations: where each routing key lands, priority order, a retry timeline with backoff |
//! | [`measure`] | publish throughput (single vs batched confirms), consume + ack throughput, per-message latency |
//! | [`pipeline`] | (feature `mongo`) the signup pipeline: validate and enrich → MongoDB → notification → analytics fan-out, with counts per stage |
//!
//! | `sync.rs` | [`SyncBroker`]: the notebook surface — sync, non-generic calls; [`SyncBroker::peek`] shows messages as JSON with their AMQP properties; handlers are plain closures |
//!
//! Everything runs inside one call (a [`SyncBroker`] method in a notebook): the connection
//! does not outlive the cell. Every wait on the broker is bounded.

pub mod chaos;
pub mod cluster;
pub mod consumer;
pub mod dlq;
pub mod exercises;
pub mod lessons;
pub mod measure;
pub mod message;
#[cfg(feature = "mongo")]
pub mod pipeline;
pub mod producer;
mod broker;
mod sync;
pub mod topology;

pub use broker::*;
pub(crate) use broker::{Link, Taken, bounded, bounded_by};
pub use consumer::{ConsumeLimits, ConsumeReport, Handler, Outcome, Received, RetryPolicy, consume};
pub use message::{AnalyticsEvent, Message, Notification, UserData};
pub use producer::{BatchReport, Published, Routed};
pub use sync::{Peeked, SyncBroker};
pub use topology::{LESSON_EXPIRY, Topology};
#[cfg(feature = "mongo")]
pub use pipeline::BadInput;

/// What a run does with what it wrote once it is done (messages, sign-ups, the topology).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete it again: the run leaves nothing behind (what a lesson does).
    Remove,
    /// Leave it for a later look (what a test that reads it afterwards asks for).
    Keep,
}

use crate::config::Settings;

/// Every lesson future must be `Send`: [`crate::run`] needs it, and a `#[tokio::test]` alone
/// (which awaits on the test's own thread) would not notice. This only has to compile.
#[allow(dead_code)]
fn lesson_futures_are_send(s: &Settings, t: Topology) {
    fn send<T: Send>(_: T) {}
    send(with_broker(s, t.clone(), Cleanup::Remove, async |b| {
        lessons::routing(b).await?;
        lessons::priority_order(b, 1).await?;
        lessons::retry_timeline(b, RetryPolicy::default()).await?;
        dlq::inspect(b, 1).await?;
        dlq::replay(b, 1, |_| true).await?;
        measure::benchmark(b, 1).await?;
        consume(b, "q", ConsumeLimits::default(), RetryPolicy::default(), |_: &Received| Outcome::Ack).await?;
        Ok(())
    }));
    #[cfg(feature = "mongo")]
    send(pipeline::run_with_services(s, t, &[], pipeline::BadInput::Included, Cleanup::Remove));
}
