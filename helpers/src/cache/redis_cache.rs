//! Tier 2: Redis. A typed cache-aside helper with namespaced keys and TTLs, write-through,
//! delete, invalidation by pattern with `SCAN` (never `KEYS`), and graceful degradation:
//! when Redis does not answer, callers still get their (computed) answer and the failure is
//! counted, not thrown. The connection is re-established by itself once Redis is back.
//!
//! The same cache runs on a Redis Cluster when its URL says so ([`is_cluster`]): several hosts
//! (`redis://h1:7000,h2:7001,h3:7002`, any of them a seed) or `?cluster=true` on one
//! configuration endpoint. The crate's cluster client then follows `MOVED`, refreshes its slot
//! map and, after a failover, sends each key to its new master; a failure skips only the keys
//! of its slot; `SCAN` walks every master; keys a lesson needs in one round trip share a hash
//! tag (`{dash}:events`, `{dash}:users`), and [`RedisCache::set_many`] sends one pipeline per
//! slot (docs/beyond-one-server.md).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ServiceUrl;
use crate::error::{Error, Result};
use crate::frame_row;

/// How long one Redis operation (or a connection attempt) may take before it counts as a
/// failure and the caller falls back. Default 250 ms: a cache that is slower than that is
/// not helping.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Every key this crate writes starts with this, then the cache's namespace.
pub const KEY_PREFIX: &str = "module8";

/// After a Redis failure, operations skip Redis (and fall back at once) for this long
/// before trying it again: a cut-off server costs one timeout, not one per request.
pub const RETRY_REDIS_AFTER: Duration = Duration::from_millis(500);

/// Counters of one cache (shared by its clones).
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    computes: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
    writes: AtomicU64,
}

/// What a cache has done so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheStats {
    /// The cache's namespace.
    pub namespace: String,
    /// Reads answered by Redis.
    pub hits: i64,
    /// Reads Redis had no value for.
    pub misses: i64,
    /// Times the value was computed (misses, and reads while Redis was failing).
    pub computes: i64,
    /// Redis operations that failed or timed out — counted, never thrown.
    pub errors: i64,
    /// Operations that did not try Redis because it failed within [`RETRY_REDIS_AFTER`].
    pub skipped: i64,
    /// Values written to Redis.
    pub writes: i64,
}
frame_row!(CacheStats { namespace, hits, misses, computes, errors, skipped, writes });

/// A namespaced, typed cache in Redis. Cheap to clone; clones share the connection and the
/// counters. Values are stored as JSON, so any `serde` type works and `redis-cli` shows
/// them readably.
#[derive(Clone)]
pub struct RedisCache {
    conn: Conn,
    namespace: String,
    url: ServiceUrl,
    counters: Arc<Counters>,
    /// Concurrent misses of one key wait for the first caller's computation (single flight).
    inflight: moka::future::Cache<String, Arc<serde_json::Value>>,
    /// Until when Redis is skipped after a failure (a minimal circuit breaker), by [`Shard`]:
    /// on one server everything is one shard; on a cluster each slot is one.
    skip_until: Arc<std::sync::Mutex<HashMap<Shard, std::time::Instant>>>,
}

/// What one failure makes the cache skip: on one server, everything ([`Shard::All`]); on a
/// cluster, the keys of the failed key's slot, or everything after a failure of a command
/// without a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Shard {
    All,
    Slot(u16),
}

/// A connection to one Redis through a [`ConnectionManager`] (which reconnects by itself), or to
/// a Redis Cluster through the crate's cluster client (which follows `MOVED`, refreshes its slot
/// map and retries on the new master after a failover). Cheap to clone; clones share it.
#[derive(Clone)]
pub enum Conn {
    /// One server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(&'a mut self, cmd: &'a redis::Pipeline, offset: usize, count: usize) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Is `url` a Redis Cluster? Yes when it names several hosts (`redis://h1:7000,h2:7001`: seeds,
/// any one of which is enough to find the rest) or carries `cluster=true` in its query (one
/// configuration endpoint, as managed services give).
///
/// ```
/// use helpers::{ServiceUrl, cache::redis_cache::is_cluster};
/// assert!(is_cluster(&ServiceUrl::new("redis://127.0.0.1:17101,127.0.0.1:17102")));
/// assert!(is_cluster(&ServiceUrl::new("rediss://:pw@cache.example.com:6379/?cluster=true")));
/// assert!(!is_cluster(&ServiceUrl::new("redis://127.0.0.1:6379/0")));
/// ```
pub fn is_cluster(url: &ServiceUrl) -> bool {
    url.host_ports(6379).len() > 1 || query_params(url.expose()).any(|(k, v)| k == "cluster" && v == "true")
}

fn query_params(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    let query = raw.rsplit_once('@').map_or(raw, |(_, after)| after).split_once('?').map_or("", |(_, q)| q);
    query.split('#').next().unwrap_or_default().split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// The cluster's seed nodes as one URL each: the URL's user-info, path and query (without
/// `cluster=`) on each of its hosts.
fn cluster_nodes(url: &ServiceUrl) -> Vec<String> {
    url.host_ports(6379)
        .into_iter()
        .map(|(host, port)| {
            let host = if host.contains(':') { format!("[{host}]") } else { host };
            let one = url.with_hosts(&format!("{host}:{port}"));
            let raw = one.expose();
            match raw.split_once('?') {
                Some((head, query)) => {
                    let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with("cluster=")).collect();
                    if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) }
                }
                None => raw.to_string(),
            }
        })
        .collect()
}

/// A cluster client for the cluster at `url` ([`is_cluster`]): TLS for `rediss://` seeds,
/// verified as [`client`] does; every command bounded by `timeout`, one retry after a short
/// wait (a failover is followed by refreshing the slot map, not by waiting).
pub fn cluster_client(url: &ServiceUrl, timeout: Duration) -> Result<redis::cluster::ClusterClient> {
    let mut builder = redis::cluster::ClusterClient::builder(cluster_nodes(url))
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(1)
        .min_retry_wait(10)
        .max_retry_wait(100);
    if let (Some(ca), "rediss") = (url.ca_file(), url.scheme().as_str()) {
        let root = std::fs::read(ca).map_err(|e| Error::io("reading the CA file", ca, e))?;
        builder = builder.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(root) });
    }
    builder.build().map_err(|e| url.refused("REDIS_URL", e))
}

/// A connection to the Redis (or Redis Cluster) at `url` that connects when first used and
/// again by itself after a failure; every command bounded by `timeout`. Must be called inside a
/// Tokio runtime.
pub fn lazy_connection(url: &ServiceUrl, timeout: Duration) -> Result<Conn> {
    if is_cluster(url) {
        let config = redis::cluster::ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
        return Ok(Conn::Cluster(cluster_client(url, timeout)?.get_pending_async_connection_with_config(config)));
    }
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(10))
        .set_max_delay(Duration::from_millis(100));
    ConnectionManager::new_lazy_with_config(client(url)?, config).map(Conn::Single).map_err(|e| url.refused("REDIS_URL", e))
}

/// A connection to the Redis (or Redis Cluster) at `url`, made now, within `timeout`.
pub async fn connect(url: &ServiceUrl, timeout: Duration) -> Result<Conn> {
    let attempt = async {
        if is_cluster(url) {
            let config = redis::cluster::ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
            Ok(Conn::Cluster(cluster_client(url, timeout)?.get_async_connection_with_config(config).await.map_err(|e| url.unreachable("Redis", e))?))
        } else {
            let config = ConnectionManagerConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout)).set_number_of_retries(1);
            Ok(Conn::Single(ConnectionManager::new_with_config(client(url)?, config).await.map_err(|e| url.unreachable("Redis", e))?))
        }
    };
    crate::runtime::within("connecting to Redis", timeout + Duration::from_secs(1), attempt).await?
}

/// Every key matching the glob `pattern`, walked with `SCAN <cursor> MATCH pattern COUNT count`
/// until the cursor is back at 0 — on a cluster, on every master in turn (`CLUSTER SLOTS` names
/// them), since each holds only its slots' keys. Never `KEYS`. Sorted, each key once.
pub async fn scan_keys(conn: &mut Conn, pattern: &str, count: usize) -> redis::RedisResult<Vec<String>> {
    let nodes = match conn {
        Conn::Single(_) => vec![None],
        Conn::Cluster(c) => masters(c).await?.into_iter().map(|(host, port)| Some(SingleNodeRoutingInfo::ByAddress { host, port })).collect(),
    };
    let mut keys = Vec::new();
    for node in nodes {
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(count);
            let (next, batch): (u64, Vec<String>) = redis::from_redis_value(send_to_node(conn, cmd, node.clone()).await?).map_err(redis::RedisError::from)?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    keys.sort();
    keys.dedup(); // SCAN may return a key twice
    Ok(keys)
}

/// Sends `cmd` to one node rather than to its key's slot or to every node: the only one, or on a
/// cluster the node `node` names (any one when `None`).
pub async fn send_to_node(conn: &mut Conn, cmd: redis::Cmd, node: Option<SingleNodeRoutingInfo>) -> redis::RedisResult<redis::Value> {
    match conn {
        Conn::Single(c) => cmd.query_async(c).await,
        Conn::Cluster(c) => c.route_command(cmd, RoutingInfo::SingleNode(node.unwrap_or(SingleNodeRoutingInfo::Random))).await,
    }
}

/// The `host:port` of every master of the cluster (from `CLUSTER SLOTS` on any node), each once.
pub async fn masters(conn: &mut ClusterConnection) -> redis::RedisResult<Vec<(String, u16)>> {
    use redis::Value as V;
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    let reply = conn.route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random)).await?;
    let V::Array(ranges) = reply else { return Err((redis::ErrorKind::Parse, "CLUSTER SLOTS: not an array").into()) };
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in ranges {
        // [start, end, [host, port, id, …] of the master, then its replicas]
        let V::Array(parts) = range else { continue };
        let Some(V::Array(master)) = parts.get(2) else { continue };
        let host = match master.first() {
            Some(V::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(V::SimpleString(s)) => s.clone(),
            _ => continue,
        };
        let Some(V::Int(port)) = master.get(1) else { continue };
        if !out.iter().any(|(h, p)| *h == host && i64::from(*p) == *port) {
            out.push((host, *port as u16));
        }
    }
    out.sort();
    Ok(out)
}

/// The cluster hash slot of `key`: `CRC16(key) mod 16384`, where only the key's hash tag is
/// hashed if it has one — the part between the first `{` and the next `}`, when not empty — so
/// that `{cart:7}:items` and `{cart:7}:total` share a slot.
///
/// ```
/// use helpers::cache::redis_cache::slot_of;
/// assert_eq!(slot_of("foo"), 12182); // CLUSTER KEYSLOT foo
/// assert_eq!(slot_of("{cart:7}:items"), slot_of("{cart:7}:total"));
/// assert_ne!(slot_of("{}:a"), slot_of("{}:b")); // an empty tag: the whole key is hashed
/// ```
pub fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tag = bytes.iter().position(|b| *b == b'{').and_then(|open| {
        let rest = &bytes[open + 1..];
        rest.iter().position(|b| *b == b'}').filter(|close| *close > 0).map(|close| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tag.unwrap_or(bytes)) % 16384
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache").field("url", &self.url).field("namespace", &self.namespace).finish()
    }
}

/// A client for the Redis at `url`. A `rediss://` URL is TLS, its server's certificate verified
/// against the CA of `M8_CA_FILE` ([`ServiceUrl::ca_file`]) when one is set, else the system's
/// roots; the host name is checked against the certificate either way.
pub fn client(url: &ServiceUrl) -> Result<redis::Client> {
    match url.ca_file() {
        Some(ca) if url.scheme() == "rediss" => {
            let root = std::fs::read(ca).map_err(|e| Error::io("reading the CA file", ca, e))?;
            redis::Client::build_with_tls(url.expose(), redis::TlsCertificates { client_tls: None, root_cert: Some(root) })
        }
        _ => redis::Client::open(url.expose()),
    }
    .map_err(|e| url.refused("REDIS_URL", e))
}

impl RedisCache {
    /// A cache on the Redis at `url`, keys under `module8:<namespace>:`. Does not connect
    /// yet and never fails because Redis is down — only for a malformed URL or namespace.
    /// Must be called inside a Tokio runtime (e.g. within [`run`](crate::run)).
    pub fn new(url: &ServiceUrl, namespace: &str) -> Result<RedisCache> {
        if namespace.is_empty() || namespace.contains(['*', '?', '[', ']', ' ']) {
            return Err(Error::InvalidInput(format!("cache namespace `{namespace}` must be non-empty, without spaces or glob characters")));
        }
        let conn = lazy_connection(url, REDIS_TIMEOUT)?;
        Ok(RedisCache {
            conn,
            namespace: namespace.to_string(),
            url: url.clone(),
            counters: Arc::default(),
            inflight: moka::future::Cache::builder().time_to_live(Duration::from_millis(1)).build(),
            skip_until: Arc::default(),
        })
    }

    /// The full Redis key of `key`: `module8:<namespace>:<key>`.
    pub fn key(&self, key: &str) -> String {
        format!("{KEY_PREFIX}:{}:{key}", self.namespace)
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed) as i64;
        CacheStats {
            namespace: self.namespace.clone(),
            hits: get(&c.hits),
            misses: get(&c.misses),
            computes: get(&c.computes),
            errors: get(&c.errors),
            skipped: get(&c.skipped),
            writes: get(&c.writes),
        }
    }

    /// Is this cache on a Redis Cluster?
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// What a failure of a command on `key` (a full key; `None`: no key, or several) makes the
    /// cache skip.
    fn shard(&self, key: Option<&str>) -> Shard {
        match (&self.conn, key) {
            (Conn::Cluster(_), Some(key)) => Shard::Slot(slot_of(key)),
            _ => Shard::All,
        }
    }

    /// Fails fast while Redis (on a cluster: the shard's slot, or all of it) is being skipped
    /// after a recent failure.
    fn ready(&self, shard: Shard) -> Result<()> {
        let until = {
            let skip = self.skip_until.lock().unwrap();
            [skip.get(&Shard::All), skip.get(&shard)].into_iter().flatten().max().copied()
        };
        match until {
            Some(t) if std::time::Instant::now() < t => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                Err(self.url.unreachable("Redis", format!("skipped: it failed less than {} ms ago", RETRY_REDIS_AFTER.as_millis())))
            }
            _ => Ok(()),
        }
    }

    /// Counts a Redis failure, skips Redis for [`RETRY_REDIS_AFTER`], and returns an error
    /// that names Redis, its masked URL and how to start it.
    fn failure(&self, shard: Shard, e: redis::RedisError) -> Error {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let now = std::time::Instant::now();
        let mut skip = self.skip_until.lock().unwrap();
        skip.retain(|_, until| *until > now);
        skip.insert(shard, now + RETRY_REDIS_AFTER);
        drop(skip);
        self.url.unreachable("Redis", e)
    }

    /// Every command goes through here: skipped while Redis just failed, failures counted.
    async fn query<T: redis::FromRedisValue>(&self, shard: Shard, cmd: &redis::Cmd) -> Result<T> {
        self.ready(shard)?;
        let started = std::time::Instant::now();
        let out = cmd.query_async(&mut self.conn.clone()).await.map_err(|e| self.failure(shard, e));
        // One `debug` event per command (target `helpers::cache`): its name and key, never the
        // value; `RUST_LOG=helpers::cache=debug` shows every one.
        if tracing::enabled!(target: "helpers::cache", tracing::Level::DEBUG) {
            let mut args = cmd.args_iter().filter_map(|a| match a {
                redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                _ => None,
            });
            let (name, key) = (args.next().unwrap_or_default(), args.next().unwrap_or_default());
            let ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::debug!(target: "helpers::cache", ok = out.is_ok(), ms, "{name} {key}");
        }
        out
    }

    /// Sends `pipe` (several commands, one round trip) the way [`RedisCache::query`] sends one
    /// command: skipped while Redis just failed, failures counted and named. Keys in it must
    /// already be namespaced with [`RedisCache::key`]; on a cluster they must share one slot (a
    /// hash tag: `{dash}:events`, `{dash}:users`), `first_key` being one of them.
    pub(crate) async fn query_pipe<T: redis::FromRedisValue>(&self, first_key: &str, pipe: &redis::Pipeline) -> Result<T> {
        let shard = self.shard(Some(first_key));
        self.ready(shard)?;
        pipe.query_async(&mut self.conn.clone()).await.map_err(|e| self.failure(shard, e))
    }

    /// Reads `key`. `Ok(None)` when absent; an error when Redis fails (this one is for
    /// callers who want to know — the `*_or_*` methods below never fail because of Redis).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let full = self.key(key);
        let raw: Option<String> = self.query(self.shard(Some(&full)), redis::cmd("GET").arg(&full)).await?;
        match raw {
            Some(text) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| Error::Codec { what: format!("the cached value at {}", self.key(key)), reason: format!("not the expected type: {e}") })
            }
            None => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// Reads many keys in one round trip (`MGET`); absent keys are `None`.
    pub async fn get_many<T: DeserializeOwned>(&self, keys: &[&str]) -> Result<Vec<Option<T>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let raw: Vec<Option<String>> = self.query(Shard::All, redis::cmd("MGET").arg(&full)).await?;
        raw.into_iter()
            .zip(&full)
            .map(|(v, k)| match v {
                Some(text) => {
                    self.counters.hits.fetch_add(1, Ordering::Relaxed);
                    serde_json::from_str(&text).map(Some).map_err(|e| Error::Codec { what: format!("the cached value at {k}"), reason: format!("not the expected type: {e}") })
                }
                None => {
                    self.counters.misses.fetch_add(1, Ordering::Relaxed);
                    Ok(None)
                }
            })
            .collect()
    }

    /// Writes `value` under `key`, expiring after `ttl` (at least 1 ms).
    pub async fn set<T: Serialize>(&self, key: &str, value: &T, ttl: Duration) -> Result<()> {
        let text = serde_json::to_string(value).map_err(|e| Error::Codec { what: format!("the value for {key}"), reason: e.to_string() })?;
        let full = self.key(key);
        self.query::<()>(self.shard(Some(&full)), redis::cmd("SET").arg(&full).arg(text).arg("PX").arg(ttl.as_millis().max(1) as u64)).await?;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes many values in one pipelined round trip, each with `ttl`. On a cluster, one
    /// pipeline per slot, sent together (a pipeline cannot cross slots).
    pub async fn set_many<T: Serialize>(&self, entries: &[(String, T)], ttl: Duration) -> Result<()> {
        self.ready(Shard::All)?;
        let mut pipes: HashMap<Shard, redis::Pipeline> = HashMap::new();
        for (k, v) in entries {
            let text = serde_json::to_string(v).map_err(|e| Error::Codec { what: format!("the value for {k}"), reason: e.to_string() })?;
            let full = self.key(k);
            let pipe = pipes.entry(self.shard(Some(&full))).or_insert_with(redis::pipe);
            pipe.cmd("SET").arg(full).arg(text).arg("PX").arg(ttl.as_millis().max(1) as u64).ignore();
        }
        let sends = pipes.into_iter().map(|(shard, pipe)| async move {
            pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(|e| self.failure(shard, e))
        });
        futures_util::future::try_join_all(sends).await?;
        self.counters.writes.fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Removes `key`; `true` if it was there.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let full = self.key(key);
        let n: i64 = self.query(self.shard(Some(&full)), redis::cmd("DEL").arg(&full)).await?;
        Ok(n > 0)
    }

    /// Time left before `key` expires; `None` if it is absent or has no expiry.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let full = self.key(key);
        let ms: i64 = self.query(self.shard(Some(&full)), redis::cmd("PTTL").arg(&full)).await?;
        Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
    }

    /// Deletes every key of this namespace matching the glob `pattern` (e.g. `user:42:*`),
    /// walking the keyspace with `SCAN … MATCH … COUNT 500` ([`scan_keys`]; on a cluster, on
    /// every master) — which never blocks Redis the way `KEYS` does. Returns how many keys were
    /// deleted. Keys of other namespaces are never touched.
    pub async fn invalidate(&self, pattern: &str) -> Result<u64> {
        self.ready(Shard::All)?;
        let keys = scan_keys(&mut self.conn.clone(), &self.key(pattern), 500).await.map_err(|e| self.failure(Shard::All, e))?;
        let mut deleted = 0u64;
        for batch in keys.chunks(500) {
            // On a cluster the client splits an UNLINK of several slots by node.
            deleted += self.query::<u64>(Shard::All, redis::cmd("UNLINK").arg(batch)).await?;
        }
        Ok(deleted)
    }

    /// Cache-aside: the cached value of `key` if Redis has it; otherwise `compute` it, store
    /// it with `ttl`, and return it. Concurrent misses of the same key in this process
    /// compute once — the others wait for that result (stampede protection). If Redis fails,
    /// the value is computed anyway and the failure counted; only `compute`'s own error is
    /// returned.
    pub async fn get_or_compute<T>(&self, key: &str, ttl: Duration, compute: impl AsyncFnOnce() -> Result<T>) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
    {
        match self.get::<T>(key).await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) | Err(Error::Unreachable { .. }) => {}
            Err(e) => return Err(e),
        }
        let full = self.key(key);
        let value = self
            .inflight
            .try_get_with(full.clone(), async {
                self.counters.computes.fetch_add(1, Ordering::Relaxed);
                let v = compute().await?;
                let json = serde_json::to_value(&v).map_err(|e| Error::Codec { what: format!("the value for {key}"), reason: e.to_string() })?;
                // A failed write is counted inside `set`; the caller still gets the value.
                let _ = self.set(key, &json, ttl).await;
                Ok::<_, Error>(Arc::new(json))
            })
            .await
            .map_err(Error::unshare)?;
        self.inflight.invalidate(&full).await;
        serde_json::from_value((*value).clone()).map_err(|e| Error::Codec { what: format!("the value for {full}"), reason: format!("it did not round-trip: {e}") })
    }

    /// Write-through: `store` the new value in the source of truth first, then put it in the
    /// cache, so the next read is fresh. If `store` fails nothing is cached; if only the cache
    /// write fails, the stale entry is deleted (or, with Redis down, counted).
    pub async fn write_through<T, F, Fut>(&self, key: &str, value: &T, ttl: Duration, store: F) -> Result<()>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        store().await?;
        if self.set(key, value, ttl).await.is_err() {
            let _ = self.delete(key).await;
        }
        Ok(())
    }

    /// Is Redis answering right now? (`PING`, bounded by [`REDIS_TIMEOUT`], on a cluster every
    /// master; never skipped, and a success ends the skipping after a failure.)
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        match redis::cmd("PING").query_async::<redis::Value>(&mut conn).await {
            Err(e) => {
                self.failure(Shard::All, e);
                false
            }
            // Answering again: stop skipping it.
            Ok(_) => {
                self.skip_until.lock().unwrap().clear();
                true
            }
        }
    }
}
