//! The dead-letter queue: look at it without losing anything, and replay what was fixed.
//!
//! [`inspect`] takes up to `limit` messages with `basic.get`, keeps them unacknowledged while
//! it reads them (so the broker cannot hand the same one out twice), then gives every one back
//! (`reject` with requeue). [`replay`] sends the messages a predicate picks back to the queue
//! they came from with a fresh attempt count — publish confirmed first, ack second — and gives
//! the rest back.

use lapin::types::AMQPValue;
use serde::Serialize;

use super::{Broker, Taken};
use super::consumer::{H_ATTEMPTS, H_DEAD_US, H_DEATH_REASON, H_ORIGINAL_KEY, H_ORIGINAL_QUEUE};
use super::message::{H_ATTEMPT, header_i64, header_str, with_headers};
use super::producer::Routed;
use crate::error::Result;
use crate::frame_row;

/// One message in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Message id.
    pub message_id: String,
    /// The `type` property (what the publisher said it was).
    pub kind: String,
    /// Why it was dead-lettered (ours, or the broker's `x-death` reason).
    pub reason: String,
    /// Attempts made.
    pub attempts: i64,
    /// The queue it came from.
    pub original_queue: String,
    /// The first 80 characters of the body.
    pub body: String,
}
frame_row!(DeadLetter { message_id, kind, reason, attempts, original_queue, body });

/// What [`replay`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Sent back to their queues.
    pub replayed: usize,
    /// Left in the dead-letter queue.
    pub kept: usize,
}

fn describe(msg: &lapin::message::BasicGetMessage) -> DeadLetter {
    let d = &msg.delivery;
    let h = d.properties.headers().as_ref();
    // Dead-lettered by the broker (reject, TTL, length limit) rather than by us: its x-death
    // table says why and where from.
    let broker_death = h.and_then(|h| match h.inner().get("x-death") {
        Some(AMQPValue::FieldArray(a)) => match a.as_slice().first() {
            Some(AMQPValue::FieldTable(t)) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    });
    let from_death = |key: &str| broker_death.as_ref().and_then(|t| header_str(Some(t), key));
    let body: String = String::from_utf8_lossy(&d.data).chars().take(80).collect();
    DeadLetter {
        message_id: d.properties.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        kind: d.properties.kind().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default(),
        reason: header_str(h, H_DEATH_REASON).or_else(|| from_death("reason").map(|r| format!("broker: {r}"))).unwrap_or_default(),
        attempts: header_i64(h, H_ATTEMPTS).or_else(|| header_i64(h, H_ATTEMPT)).unwrap_or(1),
        original_queue: header_str(h, H_ORIGINAL_QUEUE).or_else(|| from_death("queue")).unwrap_or_default(),
        body,
    }
}

/// Takes up to `limit` messages; when `replay` is given, sends the ones it picks back to their
/// original queue (confirmed, then acked); gives every other one back.
async fn walk(broker: &Broker, limit: usize, replay: Option<&(dyn Fn(&DeadLetter) -> bool + Sync)>) -> Result<(Vec<DeadLetter>, ReplayReport)> {
    let mut taken = Taken::take(broker, &broker.topology().dead_letter_queue(), limit).await?;
    let (mut seen, mut report) = (Vec::new(), ReplayReport::default());
    let outcome: Result<()> = async {
        for i in 0..taken.messages().len() {
            let letter = describe(&taken.messages()[i]);
            let chosen = replay.is_some_and(|pick| !letter.original_queue.is_empty() && pick(&letter));
            if chosen && send_back(broker, &taken.messages()[i], &letter.original_queue).await? {
                taken.ack(broker, i).await?;
                report.replayed += 1;
            } else {
                report.kept += 1;
            }
            seen.push(letter);
        }
        Ok(())
    }
    .await;
    taken.give_back().await;
    outcome.map(|_| (seen, report))
}

/// Publishes a dead letter back to `queue` with attempt 1 and without the dead-letter headers;
/// true when the broker confirmed it stored.
async fn send_back(broker: &Broker, msg: &lapin::message::BasicGetMessage, queue: &str) -> Result<bool> {
    let props = with_headers(&msg.delivery.properties, |h| {
        let mut kept = h.inner().clone();
        kept.retain(|k, _| ![H_DEATH_REASON, H_ATTEMPTS, H_ORIGINAL_QUEUE, H_ORIGINAL_KEY, H_DEAD_US, "x-death"].contains(&k.as_str()));
        *h = kept.into();
        h.insert(H_ATTEMPT.into(), AMQPValue::LongUInt(1));
    });
    Ok(broker.publish_confirmed("", queue, &msg.delivery.data, props).await? == Routed::Stored)
}

/// Up to `limit` dead letters, left in the queue.
pub async fn inspect(broker: &Broker, limit: usize) -> Result<Vec<DeadLetter>> {
    Ok(walk(broker, limit, None).await?.0)
}

/// Sends the dead letters `pick` chooses (among the first `limit`) back to their original
/// queue through the default exchange, with the attempt count reset to 1.
pub async fn replay(broker: &Broker, limit: usize, pick: impl Fn(&DeadLetter) -> bool + Sync) -> Result<ReplayReport> {
    Ok(walk(broker, limit, Some(&pick)).await?.1)
}
