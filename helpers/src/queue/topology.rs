//! The exchanges and queues of the lesson, declared in code.
//!
//! ```text
//!  data_processing (direct) ── user.signup, user.data ──▶ user_data
//!                            ├─ task.urgent ────────────▶ urgent_tasks   (x-max-priority 10)
//!                            └─ task.recommendations ───▶ recommendations  (the architecture flow's, declared when it runs)
//!  notifications (topic) ──── notification.email.# ─────▶ notifications.email
//!                         └── notification.# ───────────▶ notifications.audit
//!  analytics (fanout) ───────────────────────────────────▶ analytics.store, analytics.metrics, analytics.alerts
//!                                                         (+ analytics.dashboard, the architecture flow's)
//!  dlx (fanout) ─────────────────────────────────────────▶ dead_letters
//!  <queue>.retry.<ms>ms  (x-message-ttl, dead-letters back to <queue> through the default exchange,
//!                        x-expires: gone a minute after its last use)
//! ```
//!
//! Every name starts with the topology's prefix (`module8.` by default, a run namespace in
//! tests), so runs never collide and [`Topology::delete`] removes exactly what was declared.
//! A run's own topology ([`Topology::unique`]: the notebooks', the tests') also cleans up after
//! itself when nobody does: its queues expire ([`LESSON_EXPIRY`] after their last use,
//! `x-expires`) and its exchanges are auto-delete, gone with their last queue — so a cell
//! interrupted halfway, whose clean-up never ran, leaves nothing on the broker for long.
//! Exchanges and queues are durable, messages persistent; every work queue dead-letters into
//! `dlx`, so a message the broker drops (rejected, expired, over a length limit) still lands
//! in `dead_letters`. Every queue asks for the second version of classic-queue storage
//! ([`QUEUE_VERSION`]), which stores persistent messages faster; a queue that already exists
//! with other storage is used as it is.

use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::ExchangeKind;
use serde::Serialize;

use super::Broker;
use crate::error::{Error, Result};
use crate::frame_row;

/// Highest priority the priority queue honours (`x-max-priority`).
pub const MAX_PRIORITY: u8 = 10;

/// The classic-queue storage every queue here is declared with (`x-queue-version`). Version 2
/// (RabbitMQ 3.10 and later; recommended for every new deployment from 3.13, the only one
/// left in 4.3) is a faster on-disk format for persistent messages than version 1, which 3.x
/// brokers such as Debian 12's 3.10 use unless asked. On this project's 2-core machine, 20
/// alternating rounds of a minimal publisher: 1.15x (134 B) and 1.20x (300 B) more confirmed
/// persistent publishes per second, faster in every round; consuming unchanged
/// (docs/bench.md). What a client sees does not change: the same durability, acks and dead
/// letters.
pub const QUEUE_VERSION: i32 = 2;

/// How long a run's own queues outlive their last use ([`Topology::unique`]): a queue nobody
/// consumes from, reads with `basic.get` or declares again for this long is deleted by the
/// broker with its messages, and an exchange goes when its last queue has. Every
/// [`super::SyncBroker`] call declares the topology again, which starts the clock anew, so a
/// lesson keeps its queues while a learner works through it; left alone five minutes, they go.
pub const LESSON_EXPIRY: Duration = Duration::from_secs(300);

/// Names of the lesson's exchanges and queues under one prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
    expires: Option<Duration>,
    quorum: bool,
}

/// One exchange, queue or binding, for the notebook's table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Declared {
    /// `exchange` or `queue`.
    pub kind: String,
    /// Full name.
    pub name: String,
    /// Exchange type, or the queue's arguments.
    pub detail: String,
    /// For a queue: the exchange and routing keys it is bound with.
    pub bound: String,
}
frame_row!(Declared { kind, name, detail, bound });

impl Topology {
    /// A topology whose names all start with `prefix.`; the prefix may hold letters, digits,
    /// `-`, `_` and `.` (at most 100 characters).
    pub fn new(prefix: &str) -> Result<Topology> {
        let ok = !prefix.is_empty() && prefix.len() <= 100 && prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(Error::InvalidInput(format!("topology prefix `{prefix}` must be 1–100 characters of letters, digits, `-`, `_` or `.`")));
        }
        Ok(Topology { prefix: prefix.to_string(), expires: None, quorum: false })
    }

    /// A topology of its own for one run or test: `prefix-<pid>-<nanos>`, whose queues expire
    /// [`LESSON_EXPIRY`] after their last use and whose exchanges go with them.
    pub fn unique(prefix: &str) -> Topology {
        Topology { prefix: super::run_namespace(prefix), expires: Some(LESSON_EXPIRY), quorum: false }
    }

    /// The same names with queues that expire `after` their last use (and auto-delete
    /// exchanges), or, with `None`, that last until they are deleted. Default: [`LESSON_EXPIRY`]
    /// for [`Topology::unique`], `None` for [`Topology::new`].
    pub fn expiring(self, after: Option<Duration>) -> Topology {
        Topology { expires: after, ..self }
    }

    /// The same names with every queue a **quorum queue** (`x-queue-type: quorum`): replicated
    /// on the cluster's nodes (all of them, up to five, by RabbitMQ's default), a leader and
    /// followers agreeing by Raft, so the queue and its confirmed messages survive a node's
    /// death while most of its members live. Declare them once the cluster has all its nodes:
    /// a quorum queue's members are the nodes running at its declaration. Quorum queues have no
    /// `x-max-priority` (RabbitMQ 3.x): the priority queue is an ordinary one here.
    pub fn quorum(self) -> Topology {
        Topology { quorum: true, ..self }
    }

    /// Whether the queues are quorum queues ([`Topology::quorum`]).
    pub fn is_quorum(&self) -> bool {
        self.quorum
    }

    /// How long the queues outlive their last use (`None`: until deleted).
    pub fn expires(&self) -> Option<Duration> {
        self.expires
    }

    /// A queue's arguments with this topology's expiry added.
    fn expiring_args(&self, mut args: FieldTable) -> FieldTable {
        if let Some(after) = self.expires {
            args.insert("x-expires".into(), AMQPValue::LongLongInt(after.as_millis() as i64));
        }
        if self.quorum {
            args.insert("x-queue-type".into(), text("quorum"));
        }
        args
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    /// Direct exchange for user data and tasks.
    pub fn data_processing(&self) -> String {
        self.name("data_processing")
    }
    /// Topic exchange for notifications (`notification.<channel>.<kind>`).
    pub fn notifications(&self) -> String {
        self.name("notifications")
    }
    /// Fanout exchange for analytics events.
    pub fn analytics(&self) -> String {
        self.name("analytics")
    }
    /// The dead-letter exchange (fanout).
    pub fn dlx(&self) -> String {
        self.name("dlx")
    }
    /// Queue of user data events.
    pub fn user_data_queue(&self) -> String {
        self.name("user_data")
    }
    /// Queue of e-mail notifications (`notification.email.#`).
    pub fn email_queue(&self) -> String {
        self.name("notifications.email")
    }
    /// Queue that sees every notification (`notification.#`).
    pub fn audit_queue(&self) -> String {
        self.name("notifications.audit")
    }
    /// The analytics fan-out's queues: store, metrics, alerts.
    pub fn analytics_queues(&self) -> [String; 3] {
        [self.name("analytics.store"), self.name("analytics.metrics"), self.name("analytics.alerts")]
    }
    /// The architecture's recommendation tasks (`task.recommendations` on `data_processing`);
    /// declared by [`Topology::declare_architecture`].
    pub fn recommendations_queue(&self) -> String {
        self.name("recommendations")
    }
    /// The architecture's fourth analytics consumer, the live dashboard; declared by
    /// [`Topology::declare_architecture`].
    pub fn dashboard_queue(&self) -> String {
        self.name("analytics.dashboard")
    }
    /// The priority queue (`task.urgent` on `data_processing`).
    pub fn priority_queue(&self) -> String {
        self.name("urgent_tasks")
    }
    /// The dead-letter queue.
    pub fn dead_letter_queue(&self) -> String {
        self.name("dead_letters")
    }
    /// The delay queue that holds `queue`'s messages for `delay` before they return to it.
    pub fn delay_queue(&self, queue: &str, delay: Duration) -> String {
        format!("{queue}.retry.{}ms", delay.as_millis())
    }

    fn work_queues(&self) -> Vec<(String, Option<(String, Vec<&'static str>)>, FieldTable)> {
        let dead_letter = self.expiring_args(table(&[("x-dead-letter-exchange", text(&self.dlx()))]));
        let mut priority = dead_letter.clone();
        if !self.quorum {
            priority.insert("x-max-priority".into(), AMQPValue::ShortShortUInt(MAX_PRIORITY));
        }
        let mut queues = vec![
            (self.user_data_queue(), Some((self.data_processing(), vec!["user.signup", "user.data"])), dead_letter.clone()),
            (self.priority_queue(), Some((self.data_processing(), vec!["task.urgent"])), priority),
            (self.email_queue(), Some((self.notifications(), vec!["notification.email.#"])), dead_letter.clone()),
            (self.audit_queue(), Some((self.notifications(), vec!["notification.#"])), dead_letter.clone()),
        ];
        for q in self.analytics_queues() {
            queues.push((q, Some((self.analytics(), vec![""])), dead_letter.clone()));
        }
        queues.push((self.dead_letter_queue(), Some((self.dlx(), vec![""])), self.expiring_args(FieldTable::default())));
        queues
    }

    /// The two queues only the whole-architecture flow uses (`crate::architecture`): they are
    /// declared when it runs, so a lesson that never runs it leaves no queue unconsumed.
    fn architecture_queues(&self) -> Vec<(String, Option<(String, Vec<&'static str>)>, FieldTable)> {
        let dead_letter = self.expiring_args(table(&[("x-dead-letter-exchange", text(&self.dlx()))]));
        vec![
            (self.recommendations_queue(), Some((self.data_processing(), vec!["task.recommendations"])), dead_letter.clone()),
            (self.dashboard_queue(), Some((self.analytics(), vec![""])), dead_letter),
        ]
    }

    /// Declares the recommendation queue and the dashboard's queue on the fan-out (after
    /// [`Topology::declare`]; idempotent).
    pub async fn declare_architecture(&self, broker: &Broker) -> Result<()> {
        self.declare_queues(broker, self.architecture_queues()).await
    }

    async fn declare_queues(&self, broker: &Broker, queues: Vec<(String, Option<(String, Vec<&'static str>)>, FieldTable)>) -> Result<()> {
        let mut ch = broker.channel().await?;
        for (queue, binding, args) in queues {
            ch = declare_queue(broker, ch, &queue, args).await?;
            if let Some((exchange, keys)) = binding {
                for key in keys {
                    ch.queue_bind(queue.as_str().into(), exchange.as_str().into(), key.into(), QueueBindOptions::default(), FieldTable::default())
                        .await
                        .map_err(|e| broker.error(e))?;
                }
            }
        }
        let _ = super::bounded(ch.close(200, "OK".into())).await;
        Ok(())
    }

    /// Declares every exchange, queue and binding (idempotent).
    pub async fn declare(&self, broker: &Broker) -> Result<()> {
        let ch = broker.channel().await?;
        let durable = ExchangeDeclareOptions { durable: true, auto_delete: self.expires.is_some(), ..Default::default() };
        for (name, kind) in [
            (self.data_processing(), ExchangeKind::Direct),
            (self.notifications(), ExchangeKind::Topic),
            (self.analytics(), ExchangeKind::Fanout),
            (self.dlx(), ExchangeKind::Fanout),
        ] {
            ch.exchange_declare(name.as_str().into(), kind, durable, FieldTable::default()).await.map_err(|e| broker.error(e))?;
        }
        let _ = super::bounded(ch.close(200, "OK".into())).await;
        self.declare_queues(broker, self.work_queues()).await
    }

    /// Declares the delay queue for retries of `queue` after `delay`: its messages expire
    /// after `delay` and dead-letter back into `queue` through the default exchange. One queue
    /// per delay, so every message in it has the same time to live and none waits behind a
    /// longer one. The queue deletes itself (`x-expires`) a minute after it was last declared
    /// and its messages have left.
    pub async fn declare_delay_queue(&self, broker: &Broker, queue: &str, delay: Duration) -> Result<String> {
        let name = self.delay_queue(queue, delay);
        let args = table(&[
            ("x-message-ttl", AMQPValue::LongLongInt(delay.as_millis() as i64)),
            ("x-dead-letter-exchange", text("")),
            ("x-dead-letter-routing-key", text(queue)),
            ("x-expires", AMQPValue::LongLongInt(delay.as_millis() as i64 + 60_000)),
        ]);
        let ch = declare_queue(broker, broker.channel().await?, &name, args).await?;
        let _ = super::bounded(ch.close(200, "OK".into())).await;
        Ok(name)
    }

    /// What [`Topology::declare`] creates, as table rows.
    pub fn describe(&self) -> Vec<Declared> {
        let mut rows: Vec<Declared> = [
            (self.data_processing(), "direct"),
            (self.notifications(), "topic"),
            (self.analytics(), "fanout"),
            (self.dlx(), "fanout (dead letters)"),
        ]
        .into_iter()
        .map(|(name, kind)| {
            let detail = if self.expires.is_some() { format!("{kind}, durable, auto-delete") } else { format!("{kind}, durable") };
            Declared { kind: "exchange".into(), name, detail, bound: String::new() }
        })
        .collect();
        for (queue, binding, args) in self.work_queues() {
            let args = args.inner().iter().map(|(k, v)| match v {
                AMQPValue::LongString(s) => format!("{k}={}", String::from_utf8_lossy(s.as_bytes())),
                AMQPValue::ShortShortUInt(n) => format!("{k}={n}"),
                AMQPValue::LongLongInt(n) => format!("{k}={n}"),
                other => format!("{k}={other:?}"),
            });
            let storage = if self.quorum { None } else { Some(format!("x-queue-version={QUEUE_VERSION}")) };
            let detail = std::iter::once("durable".to_string()).chain(storage).chain(args).collect::<Vec<_>>().join(", ");
            let bound = binding
                .map(|(exchange, keys)| format!("{exchange}: {}", keys.iter().map(|k| if k.is_empty() { "(all)" } else { k }).collect::<Vec<_>>().join(", ")))
                .unwrap_or_default();
            rows.push(Declared { kind: "queue".into(), name: queue, detail, bound });
        }
        rows
    }

    /// Deletes every queue (the work queues and the delay queues in `delay_queues`) and
    /// exchange.
    pub async fn delete(&self, broker: &Broker, delay_queues: &[String]) -> Result<()> {
        let ch = broker.channel().await?;
        let declared = self.work_queues().into_iter().chain(self.architecture_queues());
        let queues = declared.map(|(q, _, _)| q).chain(delay_queues.iter().cloned());
        for q in queues {
            // A queue that was never declared is fine: deleting it is a no-op in RabbitMQ.
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.map_err(|e| broker.error(e))?;
        }
        for x in [self.data_processing(), self.notifications(), self.analytics(), self.dlx()] {
            ch.exchange_delete(x.as_str().into(), ExchangeDeleteOptions::default()).await.map_err(|e| broker.error(e))?;
        }
        let _ = super::bounded(ch.close(200, "OK".into())).await;
        Ok(())
    }
}

/// Declares `queue` durable with `args` and [`QUEUE_VERSION`], on `ch`. A queue that already
/// exists with other storage — declared by an earlier version of these helpers (no version
/// given), with version 1 asked for explicitly, or on a broker that refuses the argument —
/// makes the broker close the channel (`PRECONDITION_FAILED`, "inequivalent arg
/// 'x-queue-version'"); it is then declared again on a new channel, without the argument and,
/// failing that, as version 1, and used as it is. The other arguments are checked each time;
/// any other refusal is an error. Returns the channel to go on with.
async fn declare_queue(broker: &Broker, mut ch: lapin::Channel, queue: &str, args: FieldTable) -> Result<lapin::Channel> {
    // A quorum queue has no classic storage version to ask for.
    let quorum = args.inner().contains_key("x-queue-type");
    let attempts: &[Option<i32>] = if quorum { &[None] } else { &[Some(QUEUE_VERSION), None, Some(1)] };
    for (i, &version) in attempts.iter().enumerate() {
        let mut asked = args.clone();
        if let Some(v) = version {
            asked.insert("x-queue-version".into(), AMQPValue::LongInt(v));
        }
        match ch.queue_declare(queue.into(), QueueDeclareOptions::durable(), asked).await {
            Ok(_) => {
                if i > 0 {
                    tracing::info!(target: "helpers::queue", queue, ?version, "the queue exists with other storage; used as it is");
                }
                return Ok(ch);
            }
            Err(e) if names_queue_version(&e) && i + 1 < attempts.len() => ch = broker.channel().await?,
            Err(e) => return Err(broker.error(e)),
        }
    }
    unreachable!("the last attempt returns")
}

/// Whether the broker refused a declare because of `x-queue-version`.
fn names_queue_version(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(err) if err.get_message().as_str().contains("x-queue-version"))
}

/// An AMQP long string value.
pub(crate) fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// A field table from pairs.
pub(crate) fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), v.clone());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_with_spaces_or_slashes_is_refused() {
        assert!(Topology::new("module8").is_ok());
        for bad in ["", "a b", "x/y", "é"] {
            assert!(Topology::new(bad).unwrap_err().to_string().contains("topology prefix"), "{bad:?}");
        }
    }

    #[test]
    fn every_work_queue_dead_letters_and_the_priority_queue_has_a_maximum() {
        let t = Topology::new("t").unwrap();
        let rows = t.describe();
        let queues: Vec<&Declared> = rows.iter().filter(|r| r.kind == "queue" && r.name != "t.dead_letters").collect();
        assert_eq!(queues.len(), 7);
        assert!(queues.iter().all(|q| q.detail.contains("x-dead-letter-exchange=t.dlx")), "{queues:?}");
        assert!(rows.iter().any(|r| r.name == "t.urgent_tasks" && r.detail.contains("x-max-priority=10")));
        let dead_letters = rows.iter().find(|r| r.name == "t.dead_letters").unwrap();
        assert_eq!(dead_letters.detail, "durable, x-queue-version=2");
        assert!(queues.iter().all(|q| q.detail.starts_with("durable, x-queue-version=2, ")), "{queues:?}");
        assert_eq!(t.delay_queue("t.user_data", Duration::from_millis(250)), "t.user_data.retry.250ms");
    }

    #[test]
    fn a_runs_own_topology_expires_and_a_named_one_lasts() {
        let run = Topology::unique("t").describe();
        assert!(run.iter().filter(|r| r.kind == "queue").all(|q| q.detail.contains("x-expires=300000")), "{run:?}");
        assert!(run.iter().filter(|r| r.kind == "exchange").all(|x| x.detail.ends_with("auto-delete")), "{run:?}");
        let lasting = Topology::new("t").unwrap().describe();
        assert!(lasting.iter().all(|r| !r.detail.contains("x-expires") && !r.detail.contains("auto-delete")), "{lasting:?}");
        let shorter = Topology::unique("t").expiring(Some(Duration::from_secs(2)));
        assert!(shorter.describe().iter().filter(|r| r.kind == "queue").all(|q| q.detail.contains("x-expires=2000")));
        assert_eq!(Topology::unique("t").expiring(None).expires(), None);
    }

    #[test]
    fn a_quorum_topology_makes_every_queue_a_quorum_queue_without_classic_arguments() {
        let rows = Topology::new("t").unwrap().quorum().describe();
        let queues: Vec<&Declared> = rows.iter().filter(|r| r.kind == "queue").collect();
        assert_eq!(queues.len(), 8);
        assert!(queues.iter().all(|q| q.detail.contains("x-queue-type=quorum") && !q.detail.contains("x-queue-version")), "{queues:?}");
        assert!(queues.iter().all(|q| !q.detail.contains("x-max-priority")), "quorum queues have no priorities in 3.x: {queues:?}");
        assert!(Topology::unique("t").quorum().is_quorum() && !Topology::unique("t").is_quorum());
    }
}
