//! [`SyncRedis`]: the cache lessons from a notebook cell — plain values in, rows out.
//!
//! Each method is sync and non-generic: it connects, runs one lesson on a runtime of its
//! own and closes, so a cell compiles a call, not a Redis client (see `sql::SyncDb` for
//! why). The code a lesson is about is shown with `helpers::source!(…)`.

use std::time::Duration;

use super::{AsideDemo, Latency, Phase, Step, TierCount};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::runtime::{run, within};

/// Redis at `REDIS_URL` and the cache lessons, for notebook cells. Holds only the settings.
///
/// ```no_run
/// use helpers::prelude::*;
/// let redis = cache::SyncRedis::new(&Settings::from_env()?);
/// println!("{}", redis.command(&["SET", "greeting", "hello", "EX", "60"])?);
/// println!("{}", redis.command(&["GET", "greeting"])?);
/// # Ok::<(), helpers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncRedis {
    settings: Settings,
}

impl SyncRedis {
    /// Redis at `settings.redis_url` (nothing is opened yet).
    pub fn new(settings: &Settings) -> SyncRedis {
        SyncRedis { settings: settings.clone() }
    }

    /// Sends one command (`["SET", "k", "v", "EX", "60"]`) and returns Redis's reply as
    /// `redis-cli` would print it. Bounded: 5 s.
    pub fn command(&self, args: &[&str]) -> Result<String> {
        let url = self.settings.redis_url.clone();
        let started = std::time::Instant::now();
        let out = run(async move {
            let (name, rest) = args.split_first().ok_or_else(|| Error::InvalidInput("a Redis command needs a name".into()))?;
            let unreachable = |e: redis::RedisError| Error::Unreachable {
                service: "Redis",
                url: url.masked(),
                reason: crate::check::scrub(&e.to_string(), &url),
                hint: crate::check::how_to_start("Redis", "REDIS_URL"),
            };
            let client = redis::Client::open(url.expose()).map_err(|e| Error::Config { var: "REDIS_URL", reason: crate::check::scrub(&e.to_string(), &url) })?;
            let mut conn = within("connecting to Redis", Duration::from_secs(5), client.get_multiplexed_async_connection()).await?.map_err(unreachable)?;
            let mut cmd = redis::cmd(name);
            for a in rest {
                cmd.arg(*a);
            }
            let reply: redis::Value = within(format!("Redis {name}"), Duration::from_secs(5), cmd.query_async(&mut conn)).await??;
            Ok(show(&reply))
        });
        let (shown, ms) = (crate::trace::redis_args(args), started.elapsed().as_secs_f64() * 1e3);
        match &out {
            Ok(reply) => tracing::info!(target: "helpers::cache", ms, reply_chars = reply.chars().count(), "{shown}"),
            Err(e) => tracing::warn!(target: "helpers::cache", ms, error = %e, "{shown}"),
        }
        out
    }

    /// The cache-aside lesson: `reads` reads of the user statistics (see [`super::aside_demo`]).
    #[cfg(feature = "sql")]
    pub fn aside(&self, reads: usize) -> Result<AsideDemo> {
        run(super::aside_demo(&self.settings, reads))
    }

    /// `concurrent` simultaneous misses of one key whose computation takes `work`: how many
    /// computations ran (see [`super::stampede`]).
    pub fn stampede(&self, concurrent: usize, work: Duration) -> Result<usize> {
        run(super::stampede(&self.settings, concurrent, work))
    }

    /// Write-through, delete and `SCAN` invalidation (see [`super::patterns_demo`]).
    pub fn patterns(&self) -> Result<Vec<Step>> {
        run(super::patterns_demo(&self.settings))
    }

    /// The tiered cache read by two processes (see [`super::tiered_reads`]).
    pub fn tiered_reads(&self, keys: usize, rounds: usize) -> Result<(Vec<TierCount>, Vec<Latency>)> {
        run(super::tiered_reads(&self.settings, keys, rounds))
    }

    /// Cached recommendations and predictions for `user_ids` (see [`super::cached_recommendations`]).
    #[cfg(feature = "sql")]
    pub fn cached_recommendations(&self, user_ids: &[i64]) -> Result<Vec<super::CachedRead>> {
        run(super::cached_recommendations(&self.settings, user_ids))
    }

    /// Trending items per category and product details through cache-aside (see
    /// [`super::cached_catalog`]).
    #[cfg(feature = "sql")]
    pub fn cached_catalog(&self, categories: &[&str], product_ids: &[i64]) -> Result<Vec<super::CachedRead>> {
        run(super::cached_catalog(&self.settings, categories, product_ids))
    }

    /// A precomputed aggregate going stale and fresh again (see [`super::stale_and_fresh`]).
    #[cfg(feature = "sql")]
    pub fn stale_and_fresh(&self) -> Result<Vec<super::StaleCheck>> {
        run(super::stale_and_fresh(&self.settings))
    }

    /// Reads through a link to Redis that is cut and restored (see [`super::degradation`]).
    pub fn degradation(&self, reads: usize) -> Result<Vec<Phase>> {
        run(super::degradation(&self.settings, reads))
    }

    /// p50 / p95 / p99 of every tier (see [`super::measure_latencies`]).
    pub fn latencies(&self, samples: usize) -> Result<Vec<Latency>> {
        run(super::measure_latencies(&self.settings, samples))
    }
}

/// A reply as `redis-cli` shows it.
fn show(value: &redis::Value) -> String {
    use redis::Value as V;
    match value {
        V::Nil => "(nil)".into(),
        V::Int(i) => format!("(integer) {i}"),
        V::BulkString(bytes) => format!("\"{}\"", String::from_utf8_lossy(bytes)),
        V::SimpleString(s) => s.clone(),
        V::Okay => "OK".into(),
        V::Array(items) | V::Set(items) => {
            if items.is_empty() {
                "(empty array)".into()
            } else {
                items.iter().enumerate().map(|(i, v)| format!("{}) {}", i + 1, show(v))).collect::<Vec<_>>().join("\n")
            }
        }
        V::Double(d) => format!("(double) {d}"),
        V::Boolean(b) => format!("(boolean) {b}"),
        other => format!("{other:?}"),
    }
}
