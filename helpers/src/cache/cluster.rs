//! A Redis Cluster of the project's own (`scripts/beyond.sh redis-cluster`: six redis-servers,
//! three masters with a replica each, on ports of their own), and what a cache on it does when a
//! master dies: [`LocalCluster::failover_under_reads`] reads through a [`RedisCache`] on the
//! cluster, kills a master by pid, and records every read — answered by the cache or computed,
//! right or wrong — until the master's replica has taken over and the cache answers its keys
//! again (docs/beyond-one-server.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::redis_cache::{RedisCache, slot_of};
use crate::config::ServiceUrl;
use crate::error::{Error, Result};
use crate::local_servers::Scripted;

/// The first of the local cluster's six ports (`M8_REDIS_CLUSTER_PORT`); each node's cluster
/// bus listens on its port + 10000.
pub const CLUSTER_PORT: u16 = 17101;

/// The project's own Redis Cluster, from a notebook cell: plain values in and out, every call
/// bounded. It holds only where the cluster is, so it crosses cells.
#[derive(Clone, Debug)]
pub struct LocalCluster {
    /// The cluster's URL: its three first nodes as seeds (`redis://127.0.0.1:17101,…`).
    pub url: ServiceUrl,
    /// The first node's port; the others follow it.
    pub first_port: u16,
    /// The script's folder (`M8_BEYOND_DIR`).
    pub dir: PathBuf,
}

/// One node as `CLUSTER NODES` reports it, with the keys it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterNode {
    /// `127.0.0.1:17101`.
    pub node: String,
    /// `master` or `replica`; `master (failed)` / `replica (failed)` once the others have marked it failing.
    pub role: String,
    /// For a replica, the master it copies (its address; its node id inside this module).
    pub replica_of: String,
    /// The hash slots a master serves, e.g. `0-5460`.
    pub slots: String,
    /// `DBSIZE` on the node; `None` when it does not answer.
    pub keys: Option<i64>,
}
crate::frame_row!(ClusterNode { node, role, replica_of, slots, keys });

/// One read of [`LocalCluster::failover_under_reads`].
#[derive(Clone, Debug, PartialEq)]
pub struct FailoverRead {
    /// When the read started, in ms from the kill (negative: before it).
    pub at_ms: f64,
    /// How long it took, ms.
    pub ms: f64,
    /// Answered by Redis (`true`) or computed because Redis did not answer (`false`).
    pub from_cache: bool,
    /// Was the key on the master that was killed?
    pub on_killed_master: bool,
    /// Was the value the right one?
    pub right: bool,
}

/// What [`LocalCluster::failover_under_reads`] saw.
#[derive(Clone, Debug, PartialEq)]
pub struct Failover {
    /// The master that was killed (`127.0.0.1:17101`).
    pub killed: String,
    /// Its replica, which took over.
    pub replica: String,
    /// How many keys the reads went round, and how many of them lived on the killed master.
    pub keys: usize,
    /// … of which on the killed master.
    pub keys_on_killed_master: usize,
    /// Every read, in order.
    pub reads: Vec<FailoverRead>,
    /// From the kill until the replica said it was a master (`ROLE`), if it did within the bound.
    pub promoted_after: Option<Duration>,
    /// From the kill until the first read of a key of the killed master answered by Redis again.
    pub served_again_after: Option<Duration>,
}

/// The reads of a [`Failover`] in one phase.
#[derive(Clone, Debug, PartialEq)]
pub struct FailoverPhase {
    /// `before the kill`, `kill → served again`, `after`.
    pub phase: String,
    /// Reads in the phase.
    pub reads: i64,
    /// … answered by Redis.
    pub from_cache: i64,
    /// … computed instead (Redis did not answer for that key).
    pub computed: i64,
    /// … that returned a wrong value.
    pub wrong: i64,
    /// Reads of keys on the killed master, and of those how many Redis answered.
    pub on_killed_master: i64,
    /// … answered by Redis.
    pub on_killed_master_from_cache: i64,
    /// The slowest read, ms.
    pub slowest_ms: f64,
}
crate::frame_row!(FailoverPhase { phase, reads, from_cache, computed, wrong, on_killed_master, on_killed_master_from_cache, slowest_ms });

impl Failover {
    /// The reads before the kill, from the kill until the killed master's keys were served
    /// again, and after.
    pub fn phases(&self) -> Vec<FailoverPhase> {
        let back = self.served_again_after.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3);
        let phase = |name: &str, keep: &dyn Fn(f64) -> bool| {
            let reads: Vec<&FailoverRead> = self.reads.iter().filter(|r| keep(r.at_ms)).collect();
            let count = |f: &dyn Fn(&FailoverRead) -> bool| reads.iter().filter(|r| f(r)).count() as i64;
            FailoverPhase {
                phase: name.to_string(),
                reads: reads.len() as i64,
                from_cache: count(&|r| r.from_cache),
                computed: count(&|r| !r.from_cache),
                wrong: count(&|r| !r.right),
                on_killed_master: count(&|r| r.on_killed_master),
                on_killed_master_from_cache: count(&|r| r.on_killed_master && r.from_cache),
                slowest_ms: reads.iter().map(|r| r.ms).fold(0.0, f64::max),
            }
        };
        vec![
            phase("before the kill", &|at| at < 0.0),
            phase("kill → served again", &|at| at >= 0.0 && at < back),
            phase("after", &|at| at >= back),
        ]
    }

    /// `(ms from the kill, read ms)` of the reads answered by Redis (`from_cache`) or computed.
    pub fn points(&self, from_cache: bool) -> Vec<(f64, f64)> {
        self.reads.iter().filter(|r| r.from_cache == from_cache).map(|r| (r.at_ms, r.ms)).collect()
    }

    /// All reads, wrong values counted: must be 0.
    pub fn wrong(&self) -> usize {
        self.reads.iter().filter(|r| !r.right).count()
    }
}

/// The value the reads expect for key number `i`: what "computing" it gives, and what was
/// cached before the kill.
fn value_of(i: usize) -> i64 {
    i as i64 * 7 + 1
}

impl LocalCluster {
    /// Starts the cluster (or finds it running) on 127.0.0.1:17101–17106 (`M8_REDIS_CLUSTER_PORT`
    /// and `M8_BEYOND_DIR` move it).
    pub fn start() -> Result<LocalCluster> {
        let servers = Scripted::from_env("redis-cluster", "M8_REDIS_CLUSTER_PORT", CLUSTER_PORT);
        LocalCluster::start_on(servers.first_port, servers.dir)
    }

    /// Starts the cluster on `first_port` and the five after it, its files under `dir`.
    pub fn start_on(first_port: u16, dir: PathBuf) -> Result<LocalCluster> {
        let cluster = LocalCluster { url: ServiceUrl::new(""), first_port, dir };
        let url = crate::runtime::run(cluster.servers().up())?;
        Ok(LocalCluster { url, ..cluster })
    }

    /// Stops the six nodes by pid and removes their files; what the script said.
    pub fn stop(&self) -> Result<String> {
        crate::runtime::run(self.script(&["down"]))
    }

    fn servers(&self) -> Scripted {
        Scripted { what: "redis-cluster", port_variable: "M8_REDIS_CLUSTER_PORT", first_port: self.first_port, dir: self.dir.clone() }
    }

    async fn script(&self, args: &[&str]) -> Result<String> {
        self.servers().script(args).await
    }

    /// The six nodes: role, slots, keys.
    pub fn nodes(&self) -> Result<Vec<ClusterNode>> {
        crate::runtime::run(crate::runtime::within("reading the cluster's nodes", Duration::from_secs(10), self.nodes_now()))?
    }

    async fn nodes_now(&self) -> Result<Vec<ClusterNode>> {
        let topology = self.topology().await?;
        let mut nodes = Vec::new();
        for (_, n) in &topology {
            let keys = match one_node(&n.node).await {
                Ok(mut conn) => redis::cmd("DBSIZE").query_async::<i64>(&mut conn).await.ok(),
                Err(_) => None,
            };
            // The master's address, not its id.
            let replica_of = topology.iter().find(|(id, _)| *id == n.replica_of).map_or(String::new(), |(_, m)| m.node.clone());
            nodes.push(ClusterNode { keys, replica_of, ..n.clone() });
        }
        Ok(nodes)
    }

    /// `CLUSTER NODES` from the first node that answers: (node id, node), sorted by address.
    async fn topology(&self) -> Result<Vec<(String, ClusterNode)>> {
        let mut last: Option<redis::RedisError> = None;
        for port in self.first_port..self.first_port + 6 {
            let addr = format!("127.0.0.1:{port}");
            let text = match one_node(&addr).await {
                Ok(mut conn) => redis::cmd("CLUSTER").arg("NODES").query_async::<String>(&mut conn).await,
                Err(e) => Err(e),
            };
            match text {
                Ok(text) => return Ok(parse_nodes(&text)),
                Err(e) => last = Some(e),
            }
        }
        Err(self.url.unreachable("Redis", last.map_or("no node answered".to_string(), |e| e.to_string())))
    }

    /// Reads `keys` keys through a [`RedisCache`] on the cluster, one every `pace`, for 1 s;
    /// kills (SIGKILL, by pid) the master holding the first key; reads on until its replica has
    /// taken over and Redis answers that master's keys again, then 1 s more — at most 30 s after
    /// the kill. A read Redis cannot answer is computed, so every read gets its value; every value
    /// is checked.
    pub fn failover_under_reads(&self, keys: usize, pace: Duration) -> Result<Failover> {
        crate::runtime::run(crate::runtime::within("the failover under reads", Duration::from_secs(60), self.failover(keys.max(1), pace)))?
    }

    async fn failover(&self, keys: usize, pace: Duration) -> Result<Failover> {
        const BEFORE: Duration = Duration::from_secs(1);
        const AFTER: Duration = Duration::from_secs(1);
        const BOUND: Duration = Duration::from_secs(30);
        let ttl = Duration::from_secs(600);
        let cache = RedisCache::new(&self.url, &super::run_namespace("failover"))?;
        let entries: Vec<(String, i64)> = (0..keys).map(|i| (format!("k{i}"), value_of(i))).collect();
        cache.set_many(&entries, ttl).await?;

        // The victim: the master serving the first key's slot, and its replica.
        let topology = self.topology().await?;
        let serves = |n: &ClusterNode, slot: u16| {
            n.role == "master" && n.slots.split(' ').any(|r| match r.split_once('-') {
                Some((a, b)) => a.parse::<u16>().is_ok_and(|a| a <= slot) && b.parse::<u16>().is_ok_and(|b| slot <= b),
                None => r.parse::<u16>() == Ok(slot),
            })
        };
        let first_slot = slot_of(&cache.key("k0"));
        let (victim_id, victim) = topology.iter().find(|(_, n)| serves(n, first_slot)).cloned().ok_or_else(|| Error::InvalidInput(format!("no master of the cluster serves slot {first_slot}")))?;
        let replica = topology.iter().find(|(_, n)| n.replica_of == victim_id).map(|(_, n)| n.node.clone()).ok_or_else(|| Error::InvalidInput(format!("the master {} has no replica", victim.node)))?;
        let on_victim: Vec<bool> = (0..keys).map(|i| serves(&victim, slot_of(&cache.key(&format!("k{i}"))))).collect();
        let victim_port = victim.node.rsplit(':').next().unwrap_or_default().to_string();

        // (read started, took, from the cache, on the killed master, right)
        let mut log: Vec<(Instant, f64, bool, bool, bool)> = Vec::new();
        let mut kill: Option<tokio::task::JoinHandle<Result<String>>> = None;
        // The clock starts when the kill is sent (its script started): reads from then on are
        // not "before the kill". A read counts as served again only once the script has returned
        // (the node is dead by then), so the times err on the long side by the script's start.
        let mut sent: Option<Instant> = None;
        let mut dead: Option<Instant> = None;
        let promoted: Arc<std::sync::Mutex<Option<Duration>>> = Arc::default();
        let mut served_again: Option<Duration> = None;
        let started = Instant::now();
        let mut i = 0usize;
        loop {
            let now = Instant::now();
            if kill.is_none() && now - started >= BEFORE {
                // The kill runs beside the reads, which go on while it starts.
                let me = self.clone();
                let port = victim_port.clone();
                sent = Some(Instant::now());
                kill = Some(tokio::spawn(async move { me.script(&["kill", &port]).await }));
            }
            if let (None, Some(handle), Some(at)) = (dead, &mut kill, sent) {
                if handle.is_finished() {
                    handle.await.map_err(|e| Error::InvalidInput(format!("the kill did not finish: {e}")))??;
                    dead = Some(Instant::now());
                    kill = None;
                    tokio::spawn(watch_promotion(replica.clone(), at, BOUND, promoted.clone()));
                } else if now - started >= BEFORE + BOUND {
                    return Err(Error::InvalidInput(format!("killing the cluster node on port {victim_port} took more than {} s", BOUND.as_secs())));
                }
            }
            if let (Some(t0), Some(_)) = (sent, dead) {
                let since = now - t0;
                let settled = match (served_again, *promoted.lock().unwrap()) {
                    (Some(a), Some(b)) => since >= a.max(b) + AFTER,
                    _ => false,
                };
                if settled || since >= BOUND {
                    break;
                }
            }
            let key = i % keys;
            let computes = cache.stats().computes;
            let t = Instant::now();
            let value = cache.get_or_compute(&format!("k{key}"), ttl, async || Ok(value_of(key))).await?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let from_cache = cache.stats().computes == computes;
            if let (Some(t0), Some(dead), true, true, None) = (sent, dead, from_cache, on_victim[key], served_again)
                && t >= dead
            {
                served_again = Some(t - t0);
            }
            log.push((t, ms, from_cache, on_victim[key], value == value_of(key)));
            i += 1;
            tokio::time::sleep(pace).await;
        }
        let t0 = sent.unwrap_or_else(Instant::now);
        let signed_ms = |t: Instant| if t >= t0 { (t - t0).as_secs_f64() * 1e3 } else { -((t0 - t).as_secs_f64() * 1e3) };
        let reads = log.into_iter().map(|(t, ms, from_cache, on_killed_master, right)| FailoverRead { at_ms: signed_ms(t), ms, from_cache, on_killed_master, right }).collect();
        // The cluster is the project's own and stopped after the lesson; the keys go anyway.
        let _ = cache.invalidate("k*").await;
        let promoted_after = *promoted.lock().unwrap();
        Ok(Failover {
            killed: victim.node.clone(),
            replica,
            keys,
            keys_on_killed_master: on_victim.iter().filter(|v| **v).count(),
            reads,
            promoted_after,
            served_again_after: served_again,
        })
    }
}

/// Asks `replica` for its `ROLE` every 20 ms from `t0` until it says `master` (or `bound` has
/// passed), and notes when.
async fn watch_promotion(replica: String, t0: Instant, bound: Duration, promoted: Arc<std::sync::Mutex<Option<Duration>>>) {
    while t0.elapsed() < bound {
        if let Ok(mut conn) = one_node(&replica).await {
            let role = tokio::time::timeout(Duration::from_millis(200), redis::cmd("ROLE").query_async::<redis::Value>(&mut conn)).await;
            if let Ok(Ok(redis::Value::Array(parts))) = role {
                if matches!(parts.first(), Some(redis::Value::BulkString(b)) if b == b"master") {
                    *promoted.lock().unwrap() = Some(t0.elapsed());
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plain connection to one node of the cluster (`host:port`), bounded by 500 ms.
async fn one_node(addr: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}"))?;
    let config = redis::AsyncConnectionConfig::new().set_connection_timeout(Some(Duration::from_millis(500))).set_response_timeout(Some(Duration::from_millis(500)));
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// `CLUSTER NODES` text → (node id, node) sorted by address. Each line:
/// `<id> <ip:port@bus> <flags> <master id or -> <ping> <pong> <epoch> <link> <slot ranges…>`.
fn parse_nodes(text: &str) -> Vec<(String, ClusterNode)> {
    let ids: Vec<(String, String)> = text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        Some((f.first()?.to_string(), f.get(1)?.split(['@', ',']).next()?.to_string()))
    }).collect();
    let mut nodes: Vec<(String, ClusterNode)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (id, addr, flags, master) = (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?);
            let node = addr.split(['@', ',']).next()?.to_string();
            let failed = flags.split(',').any(|x| x == "fail");
            let role = if flags.split(',').any(|x| x == "master") { "master" } else { "replica" };
            let replica_of = ids.iter().find(|(i, _)| i == master).map(|(i, _)| i.clone()).unwrap_or_default();
            Some((id.to_string(), ClusterNode {
                node,
                role: if failed { format!("{role} (failed)") } else { role.to_string() },
                replica_of,
                slots: f.get(8..).map(|s| s.join(" ")).unwrap_or_default(),
                keys: None,
            }))
        })
        .collect();
    nodes.sort_by(|a, b| a.1.node.cmp(&b.1.node));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_are_read_with_roles_masters_and_slots() {
        let text = "aaa 127.0.0.1:17101@27101 myself,master - 0 0 1 connected 0-5460\n\
                    bbb 127.0.0.1:17104@27104 slave aaa 0 0 1 connected\n\
                    ccc 127.0.0.1:17102@27102 master,fail - 0 0 2 disconnected 5461-10922 12000\n";
        let nodes = parse_nodes(text);
        let addrs: Vec<&str> = nodes.iter().map(|(_, n)| n.node.as_str()).collect();
        assert_eq!(addrs, ["127.0.0.1:17101", "127.0.0.1:17102", "127.0.0.1:17104"]);
        assert_eq!((nodes[0].1.role.as_str(), nodes[0].1.slots.as_str()), ("master", "0-5460"));
        assert_eq!((nodes[1].1.role.as_str(), nodes[1].1.slots.as_str()), ("master (failed)", "5461-10922 12000"));
        assert_eq!((nodes[2].1.role.as_str(), nodes[2].1.replica_of.as_str()), ("replica", "aaa"));
    }

    #[test]
    fn phases_split_the_reads_at_the_kill_and_at_served_again() {
        let read = |at_ms: f64, from_cache: bool, right: bool| FailoverRead { at_ms, ms: 1.0, from_cache, on_killed_master: true, right };
        let f = Failover {
            killed: "a".into(),
            replica: "b".into(),
            keys: 1,
            keys_on_killed_master: 1,
            reads: vec![read(-5.0, true, true), read(10.0, false, true), read(20.0, false, false), read(1500.0, true, true)],
            promoted_after: Some(Duration::from_millis(1200)),
            served_again_after: Some(Duration::from_millis(1500)),
        };
        let p = f.phases();
        assert_eq!(p.iter().map(|p| (p.reads, p.from_cache, p.computed, p.wrong)).collect::<Vec<_>>(), [(1, 1, 0, 0), (2, 0, 2, 1), (1, 1, 0, 0)]);
        assert_eq!(f.wrong(), 1);
        assert_eq!(f.points(false), [(10.0, 1.0), (20.0, 1.0)]);
    }
}
