//! Consuming: a handler decides, the consumer does the bookkeeping, and nothing is lost.
//!
//! For each delivery [`consume`]:
//! 1. decodes it ([`super::message::decode`]); an unusable body goes to the dead-letter queue
//!    with the reason, and the loop carries on;
//! 2. calls the handler, which returns an [`Outcome`]:
//!    - `Ack`: done;
//!    - `Retry(reason)`: a copy goes to the delay queue for this attempt
//!      (`base_delay · 2^(attempt-1)`), which hands it back to the work queue when its time to
//!      live runs out — the consumer meanwhile goes on with other messages; after
//!      `max_attempts` the message is dead-lettered instead;
//!    - `Reject(reason)`: straight to the dead-letter queue (poison: retrying cannot help);
//! 3. acks the original only after the copy (retry or dead letter) is confirmed by the broker.
//!    If that publish fails, the original is rejected without requeue, and the queue's own
//!    `x-dead-letter-exchange` still puts it into the dead-letter queue.
//!
//! Acks are batched: while more deliveries are ready at once, the loop goes on and settles
//! them with one `multiple` ack — at the latest after half a prefetch, and always before it
//! waits for the broker. A message counts as acked only once that ack is out; a connection that
//! drops first brings the held deliveries back, and the ids of what was done keep the handler
//! from running twice.
//!
//! Dead letters carry `x-death-reason`, `x-attempts`, `x-original-queue`,
//! `x-original-routing-key` and `x-dead-lettered-us` headers. The loop stops after
//! `max_messages` settled messages, when nothing arrives for `idle`, or at `total`, whichever
//! comes first; unacknowledged prefetched messages then return to the queue.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use serde::Serialize;

use super::{ACK_TIMEOUT, Broker, bounded, bounded_by};
use super::message::{self, H_ATTEMPT, H_LAST_ERROR, H_PUBLISHED_US, Message, copy_properties, header_i64, set_str};
use super::producer::Routed;
use crate::error::Result;
use crate::frame_row;

/// Header on a dead letter: why it was dead-lettered.
pub const H_DEATH_REASON: &str = "x-death-reason";
/// Header on a dead letter: how many attempts were made.
pub const H_ATTEMPTS: &str = "x-attempts";
/// Header on a dead letter: the queue it came from.
pub const H_ORIGINAL_QUEUE: &str = "x-original-queue";
/// Header on a dead letter: its routing key there.
pub const H_ORIGINAL_KEY: &str = "x-original-routing-key";
/// Header on a dead letter: when, µs since the epoch.
pub const H_DEAD_US: &str = "x-dead-lettered-us";

/// What a handler decided about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Processed: acknowledge it.
    Ack,
    /// A transient failure (a service down, a timeout): try again later.
    Retry(String),
    /// A permanent failure (invalid data): dead-letter it now.
    Reject(String),
}

/// How retries back off. Defaults: 3 attempts, 1 s base delay (1 s, then 2 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Deliveries in all, the first included (default 3). At least 1.
    pub max_attempts: u32,
    /// Delay before the second attempt; each further one doubles it (default 1 s).
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(1) }
    }
}

impl RetryPolicy {
    /// The delay before attempt `next` (2, 3, …): `base_delay · 2^(next-2)`.
    pub fn delay_before(&self, next: u32) -> Duration {
        self.base_delay * 2u32.saturating_pow(next.saturating_sub(2)).max(1)
    }
}

/// Bounds and flow control of one consume loop. Defaults: 1,000 settled messages, 2 s idle,
/// 60 s in all, prefetch 50.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumeLimits {
    /// Stop after this many messages are settled (acked or dead-lettered; retries do not count).
    pub max_messages: usize,
    /// Stop when no delivery arrives for this long.
    pub idle: Duration,
    /// Stop at this total time, whatever else.
    pub total: Duration,
    /// Unacknowledged deliveries the broker may push ahead (`basic.qos`).
    pub prefetch: u16,
}

impl Default for ConsumeLimits {
    fn default() -> Self {
        ConsumeLimits { max_messages: 1_000, idle: Duration::from_secs(2), total: Duration::from_secs(60), prefetch: 50 }
    }
}

impl ConsumeLimits {
    /// Limits that stop after `n` settled messages (other bounds as default).
    pub fn count(n: usize) -> Self {
        ConsumeLimits { max_messages: n, ..Default::default() }
    }
}

/// A decoded delivery, as the handler sees it.
#[derive(Clone, Debug)]
pub struct Received {
    /// The message.
    pub message: Message,
    /// Its id.
    pub message_id: String,
    /// Which attempt this is (1 = first delivery).
    pub attempt: u32,
    /// The routing key it arrived with.
    pub routing_key: String,
    /// Its AMQP priority, if any.
    pub priority: Option<u8>,
    /// From publish to this delivery, in µs (when the publisher stamped the time).
    pub latency_us: Option<f64>,
}

/// Why a consume loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stop {
    /// `max_messages` were settled.
    Count,
    /// Nothing arrived for `idle`.
    Idle,
    /// `total` ran out.
    Deadline,
    /// The broker cancelled the consumer (queue deleted).
    Cancelled,
}

/// One dead-lettered message, as the consumer sent it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLettered {
    /// Message id (empty if the publisher set none).
    pub message_id: String,
    /// The reason.
    pub reason: String,
    /// Attempts made.
    pub attempts: i64,
}
frame_row!(DeadLettered { message_id, reason, attempts });

/// What one consume loop did.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumeReport {
    /// The queue.
    pub queue: String,
    /// Deliveries received (retried messages count once per delivery).
    pub deliveries: usize,
    /// Processed and acknowledged.
    pub acked: usize,
    /// Sent to a delay queue for another attempt.
    pub retried: usize,
    /// Sent to the dead-letter queue.
    pub dead_lettered: usize,
    /// The dead letters, with their reasons.
    pub dead: Vec<DeadLettered>,
    /// Publish → delivery latency of each delivery, µs.
    pub latencies_us: Vec<f64>,
    /// Wall time of the loop, seconds.
    pub seconds: f64,
    /// Why it stopped.
    pub stopped: Stop,
    /// Times the connection dropped during the loop and came back.
    pub recoveries: usize,
    /// Copies of messages already settled (a resend after a reconnect), acked unprocessed.
    pub duplicates: usize,
}

impl ConsumeReport {
    /// Acked + dead-lettered: messages that will not come back.
    pub fn settled(&self) -> usize {
        self.acked + self.dead_lettered
    }
}

/// Decides what becomes of each message. Any `FnMut(&Received) -> Outcome + Send` closure is a
/// handler; a handler that has to await (store in a database, publish downstream) implements
/// the trait on a struct of its own. The future is `Send` by the trait's contract, so a
/// consume loop can run on any runtime — including [`crate::run`] in a notebook cell, which
/// needs `Send` futures (an `async` closure cannot promise that for every borrow today).
pub trait Handler: Send {
    /// Handles one decoded delivery.
    fn handle(&mut self, received: &Received) -> impl std::future::Future<Output = Outcome> + Send;
}

impl<F> Handler for F
where
    F: FnMut(&Received) -> Outcome + Send,
{
    fn handle(&mut self, received: &Received) -> impl std::future::Future<Output = Outcome> + Send {
        std::future::ready(self(received))
    }
}

/// What the consumer does with a delivery once the handler has answered: the retry and
/// dead-letter rules in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Processed: acknowledge it.
    Ack,
    /// Publish a copy marked attempt `next` to the delay queue for `delay` (it comes back to
    /// the work queue when the delay has passed), then acknowledge the original.
    RetryLater {
        /// The attempt the copy will be.
        next: u32,
        /// How long it waits in the delay queue.
        delay: Duration,
        /// Why the handler asked for a retry (kept in the `x-last-error` header).
        reason: String,
    },
    /// Publish it to the dead-letter exchange with `reason`, then acknowledge the original.
    DeadLetter {
        /// Why, as the dead letter will carry it.
        reason: String,
    },
}

/// The handler's `outcome` for attempt `attempt` under `retry`: a retry while attempts are
/// left (after `retry.delay_before(next)`), dead-lettering once they are used up or when the
/// handler rejects.
pub fn decide(outcome: Outcome, attempt: u32, retry: RetryPolicy) -> Decision {
    let max_attempts = retry.max_attempts.max(1);
    match outcome {
        Outcome::Ack => Decision::Ack,
        Outcome::Retry(reason) if attempt < max_attempts => {
            Decision::RetryLater { next: attempt + 1, delay: retry.delay_before(attempt + 1), reason }
        }
        Outcome::Retry(reason) | Outcome::Reject(reason) => {
            let reason = if attempt >= max_attempts && attempt > 1 { format!("gave up after {attempt} attempts: {reason}") } else { reason };
            Decision::DeadLetter { reason }
        }
    }
}

/// Consumes `queue` with `handler` until `limits` say stop; see the module docs.
pub async fn consume(broker: &Broker, queue: &str, limits: ConsumeLimits, retry: RetryPolicy, mut handler: impl Handler) -> Result<ConsumeReport> {
    let mut sub = Subscription::open(broker, queue, limits.prefetch).await?;
    let started = Instant::now();
    let mut report = ConsumeReport {
        queue: queue.to_string(),
        deliveries: 0,
        acked: 0,
        retried: 0,
        dead_lettered: 0,
        dead: Vec::new(),
        latencies_us: Vec::new(),
        seconds: 0.0,
        stopped: Stop::Count,
        recoveries: 0,
        duplicates: 0,
    };
    // Work done per message id and attempt, kept until its ack is through: a message that comes again —
    // its ack was lost with a dropped connection, or the publisher resent it after one — is
    // settled again without running the handler twice.
    let mut done: HashMap<String, Settled> = HashMap::new();
    let mut counted: HashSet<String> = HashSet::new();
    let result: Result<()> = async {
        loop {
            if report.settled() + sub.unacked.len() >= limits.max_messages {
                // The last acks go out before the count is judged: one that fails leaves its
                // messages to come back, and the loop goes on for them.
                if let Err(e) = sub.unacked.flush(&mut report, &mut counted).await {
                    report.recover(broker, &mut sub, queue, limits.prefetch, e).await?;
                }
                if report.settled() >= limits.max_messages {
                    report.stopped = Stop::Count;
                    break;
                }
            }
            let left = limits.total.saturating_sub(started.elapsed());
            if left.is_zero() {
                report.stopped = Stop::Deadline;
                break;
            }
            // Acks wait while more deliveries are ready at once — one `multiple` ack then
            // settles them all — and go out before the loop waits for the broker, which may
            // be holding further deliveries back until they arrive (prefetch).
            let ready = if sub.unacked.is_empty() { None } else { sub.deliveries.next().now_or_never() };
            let next = match ready {
                Some(ready) => Ok(ready),
                None => {
                    if let Err(e) = sub.unacked.flush(&mut report, &mut counted).await {
                        report.recover(broker, &mut sub, queue, limits.prefetch, e).await?;
                        continue;
                    }
                    tokio::time::timeout(limits.idle.min(left), sub.deliveries.next()).await
                }
            };
            let delivery = match next {
                Err(_) => {
                    report.stopped = if limits.idle < left { Stop::Idle } else { Stop::Deadline };
                    break;
                }
                // The stream ended: the broker cancelled us, or the connection is gone.
                Ok(None) if sub.channel.status().connected() => {
                    report.stopped = Stop::Cancelled;
                    break;
                }
                Ok(None) => {
                    let gone = lapin::Error::from(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the consumer's channel closed"));
                    report.recover(broker, &mut sub, queue, limits.prefetch, gone).await?;
                    continue;
                }
                Ok(Some(Err(e))) => {
                    // The connection dropped: reconnect and subscribe again; what was delivered
                    // and not acked comes back, and `done` recognises what was already done.
                    report.recover(broker, &mut sub, queue, limits.prefetch, e).await?;
                    continue;
                }
                Ok(Some(Ok(d))) => d,
            };
            report.deliveries += 1;
            let message_id = delivery.properties.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
            let headers = delivery.properties.headers().as_ref();
            // Off the wire as well: anything outside 1..=u32::MAX counts as its nearest bound.
            let attempt = header_i64(headers, H_ATTEMPT).unwrap_or(1).clamp(1, u32::MAX as i64) as u32;
            // A retry is the same message at its next attempt: it is work to do, not a copy.
            let key = if message_id.is_empty() { String::new() } else { format!("{message_id}#{attempt}") };
            if let Some(settled) = (!key.is_empty()).then(|| done.get(&key)).flatten().cloned() {
                // Ok(false): the connection dropped under this delivery; it comes back again.
                match bounded_by(ACK_TIMEOUT, delivery.ack(BasicAckOptions::default())).await {
                    Ok(true) if counted.insert(key) => report.count(settled),
                    Ok(true) => report.duplicates += 1,
                    Ok(false) => {}
                    Err(e) => report.recover(broker, &mut sub, queue, limits.prefetch, e).await?,
                }
                continue;
            }
            // The header comes off the wire: checked, so a forged value cannot overflow.
            let latency_us = header_i64(headers, H_PUBLISHED_US).and_then(|t| message::now_us().checked_sub(t)).filter(|d| *d >= 0).map(|d| d as f64);
            if let Some(l) = latency_us {
                report.latencies_us.push(l);
            }
            let outcome = match message::decode(&delivery.data, &delivery.properties) {
                Err(why) => Outcome::Reject(why.to_string()),
                Ok(message) => {
                    let received = Received {
                        message,
                        message_id: message_id.clone(),
                        attempt,
                        routing_key: delivery.routing_key.as_str().to_string(),
                        priority: *delivery.properties.priority(),
                        latency_us,
                    };
                    handler.handle(&received).await
                }
            };
            // Carry the decision out (a copy to a delay queue or the DLX, confirmed), then
            // settle the delivery. A dropped connection on the way leaves the delivery to come
            // back; what was done is remembered by id, so it is not done twice.
            let decision = decide(outcome, attempt, retry);
            // One `debug` event per decision (target `helpers::queue`).
            tracing::debug!(target: "helpers::queue", queue, message_id = message_id.as_str(), attempt, ?decision, "delivery decided");
            let carried = match decision {
                Decision::Ack => Ok(Settled::Acked),
                Decision::RetryLater { next, delay, reason } => {
                    let delay_queue = broker.delay_queue(queue, delay).await?;
                    let props = copy_properties(&delivery.properties, broker.frame_max(), H_LAST_ERROR, &reason, |h| {
                        h.insert(H_ATTEMPT.into(), AMQPValue::LongUInt(next));
                        set_str(h, H_LAST_ERROR, &reason);
                    });
                    forward(broker, "", &delay_queue, &delivery, props).await.map(|stored| {
                        if stored { Settled::Retried } else { Settled::DeadLettered(dead_record(&delivery, &reason, attempt), Settle::Reject) }
                    })
                }
                Decision::DeadLetter { reason } => dead_letter(broker, queue, &delivery, &reason, attempt).await,
            };
            let settled = match carried {
                Ok(settled) => settled,
                Err(Fault::Dropped(e)) => {
                    report.recover(broker, &mut sub, queue, limits.prefetch, e).await?;
                    continue;
                }
            };
            if !key.is_empty() {
                done.insert(key.clone(), settled.clone());
            }
            if !matches!(settled, Settled::DeadLettered(_, Settle::Reject)) {
                // Acked with the next `multiple` ack (at most half a prefetch later); counted
                // when that ack is through.
                sub.unacked.push(delivery.acker, key, settled);
                if sub.unacked.full() {
                    if let Err(e) = sub.unacked.flush(&mut report, &mut counted).await {
                        report.recover(broker, &mut sub, queue, limits.prefetch, e).await?;
                    }
                }
                continue;
            }
            let settle = bounded_by(ACK_TIMEOUT, delivery.reject(BasicRejectOptions { requeue: false })).await;
            match settle {
                // Ok(false): the acker was poisoned by a dropped connection: the delivery
                // comes back, and is settled then from `done`.
                Ok(false) => {}
                Ok(true) => {
                    if key.is_empty() || counted.insert(key) {
                        report.count(settled);
                    }
                }
                Err(e) => report.recover(broker, &mut sub, queue, limits.prefetch, e).await?,
            }
        }
        Ok(())
    }
    .await;
    // Whatever the loop stopped on, the acks it holds go out (if they cannot, the messages
    // come back to the queue: at least once, never lost).
    if result.is_ok() {
        let _ = sub.unacked.flush(&mut report, &mut counted).await;
    }
    let _ = bounded(sub.channel.basic_cancel(sub.tag.as_str().into(), BasicCancelOptions::default())).await;
    let _ = bounded(sub.channel.close(200, "OK".into())).await;
    report.seconds = started.elapsed().as_secs_f64();
    result.map(|_| report)
}

/// How a delivery is settled once its decision is carried out.
#[derive(Clone, Debug)]
enum Settle {
    /// Acknowledged (our copy went where it had to).
    Ack,
    /// Rejected without requeue: the queue's own dead-letter exchange takes it (our copy could
    /// not be stored; the broker adds its `x-death` header, ours are missing).
    Reject,
}

/// A consumer on its own channel of one connection of the broker.
struct Subscription {
    generation: u64,
    channel: lapin::Channel,
    deliveries: lapin::Consumer,
    tag: String,
    /// Decided deliveries of this channel whose ack is still to go out (delivery tags belong
    /// to their channel: a new subscription starts with none, and the old ones come back).
    unacked: Unacked,
}

/// Deliveries decided and done, waiting for one `multiple` ack: the acker of the newest, and
/// what was done for each (counted once the ack is through).
struct Unacked {
    newest: Option<lapin::Acker>,
    done: Vec<(String, Settled)>,
    /// A `multiple` ack at least every half prefetch: the broker never waits on us for long.
    limit: usize,
}

impl Unacked {
    fn for_prefetch(prefetch: u16) -> Unacked {
        Unacked { newest: None, done: Vec::new(), limit: (prefetch as usize / 2).max(1) }
    }

    fn len(&self) -> usize {
        self.done.len()
    }

    fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    fn push(&mut self, acker: lapin::Acker, key: String, settled: Settled) {
        self.newest = Some(acker);
        self.done.push((key, settled));
    }

    fn full(&self) -> bool {
        self.done.len() >= self.limit
    }

    /// One ack with `multiple` for everything held. `Ok` also when the acker was poisoned by
    /// a dropped connection: those deliveries come back and are settled then from `done`.
    async fn flush(&mut self, report: &mut ConsumeReport, counted: &mut HashSet<String>) -> std::result::Result<(), lapin::Error> {
        let Some(newest) = self.newest.take() else { return Ok(()) };
        let held = std::mem::take(&mut self.done);
        if bounded_by(ACK_TIMEOUT, newest.ack(BasicAckOptions { multiple: true })).await? {
            for (key, settled) in held {
                if key.is_empty() || counted.insert(key) {
                    report.count(settled);
                }
            }
        }
        Ok(())
    }
}

impl Subscription {
    async fn open(broker: &Broker, queue: &str, prefetch: u16) -> Result<Subscription> {
        let generation = broker.link().generation;
        let channel = broker.channel().await?;
        bounded(channel.basic_qos(prefetch.max(1), BasicQosOptions::default())).await.map_err(|e| broker.error(e))?;
        let tag = format!("m8-{}", message::next_message_id());
        let deliveries = bounded(channel.basic_consume(queue.into(), tag.as_str().into(), BasicConsumeOptions::default(), FieldTable::default()))
            .await
            .map_err(|e| broker.error(e))?;
        Ok(Subscription { generation, channel, deliveries, tag, unacked: Unacked::for_prefetch(prefetch) })
    }
}

/// What was done with a message, remembered by id until its delivery is settled.
#[derive(Clone, Debug)]
enum Settled {
    Acked,
    Retried,
    DeadLettered(DeadLettered, Settle),
}

impl ConsumeReport {
    /// After `e` broke the subscription: reconnects (see [`Broker::recover`]), subscribes
    /// again, and counts it.
    async fn recover(&mut self, broker: &Broker, sub: &mut Subscription, queue: &str, prefetch: u16, e: lapin::Error) -> Result<()> {
        broker.recover(sub.generation, e).await?;
        *sub = Subscription::open(broker, queue, prefetch).await?;
        self.recoveries += 1;
        Ok(())
    }

    fn count(&mut self, settled: Settled) {
        match settled {
            Settled::Acked => self.acked += 1,
            Settled::Retried => self.retried += 1,
            Settled::DeadLettered(record, _) => {
                self.dead_lettered += 1;
                self.dead.push(record);
            }
        }
    }
}

/// Why carrying out a decision failed.
enum Fault {
    /// The connection dropped (the loop reconnects; the delivery comes back).
    Dropped(lapin::Error),
}

/// Publishes a copy of `delivery` with `props` and waits for the confirm; true when stored.
async fn forward(broker: &Broker, exchange: &str, routing_key: &str, delivery: &Delivery, props: lapin::BasicProperties) -> std::result::Result<bool, Fault> {
    let link = broker.link();
    let routed = broker.send_confirmed(&link, exchange, routing_key, &delivery.data, props).await.map_err(Fault::Dropped)?;
    Ok(routed == Routed::Stored)
}

/// Sends `delivery` to the dead-letter exchange with the reason in its headers.
async fn dead_letter(broker: &Broker, queue: &str, delivery: &Delivery, reason: &str, attempts: u32) -> std::result::Result<Settled, Fault> {
    let props = copy_properties(&delivery.properties, broker.frame_max(), H_DEATH_REASON, reason, |h| {
        set_str(h, H_DEATH_REASON, reason);
        h.insert(H_ATTEMPTS.into(), AMQPValue::LongUInt(attempts));
        set_str(h, H_ORIGINAL_QUEUE, queue);
        set_str(h, H_ORIGINAL_KEY, delivery.routing_key.as_str());
        h.insert(H_DEAD_US.into(), AMQPValue::LongLongInt(message::now_us()));
    });
    let stored = forward(broker, &broker.topology().dlx(), "", delivery, props).await?;
    let how = if stored { Settle::Ack } else { Settle::Reject };
    Ok(Settled::DeadLettered(dead_record(delivery, reason, attempts), how))
}

fn dead_record(delivery: &Delivery, reason: &str, attempts: u32) -> DeadLettered {
    DeadLettered {
        message_id: delivery.properties.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        reason: reason.to_string(),
        attempts: attempts as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_waits_longer_each_time_until_the_attempts_are_used_up() {
        let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(250) };
        let retry = |attempt| decide(Outcome::Retry("down".into()), attempt, policy);
        assert_eq!(retry(1), Decision::RetryLater { next: 2, delay: Duration::from_millis(250), reason: "down".into() });
        assert_eq!(retry(2), Decision::RetryLater { next: 3, delay: Duration::from_millis(500), reason: "down".into() });
        assert_eq!(retry(3), Decision::DeadLetter { reason: "gave up after 3 attempts: down".into() });
        assert_eq!(decide(Outcome::Reject("bad e-mail".into()), 1, policy), Decision::DeadLetter { reason: "bad e-mail".into() });
        assert_eq!(decide(Outcome::Ack, 3, policy), Decision::Ack);
    }

    #[test]
    fn backoff_doubles_from_the_base_delay() {
        let p = RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(100) };
        let delays: Vec<u128> = (2..=5).map(|n| p.delay_before(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800]);
        assert_eq!(RetryPolicy::default().delay_before(3), Duration::from_secs(2));
    }
}
