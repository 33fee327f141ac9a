//! The tiered cache: memory (moka) → Redis → compute, with hits and latency per tier.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::latency::{Latency, summarize};
use super::redis_cache::RedisCache;
use crate::error::{Error, Result};

/// Which tier answered a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// In-process memory (moka), including callers that waited for a concurrent load.
    Memory,
    /// Redis.
    Redis,
    /// Neither had it: computed (then stored in both).
    Compute,
}

impl Tier {
    /// `memory`, `redis`, `compute`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Memory => "memory",
            Tier::Redis => "redis",
            Tier::Compute => "compute",
        }
    }
}

/// Memory → Redis → compute. Cheap to clone (clones share both tiers and the samples).
/// Concurrent misses of one key compute once: moka runs one loader per key and the others
/// wait for its value.
#[derive(Clone)]
pub struct TieredCache<T: Clone + Send + Sync + 'static> {
    memory: moka::future::Cache<String, T>,
    redis: RedisCache,
    redis_ttl: Duration,
    samples: Arc<Mutex<Vec<(Tier, f64)>>>,
}

impl<T> TieredCache<T>
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    /// A tiered cache over `redis`: up to `memory_capacity` entries in memory for
    /// `memory_ttl`, and in Redis for `redis_ttl`. Keep `memory_ttl` short: the memory tier
    /// of another process does not hear about invalidations.
    pub fn new(redis: RedisCache, memory_capacity: u64, memory_ttl: Duration, redis_ttl: Duration) -> Self {
        TieredCache {
            memory: moka::future::Cache::builder().max_capacity(memory_capacity).time_to_live(memory_ttl).build(),
            redis,
            redis_ttl,
            samples: Arc::default(),
        }
    }

    /// The value of `key` from the fastest tier that has it, else `compute`d and stored in
    /// both; also says which tier answered. Redis failures fall through to `compute`.
    pub async fn get(&self, key: &str, compute: impl AsyncFnOnce() -> Result<T>) -> Result<(T, Tier)> {
        let started = Instant::now();
        let loaded_from = Mutex::new(Tier::Memory);
        let entry = self
            .memory
            .entry(key.to_string())
            .or_try_insert_with(async {
                match self.redis.get::<T>(key).await {
                    Ok(Some(v)) => {
                        *loaded_from.lock().unwrap() = Tier::Redis;
                        return Ok(v);
                    }
                    Ok(None) | Err(Error::Unreachable { .. }) => {}
                    Err(e) => return Err(e),
                }
                *loaded_from.lock().unwrap() = Tier::Compute;
                let v = compute().await?;
                let _ = self.redis.set(key, &v, self.redis_ttl).await;
                Ok(v)
            })
            .await
            .map_err(Error::unshare)?;
        let tier = if entry.is_fresh() { *loaded_from.lock().unwrap() } else { Tier::Memory };
        let micros = started.elapsed().as_secs_f64() * 1e6;
        self.samples.lock().unwrap().push((tier, micros));
        Ok((entry.into_value(), tier))
    }

    /// Drops `key` from both tiers (this process's memory and Redis).
    pub async fn invalidate(&self, key: &str) -> Result<()> {
        self.memory.invalidate(key).await;
        self.redis.delete(key).await.map(drop)
    }

    /// Latency per tier over every read so far: count, p50, p95, p99 (µs).
    pub fn latencies(&self) -> Vec<Latency> {
        let samples = self.samples.lock().unwrap();
        [Tier::Memory, Tier::Redis, Tier::Compute]
            .into_iter()
            .filter_map(|tier| {
                let v: Vec<f64> = samples.iter().filter(|s| s.0 == tier).map(|s| s.1).collect();
                (!v.is_empty()).then(|| summarize(&format!("tiered: {}", tier.name()), v))
            })
            .collect()
    }

    /// The Redis tier (for its counters, or to invalidate by pattern).
    pub fn redis(&self) -> &RedisCache {
        &self.redis
    }
}
