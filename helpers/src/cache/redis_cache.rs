//! Tier 2: Redis. A typed cache-aside helper with namespaced keys and TTLs, write-through,
//! delete, invalidation by pattern with `SCAN` (never `KEYS`), and graceful degradation:
//! when Redis does not answer, callers still get their (computed) answer and the failure is
//! counted, not thrown. The connection is re-established by itself once Redis is back.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
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
    conn: ConnectionManager,
    namespace: String,
    url: ServiceUrl,
    counters: Arc<Counters>,
    /// Concurrent misses of one key wait for the first caller's computation (single flight).
    inflight: moka::future::Cache<String, Arc<serde_json::Value>>,
    /// Until when Redis is skipped after a failure (a minimal circuit breaker).
    skip_until: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
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
        let client = client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(100));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| url.refused("REDIS_URL", e))?;
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

    /// Fails fast while Redis is being skipped after a recent failure.
    fn ready(&self) -> Result<()> {
        let until = *self.skip_until.lock().unwrap();
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
    fn failure(&self, e: redis::RedisError) -> Error {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        *self.skip_until.lock().unwrap() = Some(std::time::Instant::now() + RETRY_REDIS_AFTER);
        self.url.unreachable("Redis", e)
    }

    /// Every command goes through here: skipped while Redis just failed, failures counted.
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        self.ready()?;
        let started = std::time::Instant::now();
        let out = cmd.query_async(&mut self.conn.clone()).await.map_err(|e| self.failure(e));
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
    /// already be namespaced with [`RedisCache::key`].
    pub(crate) async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T> {
        self.ready()?;
        pipe.query_async(&mut self.conn.clone()).await.map_err(|e| self.failure(e))
    }

    /// Reads `key`. `Ok(None)` when absent; an error when Redis fails (this one is for
    /// callers who want to know — the `*_or_*` methods below never fail because of Redis).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let raw: Option<String> = self.query(redis::cmd("GET").arg(self.key(key))).await?;
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
        let raw: Vec<Option<String>> = self.query(redis::cmd("MGET").arg(&full)).await?;
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
        self.query::<()>(redis::cmd("SET").arg(self.key(key)).arg(text).arg("PX").arg(ttl.as_millis().max(1) as u64)).await?;
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes many values in one pipelined round trip, each with `ttl`.
    pub async fn set_many<T: Serialize>(&self, entries: &[(String, T)], ttl: Duration) -> Result<()> {
        self.ready()?;
        let mut pipe = redis::pipe();
        for (k, v) in entries {
            let text = serde_json::to_string(v).map_err(|e| Error::Codec { what: format!("the value for {k}"), reason: e.to_string() })?;
            pipe.cmd("SET").arg(self.key(k)).arg(text).arg("PX").arg(ttl.as_millis().max(1) as u64).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await.map_err(|e| self.failure(e))?;
        self.counters.writes.fetch_add(entries.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Removes `key`; `true` if it was there.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        let n: i64 = self.query(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(n > 0)
    }

    /// Time left before `key` expires; `None` if it is absent or has no expiry.
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>> {
        let ms: i64 = self.query(redis::cmd("PTTL").arg(self.key(key))).await?;
        Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
    }

    /// Deletes every key of this namespace matching the glob `pattern` (e.g. `user:42:*`),
    /// walking the keyspace with `SCAN … MATCH … COUNT 500` — which never blocks Redis the way
    /// `KEYS` does. Returns how many keys were deleted. Keys of other namespaces are never
    /// touched.
    pub async fn invalidate(&self, pattern: &str) -> Result<u64> {
        let matcher = self.key(pattern);
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) =
                self.query(redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&matcher).arg("COUNT").arg(500)).await?;
            if !keys.is_empty() {
                deleted += self.query::<u64>(redis::cmd("UNLINK").arg(&keys)).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
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

    /// Is Redis answering right now? (`PING`, bounded by [`REDIS_TIMEOUT`]; never skipped,
    /// and a success ends the skipping after a failure.)
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        match redis::cmd("PING").query_async::<String>(&mut conn).await {
            Err(e) => {
                self.failure(e);
                false
            }
            // Answering again: stop skipping it.
            Ok(_) => {
                *self.skip_until.lock().unwrap() = None;
                true
            }
        }
    }
}
