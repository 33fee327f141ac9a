//! Cutting the connection under load, as a lesson: what at-least-once delivery and an id per
//! message buy you.
//!
//! A broker restart, a failover or a dropped network all look the same from the client: the
//! TCP connection ends. A [`CuttableLink`] between the helpers and any broker (yours, Docker's,
//! a cloud one) ends every connection through it on demand ([`CuttableLink::interrupt`]), so a
//! notebook can show the fault without stopping a server it does not own. [`connection_cuts`]
//! publishes and consumes through one while cutting, and counts what happened to every message.
//! The fault suite (`helpers/tests/faults.rs`) does the same with a real node restart and kill.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::consumer::{ConsumeLimits, Outcome, Received, RetryPolicy, Stop, consume};
use super::message::{Message, UserData};
use super::{Broker, Topology};
use crate::config::ServiceUrl;
use crate::error::{Error, Result};
use crate::link::CuttableLink;

/// What happened to the messages of [`connection_cuts`].
#[derive(Clone, Debug, Serialize)]
pub struct CutReport {
    /// Messages published (each with its own id).
    pub published: usize,
    /// Confirmed by the broker in the end.
    pub confirmed: usize,
    /// Publishes repeated because the connection dropped before their confirm.
    pub resent: usize,
    /// Distinct message ids the handler processed.
    pub processed: usize,
    /// Ids the handler processed more than once (the lesson's point: 0).
    pub processed_twice: usize,
    /// Published but never processed (0).
    pub lost: usize,
    /// Deliveries the consumer recognised by id and settled without calling the handler again.
    pub duplicates_skipped: usize,
    /// Times the publisher's connection dropped and came back.
    pub publisher_recoveries: u32,
    /// Times the consumer's connection dropped and came back.
    pub consumer_recoveries: u32,
    /// Connection cuts made.
    pub cuts: usize,
    /// For each cut (or fault), seconds from it to the last confirm of the first batch of
    /// publishes begun after it.
    pub recovery_seconds: Vec<f64>,
    /// Wall time of the whole run, in seconds.
    pub seconds: f64,
    /// `(seconds, confirmed so far, processed so far)`, sampled every 50 ms.
    pub timeline: Vec<(f64, usize, usize)>,
    /// When each cut happened, in seconds from the start.
    pub cut_at: Vec<f64>,
    /// Whether the consumer ended by reaching its count (rather than a limit or an error).
    pub consumer_finished: bool,
}

impl CutReport {
    /// Messages confirmed by the broker over time, `(seconds, messages)`, for a chart.
    pub fn confirmed_curve(&self) -> Vec<(f64, f64)> {
        self.timeline.iter().map(|&(at, confirmed, _)| (at, confirmed as f64)).collect()
    }

    /// Distinct messages processed over time, `(seconds, messages)`, for a chart.
    pub fn processed_curve(&self) -> Vec<(f64, f64)> {
        self.timeline.iter().map(|&(at, _, processed)| (at, processed as f64)).collect()
    }

    /// The counts as `(what, value)` rows, for a table.
    pub fn rows(&self) -> Vec<(String, String)> {
        let secs = |v: &[f64]| v.iter().map(|s| format!("{s:.2} s")).collect::<Vec<_>>().join(", ");
        vec![
            ("published".into(), self.published.to_string()),
            ("confirmed".into(), self.confirmed.to_string()),
            ("resent after a cut".into(), self.resent.to_string()),
            ("processed (distinct ids)".into(), self.processed.to_string()),
            ("processed twice".into(), self.processed_twice.to_string()),
            ("lost".into(), self.lost.to_string()),
            ("redeliveries skipped by id".into(), self.duplicates_skipped.to_string()),
            ("connection cuts".into(), self.cuts.to_string()),
            ("publisher reconnections".into(), self.publisher_recoveries.to_string()),
            ("consumer reconnections".into(), self.consumer_recoveries.to_string()),
            ("cut → first batch after it confirmed".into(), secs(&self.recovery_seconds)),
            ("consumer ran to its count".into(), self.consumer_finished.to_string()),
            ("wall time".into(), format!("{:.2} s", self.seconds)),
        ]
    }
}

fn signup(i: usize) -> Message {
    Message::UserData(UserData {
        username: format!("learner{i}"),
        email: format!("learner{i}@example.com"),
        registration_date: "2026-01-01T00:00:00Z".into(),
        country: None,
    })
}

/// Publishes `n` sign-ups with confirms (batches of 100, paced) while one consumer processes
/// them, both connected through a [`CuttableLink`] to the broker at `url`, and cuts every
/// connection `cuts` times along the way. The publisher resends what was not confirmed; the
/// consumer keeps running (lapin reconnects it), the broker redelivers what was not acked,
/// and the consume loop recognises copies by message id. Counts per id what the handler did.
/// Uses a topology of its own, deleted afterwards. Bounded: the consumer stops after `n`
/// messages, 30 s without a delivery, or 120 s in all.
pub async fn connection_cuts(url: &ServiceUrl, n: usize, cuts: usize) -> Result<CutReport> {
    let link = CuttableLink::to(url, 5672).await?;
    let through = link.url_through(url);
    let faults = Faults { publisher: &through, consumer: &through, topology: Topology::unique("cuts"), count: cuts, cleanup: super::Cleanup::Remove };
    through_faults(faults, n, |_| {
        link.interrupt();
        std::future::ready(Ok(()))
    })
    .await
}

/// Where [`through_faults`] publishes and consumes, and how many faults it makes.
pub struct Faults<'a> {
    /// The publisher's URL (several hosts: a cluster, the first host first).
    pub publisher: &'a ServiceUrl,
    /// The consumer's URL.
    pub consumer: &'a ServiceUrl,
    /// The exchanges and queues, declared by both.
    pub topology: Topology,
    /// How many faults, spread evenly over the publishing.
    pub count: usize,
    /// Whether the topology is deleted afterwards (not on a cluster about to be stopped: a
    /// quorum queue with a dead member takes long to delete).
    pub cleanup: super::Cleanup,
}

/// [`connection_cuts`] with any fault: `fault(i)` is called for the i-th fault (0, 1, …) while
/// the publishing runs — a cut link, a node killed — and the clock to the next confirm starts
/// when it has returned.
pub async fn through_faults<F>(faults: Faults<'_>, n: usize, mut fault: impl FnMut(usize) -> F + Send) -> Result<CutReport>
where
    F: std::future::Future<Output = Result<()>> + Send,
{
    let Faults { publisher, consumer, topology, count: cuts, cleanup } = faults;
    let publisher = Broker::connect(publisher, topology.clone()).await?;
    let consumer = Broker::connect(consumer, topology.clone()).await?;
    let started = Instant::now();

    let handled: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = handled.clone();
    let queue = topology.user_data_queue();
    let consuming = tokio::spawn(async move {
        let limits = ConsumeLimits { max_messages: n, idle: Duration::from_secs(30), total: Duration::from_secs(120), prefetch: 100 };
        let report = consume(&consumer, &queue, limits, RetryPolicy::default(), move |r: &Received| {
            if let Ok(mut h) = seen.lock() {
                *h.entry(r.message_id.clone()).or_default() += 1;
            }
            Outcome::Ack
        })
        .await;
        let recoveries = consumer.recoveries();
        consumer.close().await;
        (report, recoveries)
    });

    let confirmed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // When each batch was begun and when its last confirm came: the recovery after a fault is
    // measured to the first batch begun after it, never to one that was confirmed before it.
    let batches: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let publishing = {
        let confirmed = confirmed.clone();
        let batches = batches.clone();
        let exchange = topology.data_processing();
        async move {
            let (mut stored, mut resent) = (0, 0);
            let messages: Vec<Message> = (0..n).map(signup).collect();
            for batch in messages.chunks(100) {
                let begun = Instant::now();
                let r = publisher.publish_batch(&exchange, "user.signup", batch).await?;
                if let Ok(mut b) = batches.lock() {
                    b.push((begun, Instant::now()));
                }
                stored += r.stored;
                resent += r.resent;
                confirmed.fetch_add(r.stored, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, Error>((stored, resent, publisher))
        }
    };
    let publishing = tokio::spawn(publishing);

    // The cuts, evenly spread over the publishing, and a sampler of the progress.
    let mut cut_at = Vec::new();
    let mut recovery_seconds = Vec::new();
    let mut timeline = Vec::new();
    let pace = Duration::from_millis(20 * (n as u64 / 100).max(1));
    let mut next_cut = (cuts > 0).then(|| started + pace / (cuts as u32 + 1));
    let mut waiting_since: Option<Instant> = None;
    let count = |h: &Arc<Mutex<HashMap<String, usize>>>| h.lock().map(|h| h.len()).unwrap_or(0);
    while !(publishing.is_finished() && consuming.is_finished()) && started.elapsed() < Duration::from_secs(150) {
        let now = Instant::now();
        let done = confirmed.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(at) = waiting_since
            && let Some(took) = batches.lock().ok().and_then(|b| b.iter().find(|(begun, _)| *begun >= at).map(|(_, ended)| *ended - at))
        {
            recovery_seconds.push(took.as_secs_f64());
            waiting_since = None;
        }
        if let Some(at) = next_cut
            && now >= at
            && waiting_since.is_none()
        {
            cut_at.push(started.elapsed().as_secs_f64());
            fault(cut_at.len() - 1).await?;
            waiting_since = Some(Instant::now());
            next_cut = (cut_at.len() < cuts).then(|| at + pace / (cuts as u32 + 1));
        }
        timeline.push((started.elapsed().as_secs_f64(), done, count(&handled)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (stored, resent, publisher) = publishing.await.map_err(|e| Error::Lesson { lesson: "connection cuts", reason: format!("the publisher task failed: {e}") })??;
    let (report, consumer_recoveries) = consuming.await.map_err(|e| Error::Lesson { lesson: "connection cuts", reason: format!("the consumer task failed: {e}") })?;
    let report = report?;
    timeline.push((started.elapsed().as_secs_f64(), stored, count(&handled)));
    let publisher_recoveries = publisher.recoveries();
    let cleaned = if cleanup == super::Cleanup::Remove { publisher.teardown().await } else { Ok(()) };
    publisher.close().await;
    cleaned?;

    let handled = handled.lock().map(|h| h.clone()).unwrap_or_default();
    let processed = handled.len();
    Ok(CutReport {
        published: n,
        confirmed: stored,
        resent,
        processed,
        processed_twice: handled.values().filter(|&&k| k > 1).count(),
        lost: n.saturating_sub(processed),
        duplicates_skipped: report.duplicates,
        publisher_recoveries,
        consumer_recoveries,
        cuts: cut_at.len(),
        recovery_seconds,
        seconds: started.elapsed().as_secs_f64(),
        timeline,
        cut_at,
        consumer_finished: report.stopped == Stop::Count && report.acked == n,
    })
}
