//! Tier 1 in its simplest form: memoisation, and a bounded in-process cache with a TTL.
//!
//! The Fibonacci lesson: the naive recursion recomputes the same subproblems exponentially
//! often; remembering each answer once makes it linear. [`compare_fibonacci`] counts the
//! calls and times both.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::frame_row;

/// The `n`-th Fibonacci number by plain recursion; `calls` counts every invocation.
pub fn fib_naive(n: u32, calls: &mut u64) -> u64 {
    *calls += 1;
    if n < 2 { n as u64 } else { fib_naive(n - 1, calls) + fib_naive(n - 2, calls) }
}

/// The `n`-th Fibonacci number, remembering every answer in `memo`; `calls` counts every
/// invocation (hits included).
pub fn fib_memo(n: u32, memo: &mut HashMap<u32, u64>, calls: &mut u64) -> u64 {
    *calls += 1;
    if n < 2 {
        return n as u64;
    }
    if let Some(&v) = memo.get(&n) {
        return v;
    }
    let v = fib_memo(n - 1, memo, calls) + fib_memo(n - 2, memo, calls);
    memo.insert(n, v);
    v
}

/// One `n` of the Fibonacci comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FibRun {
    /// Which Fibonacci number.
    pub n: i64,
    /// Its value (both ways agree, or the comparison fails).
    pub value: i64,
    /// Calls the naive recursion made.
    pub naive_calls: i64,
    /// Calls the memoised recursion made, starting from an empty memo.
    pub memo_calls: i64,
    /// Naive time, microseconds.
    pub naive_us: f64,
    /// Memoised time from an empty memo, microseconds.
    pub memo_us: f64,
    /// `naive_us / memo_us`.
    pub speedup: f64,
}
frame_row!(FibRun { n, value, naive_calls, memo_calls, naive_us, memo_us, speedup });

/// Times naive and memoised Fibonacci for each `n` (memo emptied for each `n`, so the
/// memoised time includes filling it). Keep `n` ≤ 35 or the naive side takes seconds.
pub fn compare_fibonacci(ns: impl IntoIterator<Item = u32>) -> Vec<FibRun> {
    ns.into_iter()
        .map(|n| {
            let (mut naive_calls, mut memo_calls) = (0, 0);
            let started = Instant::now();
            let naive = std::hint::black_box(fib_naive(std::hint::black_box(n), &mut naive_calls));
            let naive_us = started.elapsed().as_secs_f64() * 1e6;
            let started = Instant::now();
            let mut memo = HashMap::new();
            let memoised = std::hint::black_box(fib_memo(std::hint::black_box(n), &mut memo, &mut memo_calls));
            let memo_us = started.elapsed().as_secs_f64() * 1e6;
            assert_eq!(naive, memoised, "both recursions compute the same number");
            FibRun {
                n: n as i64,
                value: naive as i64,
                naive_calls: naive_calls as i64,
                memo_calls: memo_calls as i64,
                naive_us,
                memo_us,
                speedup: naive_us / memo_us.max(1e-3),
            }
        })
        .collect()
}

/// A bounded in-process cache with a time to live, from moka: at most `capacity` entries
/// (least useful evicted first, by moka's TinyLFU policy), each dropped `ttl` after it was
/// written. Cheap to clone; clones share the entries.
pub fn memory_cache<K, V>(capacity: u64, ttl: Duration) -> moka::sync::Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder().max_capacity(capacity).time_to_live(ttl).build()
}

/// One step of a lesson that does several things in a row (write-through, `SCAN`, the bounded cache).
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What was done.
    pub operation: String,
    /// What came of it.
    pub result: String,
}
frame_row!(Step { operation, result });

/// The bounded cache at work: 1,000 entries into a cache of `capacity`, then one key
/// written and read right away and again after `ttl` has passed (the cell waits that long).
pub fn bounded_cache_demo(capacity: u64, ttl: Duration) -> Vec<Step> {
    let cache = memory_cache::<u32, String>(capacity, ttl);
    for i in 0..1_000 {
        cache.insert(i, format!("value {i}"));
    }
    cache.run_pending_tasks();
    let held = cache.entry_count();
    cache.insert(7, "fresh".into());
    let right_away = cache.get(&7);
    std::thread::sleep(ttl + ttl / 2);
    let later = cache.get(&7);
    let step = |operation: String, result: String| Step { operation, result };
    vec![
        step(format!("insert 1,000 entries, capacity {capacity}"), format!("it holds {held}")),
        step("write key 7, read it right away".into(), format!("{right_away:?}")),
        step(format!("read key 7 after {} ms (TTL {} ms)", (ttl + ttl / 2).as_millis(), ttl.as_millis()), format!("{later:?}")),
    ]
}

/// How many times [`fib_cached`]'s body ran (every run is a miss of its cache).
pub static FIB_CACHED_RUNS: AtomicU64 = AtomicU64::new(0);
/// How many times [`price_quote`]'s body ran.
pub static PRICE_QUOTE_RUNS: AtomicU64 = AtomicU64::new(0);

/// The original's `@lru_cache(maxsize=1000)` on its Fibonacci: in Rust the `cached` crate's
/// attribute does the same. `#[cached]` turns the function into a wrapper that looks the
/// argument up in a static LRU store of 1,000 entries and runs the body only on a miss; the
/// recursion calls the wrapper, so each `fib_cached(k)` is computed once per process.
#[cached::macros::cached(max_size = 1_000)]
pub fn fib_cached(n: u32) -> u64 {
    FIB_CACHED_RUNS.fetch_add(1, Ordering::Relaxed);
    if n < 2 { n as u64 } else { fib_cached(n - 1) + fib_cached(n - 2) }
}

/// The original's `@timed_lru_cache(seconds=…)`: the same attribute with a time to live. A
/// quote older than 200 ms is computed again (the body stands for a slow call: it sleeps 2 ms).
#[cached::macros::cached(max_size = 100, ttl_millis = 200)]
pub fn price_quote(product_id: u32) -> f64 {
    PRICE_QUOTE_RUNS.fetch_add(1, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(2));
    (f64::from(product_id) * 9.99 * 1.19 * 100.0).round() / 100.0
}

/// One call of [`cached_attribute_demo`].
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeCall {
    /// The call, as written.
    pub call: String,
    /// What it returned.
    pub value: String,
    /// How many times the function's body ran during the call (0: answered from the cache).
    pub bodies_run: i64,
    /// How long the call took, microseconds.
    pub micros: f64,
}
frame_row!(AttributeCall { call, value, bodies_run, micros });

/// `#[cached]` at work, from empty caches: `fib_cached(80)` twice and then `fib_cached(90)`;
/// `price_quote(7)` twice, and once more after its 200 ms time to live (the call waits 250 ms).
pub fn cached_attribute_demo() -> Vec<AttributeCall> {
    use cached::Cached;
    FIB_CACHED.write().cache_clear();
    PRICE_QUOTE.write().cache_clear();
    fn timed<T: std::fmt::Display>(call: &str, runs: &AtomicU64, f: impl FnOnce() -> T) -> AttributeCall {
        let (before, started) = (runs.load(Ordering::Relaxed), Instant::now());
        let value = std::hint::black_box(f());
        let micros = started.elapsed().as_secs_f64() * 1e6;
        AttributeCall { call: call.into(), value: value.to_string(), bodies_run: (runs.load(Ordering::Relaxed) - before) as i64, micros }
    }
    let mut calls = vec![
        timed("fib_cached(80)", &FIB_CACHED_RUNS, || fib_cached(80)),
        timed("fib_cached(80) again", &FIB_CACHED_RUNS, || fib_cached(80)),
        timed("fib_cached(90)", &FIB_CACHED_RUNS, || fib_cached(90)),
        timed("price_quote(7)", &PRICE_QUOTE_RUNS, || price_quote(7)),
        timed("price_quote(7) again", &PRICE_QUOTE_RUNS, || price_quote(7)),
    ];
    std::thread::sleep(Duration::from_millis(250));
    calls.push(timed("price_quote(7) after 250 ms (TTL 200 ms)", &PRICE_QUOTE_RUNS, || price_quote(7)));
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_calls_grow_exponentially_and_memo_calls_linearly() {
        let runs = compare_fibonacci([10, 20]);
        assert_eq!(runs[0].value, 55);
        assert_eq!(runs[1].value, 6765);
        // fib_naive(n) makes 2·fib(n+1) − 1 calls; the memo makes 2n − 1.
        assert_eq!(runs[0].naive_calls, 2 * 89 - 1);
        assert_eq!(runs[1].naive_calls, 2 * 10946 - 1);
        assert_eq!(runs[0].memo_calls, 19);
        assert_eq!(runs[1].memo_calls, 39);
    }

    #[test]
    fn the_bounded_cache_demo_shows_eviction_and_expiry() {
        let steps = bounded_cache_demo(100, Duration::from_millis(40));
        let held: u64 = steps[0].result.trim_start_matches("it holds ").parse().unwrap();
        assert!(held <= 100, "{steps:?}");
        assert_eq!(steps[1].result, "Some(\"fresh\")");
        assert_eq!(steps[2].result, "None");
    }

    #[test]
    fn the_cached_attribute_runs_each_body_once_per_key_until_its_ttl() {
        let calls = cached_attribute_demo();
        let runs: Vec<i64> = calls.iter().map(|c| c.bodies_run).collect();
        // fib(0..=80) once each, then nothing, then only 81..=90; the quote: miss, hit, expired.
        assert_eq!(runs, vec![81, 0, 10, 1, 0, 1], "{calls:?}");
        assert_eq!(calls[0].value, "23416728348467685");
        assert_eq!(calls[2].value, "2880067194370816120");
        assert_eq!(calls[3].value, calls[5].value);
        assert!(calls[4].micros < calls[3].micros, "a hit is faster than a 2 ms body: {calls:?}");
    }

    #[test]
    fn the_memory_cache_drops_entries_after_their_ttl() {
        let cache = memory_cache::<u32, String>(100, Duration::from_millis(50));
        cache.insert(1, "one".into());
        assert_eq!(cache.get(&1).as_deref(), Some("one"));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.get(&1), None, "expired after its time to live");
    }

    #[test]
    fn the_memory_cache_stays_within_its_capacity() {
        let cache = memory_cache::<u32, u32>(50, Duration::from_secs(60));
        for i in 0..1_000 {
            cache.insert(i, i);
        }
        cache.run_pending_tasks();
        assert!(cache.entry_count() <= 50, "{} entries", cache.entry_count());
    }
}
