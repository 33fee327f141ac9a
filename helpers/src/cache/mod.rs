//! Module 3: caching tiers — memoisation, a bounded TTL cache in memory, Redis cache-aside and
//! write-through, invalidation, degradation when Redis goes away, all measured.
//!
//! | where | what |
//! |---|---|
//! | [`memo`] | Fibonacci naive vs memoised (calls counted, timed); [`memo::memory_cache`]: moka with size limit and TTL; `#[cached]` on a function ([`memo::fib_cached`], [`memo::price_quote`]) 
//! | [`redis_cache`] | [`RedisCache`]: namespaced typed get / set / MGET / delete / `SCAN` invalidation, cache-aside `get_or_compute` with stampede protection, `write_through`; failures counted, not thrown |
//! | [`cluster`] | [`cluster::LocalCluster`]: a Redis Cluster of the project's own (3 masters, a replica each); a master killed under reads through a [`RedisCache`] on it, every read recorded |
//! | [`tiered`] | [`TieredCache`]: memory → Redis → compute, which tier answered and its latency |
//! | [`link`] | [`CuttableLink`] (from [`crate::link`]): a TCP link to Redis that can be cut and restored, to stop "Redis" mid-run |
//! | [`latency`] | p50 / p95 / p99 of measured samples (shared with module 4; lives at [`crate::latency`]) |
//! | `lessons.rs` | the lesson's measured runs: [`measure_latencies`] (and [`tier_label`] for its chart), [`degradation`], [`stampede`], [`tiered_reads`], and (with feature `sql`) [`cached_recommendations`], [`cached_catalog`], [`stale_and_fresh`] |
//! | [`exercises`] | notebook 03's exercises: a key cached with a TTL ([`SyncRedis::check_exercise`]) and the hit ratio ([`exercises::check_hit_ratio`]) |
//! | `sync.rs` | [`SyncRedis`]: the notebook surface — one sync, non-generic call per lesson; raw Redis commands and typed `get` / `set` / `del` / `scan` (keys under `module8:`) for the cache-aside a cell writes by hand |
//!
//! Everything here runs inside one call (a [`SyncRedis`] method in a notebook): connections
//! do not outlive the cell.

pub use crate::link;
pub mod cluster;
pub mod exercises;
pub mod memo;
pub mod redis_cache;
mod sync;
pub mod tiered;
mod lessons;

pub use crate::latency::{self, Latency, median_of, summarize};
pub use crate::link::CuttableLink;
pub use redis_cache::{CacheStats, RedisCache};
pub use sync::{COMMAND_KEY_PREFIX, SyncRedis};
pub use tiered::{Tier, TieredCache};
pub use lessons::*;

/// A namespace of its own for one run, so that runs (and tests) never see each other's keys.
pub fn run_namespace(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}
