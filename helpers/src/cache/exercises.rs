//! Notebook 03's exercises:
//!
//! - `03.1` — with [`SyncRedis::command`], cache the value `42` under the key
//!   [`EXERCISE_KEY`] so that it **expires within 60 seconds**; [`SyncRedis::check_exercise`]
//!   reads the value and its time to live.
//! - `03.2` — from the tiered-cache lesson's counts ([`TierCount`]: who answered each read),
//!   compute the **hit ratio** of the whole cache for the first process: reads answered by
//!   memory or Redis, over all its reads; [`check_hit_ratio`] compares.

use super::TierCount;
use super::SyncRedis;
use crate::error::{Error, Result};
use crate::exercise::{self, Verdict};

/// The key of exercise `03.1`.
pub const EXERCISE_KEY: &str = "module8:exercise:answer";

impl SyncRedis {
    /// Checks exercise `03.1` on this Redis: the key holds `42` and expires in 1–60 s.
    pub fn check_exercise(&self, id: &str) -> Result<Verdict> {
        if id != "03.1" {
            return Err(Error::NotFound(format!("there is no Redis exercise {id} in notebook 03 (there is 03.1; 03.2 is cache::exercises::check_hit_ratio)")));
        }
        let value = self.command(&["GET", EXERCISE_KEY])?;
        let ttl = self.command(&["TTL", EXERCISE_KEY])?;
        let ttl: i64 = ttl.trim_start_matches("(integer) ").parse().unwrap_or(-2);
        Ok(match (value.as_str(), ttl) {
            ("(nil)", _) => Verdict::not_yet(id, format!("there is no key `{EXERCISE_KEY}` (or it has expired already).")),
            (v, _) if v != "\"42\"" => Verdict::not_yet(id, format!("`{EXERCISE_KEY}` holds something other than 42.")),
            (_, -1) => Verdict::not_yet(id, "the value is right, but it never expires: a cache entry needs a time to live (EX)."),
            (_, t) if t > 60 => Verdict::not_yet(id, "the value is right, but it lives longer than 60 seconds."),
            (_, t) => Verdict::right(id, format!("42 is cached and expires in {t} s.")),
        })
    }
}

/// Checks exercise `03.2`: `yours` against the first process's hit ratio in `counts`.
pub fn check_hit_ratio(counts: &[TierCount], yours: f64) -> Result<Verdict> {
    let first: Vec<&TierCount> = counts.iter().filter(|c| c.process == "first process").collect();
    let all: i64 = first.iter().map(|c| c.reads).sum();
    if all == 0 {
        return Err(Error::InvalidInput("exercise 03.2 needs the tier counts of the tiered-cache lesson (`redis.tiered_reads(…)`)".into()));
    }
    let hits: i64 = first.iter().filter(|c| c.tier != "compute").map(|c| c.reads).sum();
    Ok(exercise::compare_number("03.2", "hit ratio", yours, hits as f64 / all as f64, 1e-6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hit_ratio_counts_memory_and_redis_of_the_first_process_only() {
        let row = |process: &str, tier: &str, reads: i64| TierCount { process: process.into(), tier: tier.into(), reads };
        let counts = vec![
            row("first process", "memory", 80),
            row("first process", "redis", 0),
            row("first process", "compute", 20),
            row("second process", "redis", 20),
        ];
        assert!(check_hit_ratio(&counts, 0.8).unwrap().correct);
        assert_eq!(check_hit_ratio(&counts, 100.0 / 120.0).unwrap().feedback, "your hit ratio is too high.");
        assert!(check_hit_ratio(&[], 0.5).is_err());
    }
}
