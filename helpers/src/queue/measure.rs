//! Measured messaging: publish throughput with confirms (one at a time against batched),
//! consume + ack throughput for two prefetch settings, and publish → delivery latency.
//!
//! Everything runs against the `user_data` queue of the broker's topology, which is purged
//! before and after each case, so use a topology of your own ([`super::Topology::unique`]).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::consumer::{ConsumeLimits, Outcome, Received, RetryPolicy, consume};
use super::message::{Message, UserData};
use super::{BROKER_TIMEOUT, Broker, Cleanup};
use crate::error::{Error, Result};
use crate::frame_row;
use crate::latency::{Latency, summarize};
use crate::runtime::within;

/// One measured rate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rate {
    /// What was measured.
    pub case: String,
    /// Messages.
    pub messages: i64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Messages per second.
    pub per_second: f64,
}
frame_row!(Rate { case, messages, seconds, per_second });

impl Rate {
    /// The case in a few words, for a chart's axis: `batch of 1000`, `confirm each`, `prefetch 100`.
    pub fn label(&self) -> String {
        self.case.replace("publish, confirm per batch of ", "batch of ").replace("publish, confirm each message", "confirm each").replace("consume + ack, ", "")
    }
}

impl Rate {
    fn new(case: impl Into<String>, messages: usize, seconds: f64) -> Rate {
        Rate { case: case.into(), messages: messages as i64, seconds, per_second: messages as f64 / seconds.max(1e-9) }
    }
}

/// `n` small user-data messages (about 150 bytes of JSON each).
pub fn sample_messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            Message::UserData(UserData {
                username: format!("bench_{i}"),
                email: format!("bench_{i}@example.com"),
                registration_date: "2026-01-01T00:00:00Z".into(),
                country: Some("Germany".into()),
            })
        })
        .collect()
}

async fn purge(broker: &Broker, queue: &str) -> Result<()> {
    let ch = broker.channel().await?;
    super::bounded(ch.queue_purge(queue.into(), Default::default())).await.map_err(|e| broker.error(e))?;
    let _ = super::bounded(ch.close(200, "OK".into())).await;
    Ok(())
}

/// Publishes `n` messages waiting for each confirm before the next.
pub async fn publish_one_at_a_time(broker: &Broker, n: usize) -> Result<Rate> {
    let (exchange, queue) = (broker.topology().data_processing(), broker.topology().user_data_queue());
    purge(broker, &queue).await?;
    let messages = sample_messages(n);
    let started = Instant::now();
    for m in &messages {
        broker.publish(&exchange, "user.data", m).await?;
    }
    let rate = Rate::new("publish, confirm each message", n, started.elapsed().as_secs_f64());
    purge(broker, &queue).await?;
    Ok(rate)
}

/// Publishes `n` messages in batches of `batch`, waiting for the confirms once per batch.
/// Leaves the messages in the queue with [`Cleanup::Keep`].
pub async fn publish_batched(broker: &Broker, n: usize, batch: usize, cleanup: Cleanup) -> Result<Rate> {
    let (exchange, queue) = (broker.topology().data_processing(), broker.topology().user_data_queue());
    purge(broker, &queue).await?;
    let messages = sample_messages(n);
    let started = Instant::now();
    let mut stored = 0;
    for chunk in messages.chunks(batch.max(1)) {
        stored += broker.publish_batch(&exchange, "user.data", chunk).await?.stored;
    }
    let rate = Rate::new(format!("publish, confirm per batch of {}", batch.max(1)), n, started.elapsed().as_secs_f64());
    if stored != n {
        return Err(Error::Lesson { lesson: "the messaging benchmark", reason: format!("only {stored} of {n} benchmark messages were stored") });
    }
    if cleanup == Cleanup::Remove {
        purge(broker, &queue).await?;
    }
    Ok(rate)
}

/// Publishes `n` messages (batched), then consumes and acks them all with `prefetch`;
/// returns the consume rate and the publish → delivery latency (which includes the time each
/// message waited behind the others).
pub async fn consume_backlog(broker: &Broker, n: usize, prefetch: u16) -> Result<(Rate, Latency)> {
    publish_batched(broker, n, 500, Cleanup::Keep).await?;
    let limits = ConsumeLimits { max_messages: n, idle: Duration::from_secs(5), total: Duration::from_secs(120), prefetch };
    let report = consume(broker, &broker.topology().user_data_queue(), limits, RetryPolicy::default(), |_: &Received| Outcome::Ack).await?;
    if report.acked != n {
        return Err(Error::Lesson { lesson: "the messaging benchmark", reason: format!("consumed {} of {n} benchmark messages ({:?})", report.acked, report.stopped) });
    }
    let rate = Rate::new(format!("consume + ack, prefetch {prefetch}"), n, report.seconds);
    Ok((rate, summarize(&format!("publish → delivery, backlog of {n}"), report.latencies_us)))
}

/// Publishes `n` messages one at a time while a consumer runs, so each finds an empty queue:
/// the latency of the broker itself, publish → delivery.
pub async fn live_latency(broker: &Broker, n: usize) -> Result<Latency> {
    let queue = broker.topology().user_data_queue();
    purge(broker, &queue).await?;
    let exchange = broker.topology().data_processing();
    let limits = ConsumeLimits { max_messages: n, idle: Duration::from_secs(5), total: Duration::from_secs(60), prefetch: 10 };
    let consumer = consume(broker, &queue, limits, RetryPolicy::default(), |_: &Received| Outcome::Ack);
    let producer = async {
        // Give the consumer a moment to register before the first message.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for m in sample_messages(n) {
            broker.publish(&exchange, "user.data", &m).await?;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, Error>(())
    };
    let (report, published) = within("the live latency run", Duration::from_secs(90), async { tokio::join!(consumer, producer) }).await?;
    published?;
    let report = report?;
    if report.acked != n {
        return Err(Error::Lesson { lesson: "the latency lesson", reason: format!("received {} of {n} latency messages ({:?})", report.acked, report.stopped) });
    }
    Ok(summarize("publish → delivery, one at a time", report.latencies_us))
}

/// Every case above with `n` messages (`n / 5` for the one-at-a-time cases): the rates and the
/// latencies, for the notebook and `bench -- queue`.
pub async fn benchmark(broker: &Broker, n: usize) -> Result<(Vec<Rate>, Vec<Latency>)> {
    let n = n.max(10);
    let small = (n / 5).max(10);
    let bound = BROKER_TIMEOUT * 30;
    within("the messaging benchmark", bound, async {
        let mut rates = vec![
            publish_one_at_a_time(broker, small).await?,
            publish_batched(broker, n, 100, Cleanup::Remove).await?,
            publish_batched(broker, n, 1_000, Cleanup::Remove).await?,
        ];
        let (slow, _) = consume_backlog(broker, small, 1).await?;
        let (fast, backlog) = consume_backlog(broker, n, 100).await?;
        rates.push(slow);
        rates.push(fast);
        let live = live_latency(broker, small).await?;
        Ok((rates, vec![live, backlog]))
    })
    .await?
}
