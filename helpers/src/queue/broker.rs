//! [`Broker`]: one connection to RabbitMQ, a publish channel in confirm mode and the names of one
//! [`Topology`]; it reconnects by itself and resends what was not confirmed. [`with_broker`]
//! runs a notebook cell's work on one; every error names RabbitMQ with the URL masked.

use std::time::Duration;

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties};

use super::*;
use crate::config::{ServiceUrl, Settings};
use crate::error::{Error, Result};
use crate::runtime::within;

/// How long connecting, declaring and each confirm may take before the call fails.
pub const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a call waits for the connection to come back after it dropped (a broker restart,
/// a network cut) before it gives up with an error that says what was tried.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one lapin call without a bound of its own (a publish, an ack, a cancel, a close)
/// may take before it is given up like a dropped connection: no cell and no test may wait for
/// ever on a connection that died without a word (docs/faults.md).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Bounds a lapin call by [`CALL_TIMEOUT`]. Running out reads as an I/O error (`TimedOut`,
/// naming the bound), which callers handle like any dropped connection: reconnect, or report.
pub(crate) async fn bounded<T>(call: impl std::future::Future<Output = lapin::Result<T>>) -> lapin::Result<T> {
    bounded_by(CALL_TIMEOUT, call).await
}

/// An ack is a frame written to the socket, done in microseconds on a live connection. One
/// that takes this long means a connection that died without lapin noticing (seen after a cut:
/// the end of the stream was read once and never reported), so the consumer reconnects.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// [`bounded`] with a bound of its own.
pub(crate) async fn bounded_by<T>(bound: Duration, call: impl std::future::Future<Output = lapin::Result<T>>) -> lapin::Result<T> {
    match tokio::time::timeout(bound, call).await {
        Ok(result) => result,
        Err(_) => Err(lapin::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("RabbitMQ did not answer a call within {} s", bound.as_secs()),
        ))),
    }
}

/// Polls each future once, in order, then awaits those not done yet; the outputs in order.
/// For lapin publishes the first poll hands the message's frames to the writer, so a whole
/// batch is queued on the channel — in the batch's order — before any of it is waited for:
/// one wake of lapin's writer per batch instead of one per message.
pub async fn queue_then_await<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut early = Vec::with_capacity(pinned.len());
    for f in &mut pinned {
        early.push(match futures_util::poll!(f.as_mut()) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        });
    }
    let mut outputs = Vec::with_capacity(pinned.len());
    for (f, early) in pinned.into_iter().zip(early) {
        outputs.push(match early {
            Some(out) => out,
            None => f.await,
        });
    }
    outputs
}

/// The waits between two reconnect attempts: 100 ms doubling to 2 s, for at most
/// [`RECOVERY_TIMEOUT`] in all.
pub(super) fn reconnect_backoff() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder as _;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .with_max_times(usize::MAX)
        .with_total_delay(Some(RECOVERY_TIMEOUT))
        .build()
}

/// One AMQP connection of a [`Broker`], its confirming publish channel, and a counter of the
/// connection's error events. A broker replaces its link when the connection drops.
pub(crate) struct Link {
    /// 1 for the first connection, +1 for each reconnect.
    pub(crate) generation: u64,
    /// Which of the broker's nodes it is connected to (0 with one address).
    pub(crate) node: usize,
    conn: Connection,
    publisher: Channel,
    /// Bumped on every error lapin reports for the connection: a confirm awaited across a bump
    /// will never come, so the wait ends there.
    errors: tokio::sync::watch::Receiver<u64>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Link {
    pub(super) async fn open(url: &ServiceUrl, generation: u64, node: usize) -> Result<Link> {
        // Refused at once when nothing listens, instead of waiting for the timeout.
        let tls = url.scheme() == "amqps";
        crate::check::tcp_probe(url, if tls { 5671 } else { 5672 }).await.map_err(|e| url.unreachable("RabbitMQ", e))?;
        // `amqps://`: the server's certificate is verified against M8_CA_FILE's CA when one is
        // set, else against the bundled web roots (lapin's rustls-webpki-roots-certs).
        let tls_config = match url.ca_file().filter(|_| tls) {
            Some(ca) => lapin::tcp::OwnedTLSConfig {
                identity: None,
                cert_chain: Some(std::fs::read_to_string(ca).map_err(|e| Error::io("reading the CA file", ca, e))?),
            },
            None => lapin::tcp::OwnedTLSConfig::default(),
        };
        let runtime = lapin::runtime::default_runtime().map_err(|e| url.unreachable("RabbitMQ", e.to_string()))?;
        // No lapin auto-recovery: the broker reconnects itself (see `Broker::recover`). lapin's
        // own recovery was seen stalling for good after a cut connection or a `kill -9`.
        let connect = Connection::connect_with_config(url.expose(), ConnectionProperties::default(), tls_config, runtime);
        let conn = within(format!("connecting to RabbitMQ at {url}"), BROKER_TIMEOUT, connect)
            .await
            .map_err(|e| url.unreachable("RabbitMQ", e.to_string()))?
            .map_err(|e| url.unreachable("RabbitMQ", e.to_string()))?;
        let publisher = bounded(conn.create_channel()).await.map_err(|e| map_error(url, e))?;
        bounded(publisher.confirm_select(ConfirmSelectOptions::default())).await.map_err(|e| map_error(url, e))?;
        let (bump, errors) = tokio::sync::watch::channel(0u64);
        let mut events = conn.events_listener();
        let watcher = tokio::spawn(async move {
            use futures_util::StreamExt as _;
            while let Some(event) = events.next().await {
                if matches!(event, lapin::Event::Error(_)) {
                    bump.send_modify(|n| *n += 1);
                }
            }
        });
        Ok(Link { generation, node, conn, publisher, errors, watcher })
    }

    /// The publish channel (publisher confirms on).
    pub(crate) fn publisher(&self) -> &Channel {
        &self.publisher
    }

    /// Error events seen so far: taken before a publish, handed to [`producer::confirmed`].
    pub(crate) fn errors_seen(&self) -> u64 {
        *self.errors.borrow()
    }

    /// A receiver of the error count's changes.
    pub(crate) fn error_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.errors.clone()
    }

    pub(super) fn healthy(&self) -> bool {
        self.conn.status().connected() && self.publisher.status().connected()
    }

    pub(super) async fn close(&self) {
        let _ = bounded(self.publisher.close(200, "OK".into())).await;
        let _ = bounded(self.conn.close(200, "OK".into())).await;
        self.watcher.abort();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The largest message body RabbitMQ accepts unless configured otherwise (`max_message_size`,
/// 128 MiB from 3.8 to 3.13; RabbitMQ 4 lowered it to 16 MiB). A broker whose limit is lower
/// refuses the message itself, and [`Broker::publish_confirmed`] reports that the same way.
pub const MAX_MESSAGE_SIZE: u64 = 128 * 1024 * 1024;

/// A broker's refusal of a body over its `max_message_size` (it closes the channel with
/// `PRECONDITION_FAILED - message size 20000000 is larger than configured max size 16777216`),
/// as [`Error::TooLarge`]; `None` for any other error.
pub(super) fn too_large_for_broker(e: &lapin::Error, exchange: &str) -> Option<Error> {
    let text = e.to_string();
    let (_, rest) = text.split_once("message size ")?;
    let (size, rest) = rest.split_once(" is larger than configured max size ")?;
    let limit: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(Error::TooLarge {
        what: format!("the body of a message to exchange `{exchange}` (the broker's max_message_size)"),
        size: size.trim().parse().ok()?,
        limit: limit.parse().ok()?,
    })
}

/// Publishes of one message while the connection keeps dropping, before giving up.
pub(super) const MAX_RESENDS: u32 = 5;

/// On a cluster, how long a publisher waits after a negative confirm before it reconnects and
/// publishes again: long enough for a quorum queue's new leader to be known (~0.45 s after a
/// node's death here), short enough to be a blip.
pub const NACK_PAUSE: Duration = Duration::from_millis(300);

/// The error a negative confirm on a cluster is recovered from like a dropped connection.
pub(super) fn nacked_on_cluster() -> lapin::Error {
    lapin::Error::from(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "RabbitMQ refused a publish (negative confirm) on a cluster node"))
}

/// One URL per host of `url`, credentials, vhost and options kept (a single server: `url`).
fn nodes_of(url: &ServiceUrl) -> Vec<ServiceUrl> {
    let hosts = url.host_ports(if url.scheme() == "amqps" { 5671 } else { 5672 });
    if hosts.len() <= 1 {
        return vec![url.clone()];
    }
    hosts.iter().map(|(h, p)| url.with_hosts(&format!("{h}:{p}"))).collect()
}

/// A link to the first of `nodes` that answers, starting at `first` (modulo their number) and
/// going round once; the error of the last one tried when none does.
async fn open_any(nodes: &[ServiceUrl], generation: u64, first: usize) -> Result<Link> {
    let mut last = None;
    for k in 0..nodes.len() {
        let i = (first + k) % nodes.len();
        match Link::open(&nodes[i], generation, i).await {
            Ok(link) => return Ok(link),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidInput("an AMQP URL with no host".into())))
}

/// A connection to RabbitMQ with a publish channel in confirm mode and the names of one
/// [`Topology`]. Cheap to pass by reference; closed by [`Broker::close`] or when dropped.
///
/// When the connection drops (a broker restart, a network cut), the call that notices it
/// reconnects ([`Broker::recover`]): a new connection with a bounded backoff, the topology
/// declared again, and the call carries on — a publish is resent, a consumer subscribes again.
///
/// A URL with several hosts (`amqp://u:p@h1:5672,h2:5672,h3:5672/vhost`) names the nodes of a
/// cluster: the broker connects to the first that answers and, at each reconnect, tries the
/// next one first — a node that died is not waited for. On a cluster a negative confirm is
/// also taken as a reason to reconnect and publish again (see [`Broker::publish_confirmed`]).
pub struct Broker {
    link: std::sync::RwLock<std::sync::Arc<Link>>,
    reconnecting: tokio::sync::Mutex<()>,
    url: ServiceUrl,
    /// One URL per node of `url` (one, for a single server).
    nodes: Vec<ServiceUrl>,
    topology: Topology,
    delay_queues: std::sync::Mutex<Vec<String>>,
    recoveries: std::sync::atomic::AtomicU32,
}

impl Broker {
    /// Connects to `AMQP_ADDR` and declares the default topology (prefix `module8`).
    pub async fn open(settings: &Settings) -> Result<Broker> {
        Broker::connect(&settings.amqp_addr, Topology::new("module8")?).await
    }

    /// Connects to `url` and declares `topology` (idempotent: declaring what exists is a no-op).
    pub async fn connect(url: &ServiceUrl, topology: Topology) -> Result<Broker> {
        let nodes = nodes_of(url);
        let link = open_any(&nodes, 1, 0).await?;
        let broker = Broker {
            link: std::sync::RwLock::new(std::sync::Arc::new(link)),
            reconnecting: tokio::sync::Mutex::new(()),
            url: url.clone(),
            nodes,
            topology,
            delay_queues: Default::default(),
            recoveries: Default::default(),
        };
        within("declaring the RabbitMQ topology", BROKER_TIMEOUT, broker.topology.declare(&broker)).await??;
        Ok(broker)
    }

    /// The current connection and its publish channel.
    pub(crate) fn link(&self) -> std::sync::Arc<Link> {
        match self.link.read() {
            Ok(link) => link.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// After `e` broke a call made on the connection of generation `generation`: reconnects
    /// (unless another call already did), declares the topology again, and returns so that the
    /// caller can carry on. Bounded by [`RECOVERY_TIMEOUT`]; an error no reconnect can mend (a
    /// refused login, a protocol violation of ours) is returned as it is, and one that outlasts
    /// the backoff says what was tried.
    pub async fn recover(&self, generation: u64, e: lapin::Error) -> Result<()> {
        if !e.can_be_recovered() {
            return Err(self.error(e));
        }
        let what = e.to_string();
        let _one_at_a_time = self.reconnecting.lock().await;
        let current = self.link();
        if current.generation > generation && current.healthy() {
            return Ok(()); // another call has reconnected already
        }
        current.close().await;
        let mut last: String;
        let mut waits = reconnect_backoff();
        loop {
            // The next node first: on a cluster, the one that just failed is tried last.
            match open_any(&self.nodes, current.generation + 1, current.node + 1).await {
                Ok(link) => {
                    if let Ok(mut slot) = self.link.write() {
                        *slot = std::sync::Arc::new(link);
                    }
                    within("declaring the RabbitMQ topology again", BROKER_TIMEOUT, self.topology.declare(self)).await??;
                    self.recoveries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
            match waits.next() {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    return Err(self.url.unreachable(
                        "RabbitMQ",
                        format!(
                            "the connection dropped ({what}); reconnecting with backoff (100 ms doubling to 2 s) for {} s did not bring it back (last: {last})",
                            RECOVERY_TIMEOUT.as_secs()
                        ),
                    ));
                }
            }
        }
    }

    /// Whether the URL names several nodes (a cluster).
    pub fn is_cluster(&self) -> bool {
        self.nodes.len() > 1
    }

    /// The node the broker is connected to now, `host:port`.
    pub fn node(&self) -> String {
        let i = self.link().node;
        self.nodes.get(i).and_then(|u| u.host_ports(5672).into_iter().next()).map(|(h, p)| format!("{h}:{p}")).unwrap_or_default()
    }

    /// How many times this broker's connection dropped and came back.
    pub fn recoveries(&self) -> u32 {
        self.recoveries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Publishes on the confirming channel and waits for the confirm. When the connection
    /// drops on the way, reconnects and publishes again, with the same message id: at least
    /// once, never silently lost (a consumer recognises the copy by its id).
    ///
    /// On a cluster, a negative confirm is handled like a drop, after [`NACK_PAUSE`]: RabbitMQ
    /// 3.10's channel that first published to a quorum queue while the queue's record still
    /// named a dead node as its leader refuses every later publish for as long as it lives
    /// (its client keeps asking the dead node; docs/beyond-one-server.md), and a new
    /// connection's channel does not. The last resend's answer is returned as it is.
    pub(crate) async fn publish_confirmed(&self, exchange: &str, routing_key: &str, body: &[u8], properties: lapin::BasicProperties) -> Result<producer::Routed> {
        self.check_size(exchange, body, &properties)?;
        let mut last = String::new();
        for attempt in 1..=MAX_RESENDS {
            let link = self.link();
            match self.send_confirmed(&link, exchange, routing_key, body, properties.clone()).await {
                Ok(producer::Routed::Nacked) if self.is_cluster() && attempt < MAX_RESENDS => {
                    last = "a negative confirm".into();
                    tokio::time::sleep(NACK_PAUSE).await;
                    self.recover(link.generation, nacked_on_cluster()).await?;
                }
                Ok(routed) => return Ok(routed),
                Err(e) => {
                    if let Some(refused) = too_large_for_broker(&e, exchange) {
                        return Err(refused); // sending it again would be refused again
                    }
                    last = e.to_string();
                    self.recover(link.generation, e).await?;
                }
            }
        }
        Err(self.url.unreachable("RabbitMQ", format!("a publish was cut off {MAX_RESENDS} times by a dropped connection (last: {last})")))
    }

    /// The largest frame the broker accepts on this connection (negotiated at connect):
    /// a message's properties must fit in one.
    pub fn frame_max(&self) -> u32 {
        self.link().conn.configuration().frame_max()
    }

    /// Refuses, with [`Error::TooLarge`] naming its size and the limit, a message the broker
    /// would not take: properties and headers that do not fit in one frame of [`Broker::frame_max`]
    /// bytes (the broker would close the connection, and every resend would be closed again), or
    /// a body over [`MAX_MESSAGE_SIZE`]. Checked before anything is sent.
    pub fn check_size(&self, exchange: &str, body: &[u8], properties: &lapin::BasicProperties) -> Result<()> {
        let frame_max = u64::from(self.frame_max());
        let header = message::header_frame_len(properties) as u64;
        if frame_max > 0 && header > frame_max {
            return Err(Error::TooLarge {
                what: format!("the content header (properties and headers) of a message to exchange `{exchange}`, which must fit in one frame (the connection's frame_max),"),
                size: header,
                limit: frame_max,
            });
        }
        if body.len() as u64 > MAX_MESSAGE_SIZE {
            return Err(Error::TooLarge {
                what: format!("the body of a message to exchange `{exchange}` (RabbitMQ's default max_message_size)"),
                size: body.len() as u64,
                limit: MAX_MESSAGE_SIZE,
            });
        }
        Ok(())
    }

    /// The names of exchanges and queues this broker works with.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The masked URL.
    pub fn url(&self) -> &ServiceUrl {
        &self.url
    }

    /// A new channel on the current connection (consumers take one each, so a slow consumer
    /// never blocks publishing).
    pub async fn channel(&self) -> Result<Channel> {
        bounded(self.link().conn.create_channel()).await.map_err(|e| self.error(e))
    }

    /// Maps a lapin error on this broker.
    pub(crate) fn error(&self, e: lapin::Error) -> Error {
        map_error(&self.url, e)
    }

    /// The broker's version as its handshake states it, e.g. `3.12.1` (`None` over TLS).
    pub async fn server_version(&self) -> Option<String> {
        crate::check::amqp_server_version(&self.url).await
    }

    /// How many messages wait in `queue` (ready, not yet delivered), by a passive declare.
    pub async fn queue_depth(&self, queue: &str) -> Result<u32> {
        let channel = self.channel().await?;
        let opts = lapin::options::QueueDeclareOptions { passive: true, ..Default::default() };
        let q = bounded(channel.queue_declare(queue.into(), opts, Default::default())).await.map_err(|e| self.error(e))?;
        let _ = bounded(channel.close(200, "OK".into())).await;
        Ok(q.message_count())
    }

    /// Deletes every exchange and queue of this broker's topology (tests and demos clean up).
    pub async fn teardown(&self) -> Result<()> {
        let delays = self.delay_queues.lock().map(|d| d.clone()).unwrap_or_default();
        within("deleting the RabbitMQ topology", BROKER_TIMEOUT, self.topology.delete(self, &delays)).await?
    }

    /// The delay queue that returns messages to `queue` after `delay`. Declared before every
    /// use (a no-op when it exists), which also restarts its `x-expires` clock: RabbitMQ deletes
    /// it a minute after its last message left, so delay queues never pile up.
    pub async fn delay_queue(&self, queue: &str, delay: Duration) -> Result<String> {
        let name = self.topology.declare_delay_queue(self, queue, delay).await?;
        if let Ok(mut d) = self.delay_queues.lock() {
            if !d.contains(&name) {
                d.push(name.clone());
            }
        }
        Ok(name)
    }

    /// Closes the channels and the connection.
    pub async fn close(self) {
        self.link().close().await;
    }

    /// Publishes raw bytes with confirms — for the lesson's bad input (malformed JSON, unknown
    /// types), which [`Message`] cannot express on purpose.
    pub async fn publish_raw(&self, exchange: &str, routing_key: &str, body: &[u8], properties: lapin::BasicProperties) -> Result<Routed> {
        self.publish_confirmed(exchange, routing_key, body, properties).await
    }
}

/// Up to `limit` messages taken from a queue with `basic.get` and held unacknowledged on a
/// channel of their own — the way a queue is looked into ([`crate::queue::SyncBroker::peek`]) or
/// walked ([`crate::queue::dlq`]). Each message is either acked ([`Taken::ack`]) or, by
/// [`Taken::give_back`], returned to the queue: nothing is lost to a look.
pub(crate) struct Taken {
    channel: Channel,
    messages: Vec<lapin::message::BasicGetMessage>,
    acked: Vec<bool>,
}

impl Taken {
    /// Takes up to `limit` messages of `queue` (fewer when it runs dry). On an error, what was
    /// taken is given back first.
    pub(crate) async fn take(broker: &Broker, queue: &str, limit: usize) -> Result<Taken> {
        let mut taken = Taken { channel: broker.channel().await?, messages: Vec::new(), acked: Vec::new() };
        while taken.messages.len() < limit {
            let got = bounded(taken.channel.basic_get(queue.into(), lapin::options::BasicGetOptions { no_ack: false })).await;
            match got {
                Ok(Some(msg)) => {
                    taken.messages.push(msg);
                    taken.acked.push(false);
                }
                Ok(None) => break,
                Err(e) => {
                    taken.give_back().await;
                    return Err(broker.error(e));
                }
            }
        }
        Ok(taken)
    }

    /// The messages taken, in queue order.
    pub(crate) fn messages(&self) -> &[lapin::message::BasicGetMessage] {
        &self.messages
    }

    /// Acknowledges message `i`: it leaves the queue for good.
    pub(crate) async fn ack(&mut self, broker: &Broker, i: usize) -> Result<()> {
        bounded(self.messages[i].delivery.ack(lapin::options::BasicAckOptions::default())).await.map_err(|e| broker.error(e))?;
        self.acked[i] = true;
        Ok(())
    }

    /// Returns every message not acked to its queue (`reject` with requeue) and closes the
    /// channel (which would return them too).
    pub(crate) async fn give_back(self) {
        for (msg, acked) in self.messages.iter().zip(&self.acked) {
            if !acked {
                let _ = bounded(msg.delivery.reject(lapin::options::BasicRejectOptions { requeue: true })).await;
            }
        }
        let _ = bounded(self.channel.close(200, "OK".into())).await;
    }
}

/// Connects, runs `f` with the broker, and closes the connection — the shape of a notebook cell:
/// `run(queue::with_broker(&settings, async |b| { … }))`. With [`Cleanup::Remove`] the
/// topology is torn down afterwards.
pub async fn with_broker<T>(settings: &Settings, topology: Topology, cleanup: super::Cleanup, f: impl AsyncFnOnce(&Broker) -> Result<T>) -> Result<T> {
    let broker = Broker::connect(&settings.amqp_addr, topology).await?;
    let out = f(&broker).await;
    if cleanup == super::Cleanup::Remove {
        let cleaned = broker.teardown().await;
        if out.is_ok() {
            cleaned?;
        }
    }
    broker.close().await;
    out
}


/// Sorts lapin's errors: I/O and connection failures name RabbitMQ (URL masked) and how to
/// start it; the rest stay AMQP errors, with the URL scrubbed from their text.
pub fn map_error(url: &ServiceUrl, e: lapin::Error) -> Error {
    use lapin::ErrorKind;
    match e.kind() {
        ErrorKind::IOError(_) | ErrorKind::InvalidConnectionState(_) => url.unreachable("RabbitMQ", e.to_string()),
        _ => Error::Amqp(e),
    }
}

/// A namespace of its own for one run, so runs and tests never share exchanges or queues.
pub fn run_namespace(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_several_hosts_is_one_url_per_node_with_its_credentials_and_vhost() {
        let nodes = nodes_of(&ServiceUrl::new("amqp://u:secret@h1:5711,h2,h3:5713/prod?heartbeat=10"));
        let shown: Vec<&str> = nodes.iter().map(|u| u.expose()).collect();
        assert_eq!(shown, ["amqp://u:secret@h1:5711/prod?heartbeat=10", "amqp://u:secret@h2:5672/prod?heartbeat=10", "amqp://u:secret@h3:5713/prod?heartbeat=10"]);
        assert_eq!(nodes_of(&ServiceUrl::new("amqp://guest:guest@localhost:5672/%2f")).len(), 1);
        assert_eq!(nodes_of(&ServiceUrl::new("amqps://a,b/v"))[1].expose(), "amqps://b:5671/v");
    }
}
