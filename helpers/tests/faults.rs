//! The fault suite: our own server processes, on ports of their own, restarted and killed under
//! load. Never the shared servers (5672, 6379): every process here is started by the test, on
//! 127.0.0.1, and stopped by its pid — also when a test fails (the guards' `Drop`).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::ServiceUrl;
use helpers::queue::consumer::Stop;
use helpers::queue::{Broker, ConsumeLimits, Message, Outcome, Received, RetryPolicy, Topology, UserData, consume};

/// A RabbitMQ node of the test's own: its own node name, port, data and log folders.
struct RabbitNode {
    name: String,
    port: u16,
    dir: PathBuf,
}

impl RabbitNode {
    /// Starts a node on `port` (distribution port `port + 20000`) and waits until it accepts
    /// connections (bounded).
    fn start(port: u16) -> RabbitNode {
        RabbitNode::start_with(port, "")
    }

    /// [`RabbitNode::start`] with `extra` lines in its `rabbitmq.conf`.
    fn start_with(port: u16, extra: &str) -> RabbitNode {
        let dir = std::env::temp_dir().join(format!("m8-fault-rabbit-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.join("rabbitmq.conf"), format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n{extra}")).unwrap();
        // The Debian wrapper runs the node as the `rabbitmq` user: it must own the folder.
        let _ = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&dir).status();
        let node = RabbitNode { name: format!("m8fault{port}@localhost"), port, dir };
        node.launch();
        node
    }

    fn launch(&self) {
        let d = |s: &str| self.dir.join(s);
        let log = std::fs::File::create(d("server.out")).unwrap();
        Command::new("rabbitmq-server")
            .current_dir(&self.dir)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", (self.port as u32 + 20000).to_string())
            .env("RABBITMQ_MNESIA_BASE", d("mnesia"))
            .env("RABBITMQ_MNESIA_DIR", d("mnesia/node"))
            .env("RABBITMQ_FEATURE_FLAGS_FILE", d("feature_flags"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", d("plugins-expand"))
            .env("RABBITMQ_LOG_BASE", d("log"))
            .env("RABBITMQ_PID_FILE", d("pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", d("env.conf"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rabbitmq-server must be installed (scripts/services.sh installs it)");
        let started = Instant::now();
        while !self.accepts() {
            assert!(started.elapsed() < Duration::from_secs(90), "our RabbitMQ node did not start within 90 s: see {}", d("server.out").display());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn accepts(&self) -> bool {
        std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_millis(200)).is_ok()
    }

    fn url(&self) -> ServiceUrl {
        ServiceUrl::new(format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port))
    }

    /// The Erlang VM's pid, from the pid file the node writes.
    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("pid")).ok()?.trim().parse().ok()
    }

    fn ctl(&self, what: &str) {
        let status = Command::new("rabbitmqctl").args(["-n", &self.name, what]).output().expect("rabbitmqctl");
        assert!(status.status.success(), "rabbitmqctl {what}: {}", String::from_utf8_lossy(&status.stderr));
    }

    /// `stop_app` then `start_app`: the broker restarts inside a running VM.
    fn restart_app(&self) {
        self.ctl("stop_app");
        std::thread::sleep(Duration::from_secs(1));
        self.ctl("start_app");
    }

    /// `kill -9` of the VM, then a fresh start on the same data.
    fn kill_and_start(&self) {
        let pid = self.pid().expect("the node wrote its pid");
        unsafe_kill(pid, 9);
        let gone = Instant::now();
        while self.accepts() && gone.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        self.launch();
    }
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            unsafe_kill(pid, 9);
        }
    }
}

/// The tests that boot a broker node of their own and the ones that time reconnects through cut
/// connections take turns: an Erlang node starting on 2 cores can stretch a reconnect past its
/// budget in a test running beside it (seen once: "connection aborted" through the cuts).
static TAKE_TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unsafe_kill(pid: i32, signal: i32) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
}

fn signup(i: usize) -> Message {
    Message::UserData(UserData { username: format!("user{i}"), email: format!("u{i}@example.com"), registration_date: "2026-01-01T00:00:00Z".into(), country: None })
}

/// 10,000 confirmed publishes and one consumer, through a broker restart (`stop_app` /
/// `start_app`) and a `kill -9` of the node: nothing confirmed is lost, nothing is processed
/// twice, and the consumer carries on by itself.
// Until 2026-12-02 this test was ignored: with lapin's own auto-recovery, in 1 run of 4 the
// connection never came back after the kill (lapin's I/O loop spun on the dead socket) and an
// unbounded call hung. The broker now reconnects itself and bounds every lapin call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_a_broker_restart_and_a_kill_without_loss_or_double_processing() {
    let _turn = TAKE_TURNS.lock().await;
    const N: usize = 10_000;
    let node = Arc::new(RabbitNode::start(5679));
    let topology = Topology::unique("tfault");
    let publisher = Broker::connect(&node.url(), topology.clone()).await.expect("our node answers");
    let consumer = Broker::connect(&node.url(), topology.clone()).await.unwrap();

    let processed: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = processed.clone();
    let queue = topology.user_data_queue();
    let consuming = tokio::spawn(async move {
        let limits = ConsumeLimits { max_messages: N, idle: Duration::from_secs(90), total: Duration::from_secs(300), prefetch: 100 };
        let report = consume(&consumer, &queue, limits, RetryPolicy::default(), move |r: &Received| {
            *seen.lock().unwrap().entry(r.message_id.clone()).or_default() += 1;
            Outcome::Ack
        })
        .await;
        let recoveries = consumer.recoveries();
        consumer.close().await;
        (report, recoveries)
    });

    let exchange = topology.data_processing();
    let publishing = tokio::spawn(async move {
        let mut stored = 0;
        let mut resent = 0;
        // Paced over ~10 s, so that both faults strike mid-stream.
        for chunk in (0..N).collect::<Vec<_>>().chunks(100) {
            let batch: Vec<Message> = chunk.iter().map(|&i| signup(i)).collect();
            let r = publisher.publish_batch(&exchange, "user.signup", &batch).await.expect("every batch is confirmed in the end");
            stored += r.stored;
            resent += r.resent;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (stored, resent, publisher)
    });

    // The faults, while both run.
    let faults = node.clone();
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_secs(2));
        faults.restart_app();
        std::thread::sleep(Duration::from_secs(3));
        faults.kill_and_start();
    })
    .await
    .unwrap();

    let (stored, resent, publisher) = publishing.await.unwrap();
    let (report, recoveries) = consuming.await.unwrap();
    let report = report.expect("the consumer survives both faults");
    let processed = processed.lock().unwrap();
    let twice = processed.values().filter(|&&n| n > 1).count();
    eprintln!(
        "faults: published {N}, confirmed {stored} (resent {resent}), processed {} distinct, twice {twice}, acked {}, duplicates skipped {}, consumer recoveries {recoveries} (loop saw {}), publisher recoveries {}",
        processed.len(),
        report.acked,
        report.duplicates,
        report.recoveries,
        publisher.recoveries()
    );
    assert_eq!(stored, N, "every message confirmed");
    assert_eq!(processed.len(), N, "0 lost: every message processed");
    assert_eq!(twice, 0, "0 processed twice");
    assert_eq!((report.acked, report.stopped), (N, Stop::Count), "the consumer ran to its count");
    // Both sides see the drops and reconnect: the publisher resends what was not confirmed, the
    // consumer subscribes again and settles redeliveries from memory (`duplicates`).
    assert!(publisher.recoveries() >= 2, "the publisher's connection dropped twice and came back");
    assert!(report.recoveries >= 1, "the consume loop reconnected by itself");
    publisher.close().await;
}

/// 5,000 confirmed publishes and one consumer through a link that drops both connections three
/// times (what a client sees of a broker restart or a network drop), against the shared broker:
/// nothing lost, nothing processed twice, the consumer runs to its count. Unlike the node
/// restart above it needs no server of its own, so it runs in every CI run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_survive_connection_cuts_without_loss_or_double_processing() {
    let _turn = TAKE_TURNS.lock().await;
    let r = tokio::time::timeout(Duration::from_secs(240), helpers::queue::chaos::connection_cuts(&common::settings().amqp_addr, 5_000, 3))
        .await
        .expect("the lesson is bounded")
        .expect("every message gets through the cuts");
    eprintln!(
        "cuts: published {}, confirmed {} (resent {}), processed {} distinct, twice {}, lost {}, redeliveries skipped {}, cuts {}, recoveries publisher {} consumer {}, cut → first batch after it confirmed {:?} s, {:.2} s in all",
        r.published, r.confirmed, r.resent, r.processed, r.processed_twice, r.lost, r.duplicates_skipped, r.cuts, r.publisher_recoveries, r.consumer_recoveries, r.recovery_seconds, r.seconds
    );
    assert_eq!(r.cuts, 3, "three cuts were made while publishing");
    assert_eq!(r.confirmed, 5_000, "every message confirmed");
    assert_eq!((r.processed, r.lost), (5_000, 0), "0 lost");
    assert_eq!(r.processed_twice, 0, "0 processed twice");
    assert!(r.consumer_finished, "the consumer ran to its count");
    assert!(r.timeline.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1), "confirmed only grows");
}

/// A redis-server of the test's own, in memory only, on `port`.
struct RedisNode {
    child: std::process::Child,
}

impl RedisNode {
    fn start(port: u16) -> RedisNode {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/services.sh installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "our redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisNode { child }
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tiered cache in front of a Redis that is killed, restarted and frozen (SIGSTOP) while
/// it serves reads: the caller never sees an error or a wrong value; Redis is used again once
/// it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tiered_cache_answers_rightly_through_a_killed_and_a_frozen_redis() {
    use helpers::cache::{RedisCache, Tier, TieredCache};
    let port = 6391;
    let mut node = RedisNode::start(port);
    let url = ServiceUrl::new(format!("redis://127.0.0.1:{port}/0"));
    let redis = RedisCache::new(&url, "tfaults").unwrap();
    // A short memory TTL, so most reads go to Redis.
    let cache: TieredCache<String> = TieredCache::new(redis, 1_000, Duration::from_millis(20), Duration::from_secs(300));
    let (mut reads, mut errors, mut wrong, mut from_redis_after) = (0, 0, 0, 0);
    let mut phase = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        let elapsed = started.elapsed();
        // The faults, on a schedule: kill -9 at 2 s, a new server at 4 s, frozen 6–8 s.
        if phase == 0 && elapsed > Duration::from_secs(2) {
            node.signal("KILL");
            let _ = node.child.wait();
            phase = 1;
        } else if phase == 1 && elapsed > Duration::from_secs(4) {
            node = RedisNode::start(port);
            phase = 2;
        } else if phase == 2 && elapsed > Duration::from_secs(6) {
            node.signal("STOP");
            phase = 3;
        } else if phase == 3 && elapsed > Duration::from_secs(8) {
            node.signal("CONT");
            phase = 4;
        }
        let i = reads % 200;
        match cache.get(&format!("k{i}"), async || Ok(format!("value-{i}"))).await {
            Ok((v, tier)) => {
                if v != format!("value-{i}") {
                    wrong += 1;
                }
                if phase == 4 && elapsed > Duration::from_secs(10) && tier == Tier::Redis {
                    from_redis_after += 1;
                }
            }
            Err(_) => errors += 1,
        }
        reads += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eprintln!("redis faults: {reads} reads, {errors} errors, {wrong} wrong values, {from_redis_after} answered by Redis after the faults");
    assert!(reads > 500, "reads kept going through the faults ({reads})");
    assert_eq!((errors, wrong), (0, 0), "no error and no wrong value reached the caller");
    assert!(from_redis_after > 0, "Redis serves again once it is back");
}

/// The signup pipeline with every stage running at once (as separate services would), through
/// a link that drops the connection three times: each stage reconnects and carries on, every
/// sign-up is stored exactly once (one profile, one analytics document: no double side
/// effects), and every stage processed each message once.
#[cfg(feature = "mongo")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signup_pipeline_runs_through_connection_cuts_without_double_side_effects() {
    let _turn = TAKE_TURNS.lock().await;
    use helpers::data::{World, WorldConfig};
    use helpers::mongo::{Mongo, schema, users};
    use helpers::link::CuttableLink;
    use helpers::queue::pipeline;

    let settings = common::settings();
    let link = CuttableLink::to(&settings.amqp_addr, 5672).await.unwrap();
    let topology = Topology::unique("tpipecut");
    let broker = Broker::connect(&link.url_through(&settings.amqp_addr), topology).await.expect("the broker answers through the link");
    let db = format!("m8test_pipecut_{}", std::process::id());
    let mongo = Mongo::connect(&settings.mongodb_uri, Some(&db)).await.expect("MongoDB must answer at MONGODB_URI");
    mongo.drop_database().await.unwrap();
    schema::ensure(&mongo).await.unwrap();
    let world = World::generate(&WorldConfig::with_users(600));
    let signups = pipeline::signups(&world, 500, "cut");

    let cuts = async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            link.interrupt();
        }
    };
    let started = Instant::now();
    let (report, ()) = tokio::join!(pipeline::run_signups(&broker, &mongo, &signups, helpers::queue::pipeline::BadInput::Left, helpers::queue::Cleanup::Keep), cuts);
    let report = report.expect("the pipeline carries on through the cuts");
    let profiles = users::count(&mongo).await.unwrap();
    eprintln!(
        "pipeline through cuts: published {}, stored {}, profiles {profiles}, analytics documents {}, processed per stage {:?}, dead {}, broker reconnects {}, {:.2} s",
        report.published,
        report.stored,
        report.analytics_stored,
        report.stages.iter().map(|s| s.processed).collect::<Vec<_>>(),
        report.dead.len(),
        broker.recoveries(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((report.published, report.stored, report.dead.len()), (500, 500, 0), "every sign-up stored, none dead-lettered");
    assert_eq!(profiles, 500, "one profile per sign-up");
    assert_eq!(report.analytics_stored, 500, "one analytics document per sign-up: no double side effects");
    assert!(report.stages.iter().all(|s| s.processed == 500), "{:?}", report.stages);
    assert!(broker.recoveries() >= 1, "the connection was cut and came back");
    let _ = broker.teardown().await;
    broker.close().await;
    mongo.drop_database().await.unwrap();
}

/// A broker configured with a lower `max_message_size` (1 MiB here; RabbitMQ 4 lowered the
/// default to 16 MiB) refuses a bigger body itself, by closing the channel: that is
/// [`helpers::Error::TooLarge`] with the broker's own numbers, at once — not five resends and
/// "RabbitMQ is unreachable". Our own node, on a port of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_brokers_configured_max_message_size_is_refused_with_its_size() {
    let _turn = TAKE_TURNS.lock().await;
    let node = RabbitNode::start_with(5683, "max_message_size = 1048576\n");
    let b = Broker::connect(&node.url(), Topology::unique("tmaxsize")).await.expect("our node answers");
    let t = b.topology().clone();
    let body = vec![b'x'; 2 * 1024 * 1024];
    let started = Instant::now();
    let err = b.publish_raw(&t.data_processing(), "user.signup", &body, helpers::queue::message::properties("user_data", 1, None)).await.unwrap_err();
    let took = started.elapsed();
    match &err {
        helpers::Error::TooLarge { size, limit, .. } => assert_eq!((*size, *limit), (2 * 1024 * 1024, 1024 * 1024), "{err}"),
        other => panic!("expected TooLarge, got {other}"),
    }
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
    // The connection (a new channel) still works for a message that fits.
    b.publish(&t.data_processing(), "user.signup", &signup(1)).await.expect("a small message after the refused one");
    b.teardown().await.unwrap();
    b.close().await;
    drop(node);
}

/// RabbitMQ over TLS (`amqps://`) with the certificate verified against the CA of
/// `M8_CA_FILE`: our own node with a TLS listener, its certificate from `scripts/beyond.sh ca`.
/// The right CA publishes and reads; another CA is refused as untrusted, named, password masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_over_tls_verifies_the_certificate_against_the_named_ca() {
    let _turn = TAKE_TURNS.lock().await;
    let (port, tls_port) = (5685u16, 5686u16);
    let certs = std::env::temp_dir().join(format!("m8-fault-rabbit-tls-{tls_port}"));
    let _ = std::fs::remove_dir_all(&certs);
    let made = Command::new("bash").arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/beyond.sh")).arg("ca").env("M8_BEYOND_DIR", &certs).output().expect("bash");
    assert!(made.status.success(), "scripts/beyond.sh ca: {}", String::from_utf8_lossy(&made.stderr));
    // The node runs as the `rabbitmq` user: it must read its key.
    let _ = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&certs).status();
    let tls = certs.join("tls");
    let pem = |name: &str| tls.join(name).display().to_string();
    let extra = format!(
        "listeners.ssl.default = 127.0.0.1:{tls_port}\nssl_options.cacertfile = {}\nssl_options.certfile = {}\nssl_options.keyfile = {}\nssl_options.verify = verify_none\nssl_options.fail_if_no_peer_cert = false\n",
        pem("ca.pem"),
        pem("server.pem"),
        pem("server.key")
    );
    let node = RabbitNode::start_with(port, &extra);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the node's TLS listener did not open: see {}", node.dir.join("log").display());
        std::thread::sleep(Duration::from_millis(200));
    }
    let url = ServiceUrl::new(format!("amqps://guest:guest@127.0.0.1:{tls_port}/%2f"));

    let b = Broker::connect(&url.clone().with_ca_file(tls.join("ca.pem")), Topology::unique("ttls")).await.expect("verified against the right CA");
    let t = b.topology().clone();
    b.publish(&t.data_processing(), "user.signup", &signup(1)).await.expect("a publish over TLS");
    assert_eq!(b.queue_depth(&t.user_data_queue()).await.unwrap(), 1, "the message went through the TLS connection into its queue");
    b.teardown().await.unwrap();
    b.close().await;

    let Err(err) = Broker::connect(&url.with_ca_file(tls.join("other-ca.pem")), Topology::unique("ttls")).await else {
        panic!("a certificate from another CA was accepted");
    };
    let text = err.to_string();
    assert!(matches!(err, helpers::Error::Untrusted { service: "RabbitMQ", .. }), "{text}");
    assert!(text.contains(&format!("guest:***@127.0.0.1:{tls_port}")) && !text.contains("guest:guest"), "{text}");
    drop(node);
    let _ = std::fs::remove_dir_all(&certs);
}

/// The project's three-node RabbitMQ cluster (`scripts/beyond.sh rabbit-cluster`, on 5721–5723
/// here), stopped by pid when the test ends, passed or not.
struct ClusterGuard(helpers::queue::cluster::LocalRabbitCluster);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let _ = self.0.stop();
    }
}

/// A node of a three-node cluster killed (SIGKILL) under a confirmed publisher: the quorum
/// queue's leader and the publisher's connection die together. The publisher reconnects to the
/// next node and publishes again what was not confirmed; nothing confirmed is lost, nothing is
/// processed twice, and publishing goes on.
#[test]
fn a_cluster_node_killed_under_load_loses_nothing_and_processes_nothing_twice() {
    let _turn = TAKE_TURNS.blocking_lock();
    let dir = std::env::temp_dir().join(format!("m8-rabbit-cluster-test-{}", std::process::id()));
    let started = Instant::now();
    let cluster = ClusterGuard(helpers::queue::cluster::LocalRabbitCluster::start_on(5721, dir.clone()).expect("the cluster starts (scripts/beyond.sh rabbit-cluster up)"));
    eprintln!("cluster up in {:.1} s at {}", started.elapsed().as_secs_f64(), cluster.0.url);
    assert_eq!(cluster.0.url.host_ports(5672).len(), 3, "{}", cluster.0.url);
    let check = |note: &str| {
        let settings = helpers::Settings { amqp_addr: cluster.0.url.clone(), ..common::settings() };
        let all = helpers::run(helpers::check::check_services(&settings));
        let amqp = all.into_iter().find(|s| s.service == "RabbitMQ").expect("a RabbitMQ row");
        assert!(amqp.reachable && amqp.note.starts_with(note), "{amqp:?}");
    };
    check("a cluster: 3 of 3 nodes answer (");
    let r = cluster.0.failover_under_load(4_000).expect("the run ends with a report");
    eprintln!(
        "cluster kill: published {}, confirmed {} (resent {}), processed {} distinct, twice {}, lost {}, redeliveries skipped {}, recoveries publisher {} consumer {}, kill at {:?} s, kill → first batch after it confirmed {:?} s, {:.2} s in all",
        r.published, r.confirmed, r.resent, r.processed, r.processed_twice, r.lost, r.duplicates_skipped, r.publisher_recoveries, r.consumer_recoveries, r.cut_at, r.recovery_seconds, r.seconds
    );
    assert_eq!(r.cuts, 1, "the node was killed while publishing");
    assert!(r.publisher_recoveries >= 1, "the publisher's node died, so it reconnected");
    assert_eq!(r.confirmed, 4_000, "every message confirmed in the end");
    assert_eq!((r.processed, r.lost), (4_000, 0), "0 lost");
    assert_eq!(r.processed_twice, 0, "0 processed twice");
    assert!(r.consumer_finished, "the consumer ran to its count");
    assert_eq!(r.recovery_seconds.len(), 1, "publishing went on after the kill");
    check("a cluster: 2 of 3 nodes answer; not answering: 127.0.0.1:5721");
    drop(cluster);
    assert!(!dir.join("rabbit-cluster-5721").exists(), "the cluster's data is removed");
    let _ = std::fs::remove_dir_all(dir);
}
