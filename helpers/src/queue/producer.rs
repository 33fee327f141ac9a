//! Publishing with publisher confirms.
//!
//! Every publish is `mandatory` and waits for the broker's confirm, so the caller learns one
//! of three things about each message: the broker stored it in at least one queue
//! ([`Routed::Stored`]), it matched no queue and came back ([`Routed::Returned`], with the
//! broker's reason), or the broker refused it ([`Routed::Nacked`]). [`publish_batch`] sends a
//! whole batch before waiting, which is where confirmed publishing gets its throughput.

use std::time::Instant;

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Confirmation, PublisherConfirm};
use serde::Serialize;

use super::message::{AnalyticsEvent, Message, Notification, UserData};
use super::{BROKER_TIMEOUT, Broker, Link};
use crate::error::Result;
use crate::frame_row;

/// What became of one published message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Routed {
    /// Confirmed and stored in at least one queue.
    Stored,
    /// Confirmed, but no queue matched: the broker returned it.
    Returned {
        /// AMQP reply code (312 = NO_ROUTE).
        code: u16,
        /// The broker's words.
        reason: String,
    },
    /// The broker refused it (negative confirm).
    Nacked,
}

impl Routed {
    /// One word for a table: `stored`, `returned: NO_ROUTE`, `nacked`.
    pub fn label(&self) -> String {
        match self {
            Routed::Stored => "stored".into(),
            Routed::Returned { reason, .. } => format!("returned: {reason}"),
            Routed::Nacked => "nacked".into(),
        }
    }
}

/// One published message: where it went and its id.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Published {
    /// The message id.
    pub message_id: String,
    /// The message type.
    pub kind: String,
    /// Exchange it was sent to.
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// What the broker did with it.
    pub outcome: String,
    /// From publish to confirm, in µs.
    pub confirm_us: f64,
}
frame_row!(Published { message_id, kind, exchange, routing_key, outcome, confirm_us });

/// What a batch publish achieved.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BatchReport {
    /// Messages sent.
    pub sent: usize,
    /// Confirmed and stored.
    pub stored: usize,
    /// Returned unroutable.
    pub returned: usize,
    /// Refused by the broker.
    pub nacked: usize,
    /// Cut off by a dropped connection and published again once it was back.
    pub resent: usize,
    /// Wall time from the first publish to the last confirm, in seconds.
    pub seconds: f64,
}

impl BatchReport {
    fn count(&mut self, outcome: &Routed) {
        match outcome {
            Routed::Stored => self.stored += 1,
            Routed::Returned { .. } => self.returned += 1,
            Routed::Nacked => self.nacked += 1,
        }
    }

    /// Messages per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.sent as f64 / self.seconds } else { f64::NAN }
    }
}

/// What the broker's confirm says about one message.
fn routed_of(confirmation: Confirmation) -> Routed {
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Routed::Stored,
        Confirmation::Ack(Some(ret)) | Confirmation::Nack(Some(ret)) => Routed::Returned { code: ret.reply_code, reason: ret.reply_text.as_str().to_string() },
        Confirmation::Nack(None) => Routed::Nacked,
    }
}

/// Waits (bounded by [`BROKER_TIMEOUT`]) for the confirm of a publish sent on `link` when it
/// had seen `errors` error events. Any error is a dropped connection (or a confirm that did not
/// come in time) that the caller recovers from ([`Broker::recover`]) and resends after, with the
/// same message id; a consumer recognises the copy.
pub(crate) async fn confirmed(link: &Link, confirm: PublisherConfirm, errors: u64) -> lapin::Result<Routed> {
    let mut changes = link.error_changes();
    let stale = *changes.borrow_and_update() != errors;
    let dropped = |why: String| Err(lapin::Error::from(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, why)));
    tokio::select! {
        biased;
        answer = tokio::time::timeout(BROKER_TIMEOUT, confirm) => match answer {
            Ok(answer) => answer.map(routed_of),
            // A confirm that does not come is handled like a drop: the caller resends (bounded
            // by MAX_RESENDS and RECOVERY_TIMEOUT), so it costs time, never the message.
            Err(_) => dropped(format!("no confirm from RabbitMQ within {} s", BROKER_TIMEOUT.as_secs())),
        },
        // The connection reported an error while we waited: this confirm will never come.
        _ = async { if !stale { let _ = changes.changed().await; } } => dropped("the connection dropped before this publish was confirmed".into()),
    }
}

impl Broker {
    /// Publishes (`mandatory`) on `link`'s confirming channel without waiting for the confirm
    /// (a batch waits for all of them after).
    pub(crate) async fn send(&self, link: &Link, exchange: &str, routing_key: &str, body: &[u8], props: BasicProperties) -> lapin::Result<PublisherConfirm> {
        // One `debug` event per message sent (target `helpers::queue`): `info` would flood a
        // log with a benchmark's thousands.
        tracing::debug!(target: "helpers::queue", exchange, routing_key, bytes = body.len(),
            message_id = props.message_id().as_ref().map(|id| id.as_str()).unwrap_or(""),
            kind = props.kind().as_ref().map(|k| k.as_str()).unwrap_or(""), "publish");
        super::bounded(link.publisher().basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions { mandatory: true, ..Default::default() }, body, props)).await
    }

    /// [`Broker::send`], then [`confirmed`]: errors as there.
    pub(crate) async fn send_confirmed(&self, link: &Link, exchange: &str, routing_key: &str, body: &[u8], props: BasicProperties) -> lapin::Result<Routed> {
        let errors = link.errors_seen();
        let confirm = self.send(link, exchange, routing_key, body, props).await?;
        confirmed(link, confirm, errors).await
    }

    /// Publishes one message and waits for its confirm.
    pub async fn publish(&self, exchange: &str, routing_key: &str, message: &Message) -> Result<Published> {
        self.publish_with_priority(exchange, routing_key, message, None).await
    }

    /// Publishes one message with an AMQP priority (0–10 on the priority queue) and waits for
    /// its confirm.
    pub async fn publish_with_priority(&self, exchange: &str, routing_key: &str, message: &Message, priority: Option<u8>) -> Result<Published> {
        let started = Instant::now();
        let (body, props) = message.envelope(priority);
        let message_id = props.message_id().as_ref().map(|s| s.as_str().to_string()).unwrap_or_default();
        let outcome = self.publish_confirmed(exchange, routing_key, &body, props).await?;
        Ok(Published {
            message_id,
            kind: message.type_name().into(),
            exchange: exchange.into(),
            routing_key: routing_key.into(),
            outcome: outcome.label(),
            confirm_us: started.elapsed().as_secs_f64() * 1e6,
        })
    }

    /// Publishes every message, then waits for all the confirms: one round trip's wait for
    /// the whole batch instead of one per message. Messages whose publish or confirm was cut
    /// off by a dropped connection are kept and sent again, one by one, once it is back
    /// (same message ids: at least once, never lost).
    pub async fn publish_batch(&self, exchange: &str, routing_key: &str, messages: &[Message]) -> Result<BatchReport> {
        let started = Instant::now();
        let envelopes: Vec<(Vec<u8>, BasicProperties)> = messages.iter().map(|m| m.envelope(None)).collect();
        for (body, props) in &envelopes {
            self.check_size(exchange, body, props)?; // one too large would close the connection for all
        }
        let link = self.link();
        let errors = link.errors_seen();
        // Every publish is queued on the channel before any is awaited (one wake of lapin's
        // writer per batch); the order on the wire stays the batch's.
        let sends = super::queue_then_await(envelopes.iter().map(|(body, props)| self.send(&link, exchange, routing_key, body, props.clone()))).await;
        let mut pending = Vec::with_capacity(messages.len());
        for (i, sent) in sends.into_iter().enumerate() {
            match sent {
                Ok(confirm) => pending.push((i, Some(confirm))),
                Err(_) => pending.push((i, None)), // resent below
            }
        }
        let mut report = BatchReport { sent: messages.len(), ..Default::default() };
        let mut unconfirmed = Vec::new();
        let mut dropped = None;
        for (i, confirm) in pending {
            let outcome = match confirm {
                Some(c) => confirmed(&link, c, errors).await,
                None => {
                    unconfirmed.push(i);
                    continue;
                }
            };
            match outcome {
                // On a cluster a negative confirm is resent after a reconnect (Broker::publish_confirmed).
                Ok(Routed::Nacked) if self.is_cluster() => {
                    dropped.get_or_insert(super::broker::nacked_on_cluster());
                    unconfirmed.push(i);
                }
                Ok(routed) => report.count(&routed),
                Err(e) => {
                    dropped.get_or_insert(e);
                    unconfirmed.push(i);
                }
            }
        }
        // Reconnect once for the batch, then resend what was not confirmed, one by one.
        if let Some(e) = dropped {
            if self.is_cluster() {
                tokio::time::sleep(super::NACK_PAUSE).await;
            }
            self.recover(link.generation, e).await?;
        }
        report.resent = unconfirmed.len();
        for i in unconfirmed {
            let (body, props) = &envelopes[i];
            let outcome = self.publish_confirmed(exchange, routing_key, body, props.clone()).await?;
            report.count(&outcome);
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The original's `publish_user_data_event`: a [`UserData`] to `data_processing`, key
    /// `user.signup`, stamped with the current time.
    pub async fn publish_user_data_event(&self, username: &str, email: &str) -> Result<Published> {
        let m = Message::UserData(UserData {
            username: username.into(),
            email: email.into(),
            registration_date: chrono::Utc::now().to_rfc3339(),
            country: None,
        });
        self.publish(&self.topology().data_processing(), "user.signup", &m).await
    }

    /// The original's `publish_notification`: an e-mail [`Notification`] to the topic
    /// exchange, key `notification.email.<kind>`.
    pub async fn publish_notification(&self, recipient: &str, subject: &str, content: &str, kind: &str) -> Result<Published> {
        let m = Message::Notification(Notification { recipient: recipient.into(), subject: subject.into(), content: content.into(), channel: "email".into() });
        self.publish(&self.topology().notifications(), &format!("notification.email.{kind}"), &m).await
    }

    /// The original's `publish_analytics_event`: an [`AnalyticsEvent`] to the fanout exchange,
    /// which copies it to every analytics queue.
    pub async fn publish_analytics_event(&self, event_type: &str, user_id: i64, properties: serde_json::Value) -> Result<Published> {
        let m = Message::Analytics(AnalyticsEvent { event_type: event_type.into(), user_id, properties });
        self.publish(&self.topology().analytics(), "", &m).await
    }
}
