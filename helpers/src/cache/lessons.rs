//! The caching lesson's measured runs, each inside one call: latencies per tier, the choosing
//! guide, stampede protection, the tiered cache's reads, degradation when Redis goes away, and
//! (with feature `sql`) cache-aside over real queries and stale-versus-fresh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::*;
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::frame_row;

fn micros(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e6
}


/// Measures `samples` reads of each kind and returns their latency distributions:
/// a memoised value (a `HashMap` lookup), a moka hit, a Redis `GET` hit, a Redis `MGET` of 10
/// keys (per key), and — with feature `sql` — a Redis miss plus the SQL query that computes
/// the value, and that SQL query alone. Redis rows are left out, with a note in the error
/// counters, when Redis does not answer.
pub async fn measure_latencies(settings: &Settings, samples: usize) -> Result<Vec<Latency>> {
    let samples = samples.max(1);
    let mut out = Vec::new();

    let mut memo = HashMap::new();
    memo::fib_memo(90, &mut memo, &mut 0);
    let v: Vec<f64> = (0..samples)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(memo.get(&std::hint::black_box((i % 90) as u32 + 2)));
            micros(t)
        })
        .collect();
    out.push(summarize("memo hit (HashMap)", v));

    let moka = memo::memory_cache::<u32, String>(10_000, Duration::from_secs(60));
    for i in 0..100 {
        moka.insert(i, format!("value {i}"));
    }
    let v: Vec<f64> = (0..samples)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(moka.get(&((i % 100) as u32)));
            micros(t)
        })
        .collect();
    out.push(summarize("moka hit (in process)", v));

    let redis = RedisCache::new(&settings.redis_url, &run_namespace("latency"))?;
    if redis.ping().await {
        let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let entries: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), format!("a cached value for {k}"))).collect();
        redis.set_many(&entries, Duration::from_secs(60)).await?;
        let mut v = Vec::with_capacity(samples);
        for i in 0..samples {
            let t = Instant::now();
            let got: Option<String> = redis.get(&keys[i % 10]).await?;
            v.push(micros(t));
            debug_assert!(got.is_some());
        }
        out.push(summarize("Redis GET hit", v));
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut v = Vec::with_capacity(samples);
        for _ in 0..samples.div_ceil(10) {
            let t = Instant::now();
            let got: Vec<Option<String>> = redis.get_many(&refs).await?;
            let per_key = micros(t) / got.len() as f64;
            v.extend(std::iter::repeat_n(per_key, got.len()));
        }
        out.push(summarize("Redis MGET of 10, per key", v));

        #[cfg(feature = "sql")]
        {
            let db = crate::sql::open_seeded(settings, &crate::data::WorldConfig::small()).await?;
            let mut v = Vec::with_capacity(samples);
            for _ in 0..samples {
                redis.delete("stats").await?;
                let t = Instant::now();
                let _stats: crate::sql::users::UserStats =
                    redis.get_or_compute("stats", Duration::from_secs(60), || crate::sql::users::statistics(&db)).await?;
                v.push(micros(t));
            }
            out.push(summarize("Redis miss + SQL query + SET", v));
            let mut v = Vec::with_capacity(samples);
            for _ in 0..samples {
                let t = Instant::now();
                std::hint::black_box(crate::sql::users::statistics(&db).await?);
                v.push(micros(t));
            }
            out.push(summarize(&format!("SQL query alone ({})", db.backend()), v));
            db.close().await;
        }
        redis.invalidate("*").await?;
    }
    Ok(out)
}

/// The short name of a [`measure_latencies`] case, for a chart's axis: `memo`, `moka`, `GET`,
/// `MGET/key`, `miss+SQL`, `SQL`; another case keeps its own name.
pub fn tier_label(latency: &Latency) -> String {
    const SHORT: [(&str, &str); 6] =
        [("memo hit", "memo"), ("moka hit", "moka"), ("Redis GET hit", "GET"), ("Redis MGET", "MGET/key"), ("Redis miss", "miss+SQL"), ("SQL query alone", "SQL")];
    SHORT.iter().find(|(prefix, _)| latency.case.starts_with(prefix)).map_or_else(|| latency.case.clone(), |(_, short)| short.to_string())
}

/// One line of the guide to choosing where an answer is kept: in this process, in Redis, or
/// nowhere (computed each time).
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Where the answer comes from.
    pub keep_in: String,
    /// Its median read, µs, measured in this run ([`measure_latencies`]); NaN when not measured.
    pub p50_us: f64,
    /// Whether other processes (workers, servers) see the same entry.
    pub shared: bool,
    /// Whether an entry outlives a restart of the reading process.
    pub survives_restart: bool,
    /// How stale an answer can be.
    pub staleness: String,
    /// When to choose it.
    pub choose_when: String,
}
frame_row!(Choice { keep_in, p50_us, shared, survives_restart, staleness, choose_when });

/// The guide to choosing a tier, with each tier's median read from `latencies` (the output of
/// [`measure_latencies`]: its `moka hit`, `Redis GET hit` and `SQL query alone` rows).
pub fn choosing_guide(latencies: &[Latency]) -> Vec<Choice> {
    let (memory, redis, compute) = (median_of(latencies, "moka hit"), median_of(latencies, "Redis GET hit"), median_of(latencies, "SQL query alone"));
    let times = |slow: f64, fast: f64| if slow.is_finite() && fast.is_finite() && fast > 0.0 { format!("{:.0}×", slow / fast) } else { "—".into() };
    vec![
        Choice {
            keep_in: "this process (moka: capacity + TTL)".into(),
            p50_us: memory,
            shared: false,
            survives_restart: false,
            staleness: "up to the TTL, per process: two workers can hold two different answers".into(),
            choose_when: format!("hot, small, read far more than written, and a little staleness is fine: {} faster than Redis here", times(redis, memory)),
        },
        Choice {
            keep_in: "Redis (namespaced keys + TTL)".into(),
            p50_us: redis,
            shared: true,
            survives_restart: true,
            staleness: "up to the TTL, or until invalidated — one answer for every process".into(),
            choose_when: format!("several processes need the same answer, or it costs more than a round trip: {} faster than the query here", times(compute, redis)),
        },
        Choice {
            keep_in: "nowhere: compute it each time".into(),
            p50_us: compute,
            shared: true,
            survives_restart: true,
            staleness: "never stale".into(),
            choose_when: "cheap to compute, rarely read twice, or it must be exact (balances, stock)".into(),
        },
    ]
}

/// `concurrent` tasks miss the same key at the same moment; the computation takes `work`.
/// Returns how many times it ran (1 with stampede protection).
pub async fn stampede(settings: &Settings, concurrent: usize, work: Duration) -> Result<usize> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let cache = RedisCache::new(&settings.redis_url, &run_namespace("stampede"))?;
    let computed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrent {
        let (cache, computed) = (cache.clone(), computed.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_compute("hot-key", Duration::from_secs(60), async || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(work).await;
                    Ok(42u64)
                })
                .await
        }));
    }
    for t in tasks {
        t.await.map_err(|e| Error::Lesson { lesson: "the cache lesson", reason: format!("a reader task failed: {e}") })??;
    }
    let _ = cache.invalidate("*").await;
    Ok(computed.load(Ordering::SeqCst))
}

/// How many reads one process's tiered cache answered from one tier.
#[derive(Clone, Debug, PartialEq)]
pub struct TierCount {
    /// `first process` or `second process`.
    pub process: String,
    /// [`Tier::name`].
    pub tier: String,
    /// Reads it answered.
    pub reads: i64,
}
frame_row!(TierCount { process, tier, reads });

/// Two [`TieredCache`]s over one Redis namespace stand for two processes. The first reads
/// `keys` keys `rounds` times (the source takes 2 ms per computation); then the second,
/// with an empty memory tier, reads each key once. Returns who answered how often, and the
/// latency per tier of both.
pub async fn tiered_reads(settings: &Settings, keys: usize, rounds: usize) -> Result<(Vec<TierCount>, Vec<Latency>)> {
    let redis = RedisCache::new(&settings.redis_url, &run_namespace("tiered"))?;
    let first: TieredCache<String> = TieredCache::new(redis.clone(), 10_000, Duration::from_secs(30), Duration::from_secs(300));
    let second: TieredCache<String> = TieredCache::new(redis.clone(), 10_000, Duration::from_secs(30), Duration::from_secs(300));
    let mut counts: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
    for _ in 0..rounds {
        for k in 0..keys {
            let (_, tier) = first
                .get(&format!("item:{k}"), async || {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    Ok(format!("item {k}"))
                })
                .await?;
            *counts.entry(("first process", tier.name())).or_default() += 1;
        }
    }
    for k in 0..keys {
        let (_, tier) = second.get(&format!("item:{k}"), async || Ok(format!("item {k}"))).await?;
        *counts.entry(("second process", tier.name())).or_default() += 1;
    }
    let mut latencies = first.latencies();
    latencies.extend(second.latencies().into_iter().map(|mut l| {
        l.case = format!("{} (second process)", l.case);
        l
    }));
    let _ = redis.invalidate("*").await;
    let counts = counts.into_iter().map(|((p, t), n)| TierCount { process: p.into(), tier: t.into(), reads: n }).collect();
    Ok((counts, latencies))
}

/// One phase of the degradation run.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    /// `1 Redis up`, `2 Redis cut`, `3 Redis back`.
    pub phase: String,
    /// Reads made.
    pub reads: i64,
    /// Reads that returned the right value (all of them, or the run failed).
    pub answered: i64,
    /// Answered by Redis.
    pub redis_hits: i64,
    /// Computed because Redis missed or failed.
    pub computed: i64,
    /// Redis failures counted (not thrown) in this phase.
    pub redis_errors: i64,
    /// Operations that skipped Redis because it had just failed.
    pub redis_skipped: i64,
    /// Median read latency, µs.
    pub p50_us: f64,
    /// 99th percentile read latency, µs.
    pub p99_us: f64,
}
frame_row!(Phase { phase, reads, answered, redis_hits, computed, redis_errors, redis_skipped, p50_us, p99_us });

/// Reads 20 keys round-robin through a cache-aside [`RedisCache`] that reaches Redis over a
/// [`CuttableLink`]: `reads` reads with Redis up, `reads` with the link cut, then — once a
/// `PING` answers again, waiting at most 3 s — `reads` more. Every read must return the
/// right value in every phase; the table shows who answered and what it cost.
pub async fn degradation(settings: &Settings, reads: usize) -> Result<Vec<Phase>> {
    let link = CuttableLink::to(&settings.redis_url, 6379).await?;
    let cache = RedisCache::new(&link.url_through(&settings.redis_url), &run_namespace("degrade"))?;
    let expected = |k: usize| format!("value of key {k}");
    let mut phases = Vec::new();
    for (name, cut) in [("1 Redis up", false), ("2 Redis cut", true), ("3 Redis back", false)] {
        if cut {
            link.cut();
        } else {
            link.restore();
            let waited = Instant::now();
            while !cache.ping().await && waited.elapsed() < Duration::from_secs(3) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let before = cache.stats();
        let mut times = Vec::with_capacity(reads);
        let mut answered = 0;
        for i in 0..reads {
            let k = i % 20;
            let t = Instant::now();
            let v: String = cache.get_or_compute(&format!("key:{k}"), Duration::from_secs(60), || async move { Ok(expected(k)) }).await?;
            times.push(micros(t));
            if v == expected(k) {
                answered += 1;
            }
        }
        let after = cache.stats();
        let lat = summarize(name, times);
        phases.push(Phase {
            phase: name.into(),
            reads: reads as i64,
            answered,
            redis_hits: after.hits - before.hits,
            computed: after.computes - before.computes,
            redis_errors: after.errors - before.errors,
            redis_skipped: after.skipped - before.skipped,
            p50_us: lat.p50_us,
            p99_us: lat.p99_us,
        });
    }
    let _ = cache.invalidate("*").await;
    if phases.iter().any(|p| p.answered != p.reads) {
        return Err(Error::Lesson { lesson: "the degradation run", reason: "a read returned a wrong value".into() });
    }
    Ok(phases)
}

/// One read of the lesson's real uses: what, which tier answered, how long it took, and how
/// long the cached entry has left.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedRead {
    /// What was read.
    pub what: String,
    /// `computed` or `redis`.
    pub source: String,
    /// Time of the read, µs.
    pub micros: f64,
    /// Seconds the entry has left in Redis after the read.
    pub ttl_left_s: f64,
    /// A short view of the value.
    pub value: String,
}
frame_row!(CachedRead { what, source, micros, ttl_left_s, value });

/// One cache-aside read of `key`, timed: which tier answered (`computed` when `compute` ran),
/// how long it took, the TTL left, and `show`'s view of the value.
async fn timed_read<T>(cache: &RedisCache, key: &str, ttl: Duration, what: String, compute: impl AsyncFnOnce() -> Result<T>, show: impl Fn(&T) -> String) -> Result<CachedRead>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let computes = cache.stats().computes;
    let t = Instant::now();
    let value: T = cache.get_or_compute(key, ttl, compute).await?;
    let us = micros(t);
    Ok(CachedRead {
        what,
        source: if cache.stats().computes > computes { "computed" } else { "redis" }.into(),
        micros: us,
        ttl_left_s: cache.ttl(key).await.unwrap_or_default().map_or(0.0, |d| d.as_secs_f64()),
        value: show(&value),
    })
}

/// Recommendations and model predictions cached with a TTL: for each user, the
/// recommendation (a SQL query: popular products in the user's country) and a churn score
/// (the original's heuristic, a logistic of days since last activity; module 5 trains a real
/// model) are read twice through cache-aside — computed, then from Redis.
#[cfg(feature = "sql")]
pub async fn cached_recommendations(settings: &Settings, user_ids: &[i64]) -> Result<Vec<CachedRead>> {
    use crate::sql::{analytics, users};
    let world = crate::data::WorldConfig::small();
    let db = crate::sql::open_seeded(settings, &world).await?;
    let cache = RedisCache::new(&settings.redis_url, &run_namespace("recs"))?;
    let now = world.now();
    let mut out = Vec::new();
    for &id in user_ids {
        for _ in 0..2 {
            out.push(
                timed_read(&cache, &format!("recs:user:{id}"), Duration::from_secs(600), format!("recommendations for user {id}"), || analytics::popular_in_users_country(&db, id, 3), |picks: &Vec<analytics::ProductPick>| {
                    picks.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                })
                .await?,
            );
            let churn = async || {
                let user = users::by_id(&db, id).await?.ok_or_else(|| Error::NotFound(format!("user {id} does not exist")))?;
                let idle_days = (now - user.last_active_at).num_hours() as f64 / 24.0;
                Ok(crate::data::recency_churn_score(idle_days))
            };
            out.push(timed_read(&cache, &format!("churn:user:{id}"), Duration::from_secs(3600), format!("churn score of user {id}"), churn, |score: &f64| format!("{score:.3}")).await?);
        }
    }
    let _ = cache.invalidate("*").await;
    db.close().await;
    Ok(out)
}

/// The original's other real uses: trending items per category and product details, each
/// through cache-aside with a TTL that fits how fast it changes — trending (an aggregate over
/// a category's orders of the last 30 days) for 5 minutes, a product page for an hour. Each
/// key is read twice: computed, then from Redis. Cleans up its namespace.
#[cfg(feature = "sql")]
pub async fn cached_catalog(settings: &Settings, categories: &[&str], product_ids: &[i64]) -> Result<Vec<CachedRead>> {
    use crate::sql::analytics;
    let world = crate::data::WorldConfig::small();
    let db = crate::sql::open_seeded(settings, &world).await?;
    let cache = RedisCache::new(&settings.redis_url, &run_namespace("catalog"))?;
    let since = world.now() - chrono::TimeDelta::days(30);
    let names = |picks: &Vec<analytics::ProductPick>| picks.iter().map(|p| format!("{} ({})", p.name, p.buyers)).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    for category in categories {
        for _ in 0..2 {
            let trending = || analytics::trending_in_category(&db, category, since, 3);
            out.push(timed_read(&cache, &format!("trending:{category}"), Duration::from_secs(300), format!("trending in {category}"), trending, names).await?);
        }
    }
    for &id in product_ids {
        for _ in 0..2 {
            let details = async || analytics::product_details(&db, id).await?.ok_or_else(|| Error::NotFound(format!("product {id} does not exist")));
            let show = |d: &analytics::ProductDetails| format!("{}: {:.2}, {} orders, revenue {:.0}", d.name, d.price, d.orders, d.revenue);
            out.push(timed_read(&cache, &format!("product:{id}"), Duration::from_secs(3600), format!("details of product {id}"), details, show).await?);
        }
    }
    let _ = cache.invalidate("*").await;
    db.close().await;
    Ok(out)
}

#[cfg(feature = "sql")]
async fn day_from_db(db: &crate::sql::Db, date: chrono::NaiveDate) -> Result<crate::sql::analytics::DailyRevenue> {
    crate::sql::analytics::daily_revenue(db, date, 1).await?.pop().ok_or_else(|| Error::NotFound(format!("no orders on {date}")))
}

#[cfg(feature = "sql")]
async fn compare_day(db: &crate::sql::Db, cache: &RedisCache, key: &str, date: chrono::NaiveDate, step: &str) -> Result<StaleCheck> {
    let cached: crate::sql::analytics::DailyRevenue = cache.get_or_compute(key, Duration::from_secs(3600), || day_from_db(db, date)).await?;
    let truth = day_from_db(db, date).await?;
    Ok(StaleCheck {
        step: step.into(),
        cached_orders: cached.orders,
        db_orders: truth.orders,
        cached_revenue: cached.revenue,
        db_revenue: truth.revenue,
        stale: cached != truth,
    })
}

/// One step of [`stale_and_fresh`]: what the cache says next to what the database says.
#[derive(Clone, Debug, PartialEq)]
pub struct StaleCheck {
    /// What happened.
    pub step: String,
    /// Orders of the day according to the cache.
    pub cached_orders: i64,
    /// Orders of the day according to the database.
    pub db_orders: i64,
    /// Revenue according to the cache.
    pub cached_revenue: f64,
    /// Revenue according to the database.
    pub db_revenue: f64,
    /// Whether the cache disagrees with the database.
    pub stale: bool,
}
frame_row!(StaleCheck { step, cached_orders, db_orders, cached_revenue, db_revenue, stale });

/// Precomputes 30 days of daily revenue into Redis (one pipelined write), serves the last
/// day from the cache, then places a new order on that day: the cached answer is now stale.
/// Invalidating the day's key makes the next read fresh again. Returns the comparison at
/// each step. The new order and its buyer are deleted again at the end: the database is left
/// as it was found.
#[cfg(feature = "sql")]
pub async fn stale_and_fresh(settings: &Settings) -> Result<Vec<StaleCheck>> {
    use crate::sql::analytics::{self, DailyRevenue};
    let world = crate::data::WorldConfig::small();
    let db = crate::sql::open_seeded(settings, &world).await?;
    let cache = RedisCache::new(&settings.redis_url, &run_namespace("daily"))?;
    let last = world.as_of;
    let days = analytics::daily_revenue(&db, last, 30).await?;
    let day = days.last().ok_or_else(|| Error::NotFound("no completed orders in the last 30 days".into()))?.day.clone();
    let entries: Vec<(String, DailyRevenue)> = days.iter().map(|d| (format!("daily:{}", d.day), d.clone())).collect();
    cache.set_many(&entries, Duration::from_secs(3600)).await?;
    let key = format!("daily:{day}");
    let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| Error::Codec { what: format!("day {day}"), reason: e.to_string() })?;

    let mut out = Vec::new();
    out.push(compare_day(&db, &cache, &key, date, "1 precomputed, read from cache").await?);
    let tag = run_namespace("order");
    let buyer = crate::sql::users::NewUser::parse(&tag, &format!("{tag}@example.com"), "Late", "Buyer", date.and_hms_opt(12, 0, 0).expect("noon exists"))?;
    let signup = crate::sql::tx::signup_with_order(&db, &buyer, crate::sql::tx::NewOrder { product_id: 1, quantity: 3 }).await?;
    let steps = async {
        out.push(compare_day(&db, &cache, &key, date, "2 a new order arrives: the cache is stale").await?);
        cache.delete(&key).await?;
        out.push(compare_day(&db, &cache, &key, date, "3 the day's key invalidated: fresh again").await?);
        Ok::<_, Error>(())
    }
    .await;
    crate::sql::users::delete(&db, signup.user_id).await?; // the order goes with its buyer
    steps?;
    let _ = cache.invalidate("*").await;
    db.close().await;
    Ok(out)
}

/// Every lesson future must be `Send`: `run` needs it, and a test alone (which awaits on the
/// test's own thread) would not notice. This only has to compile.
#[allow(dead_code)]
fn lesson_futures_are_send(s: &Settings) {
    fn send<T: Send>(_: T) {}
    send(measure_latencies(s, 1));
    send(degradation(s, 1));
    send(stampede(s, 1, Duration::ZERO));
    send(tiered_reads(s, 1, 1));
    #[cfg(feature = "sql")]
    {
        send(stale_and_fresh(s));
        send(cached_recommendations(s, &[]));
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_puts_each_tiers_measured_median_beside_it() {
        let l = |case: &str, p50: f64| summarize(case, vec![p50; 3]);
        let guide = choosing_guide(&[l("moka hit (in process)", 0.5), l("Redis GET hit", 50.0), l("SQL query alone (sqlite)", 500.0)]);
        assert_eq!(guide.iter().map(|c| c.p50_us).collect::<Vec<_>>(), vec![0.5, 50.0, 500.0]);
        assert!(guide[0].choose_when.contains("100× faster than Redis"), "{}", guide[0].choose_when);
        assert!(guide[1].choose_when.contains("10× faster than the query"), "{}", guide[1].choose_when);
        assert!(!guide[0].shared && guide[1].shared);
        // Without Redis (its rows left out) the guide still stands, without invented numbers.
        let without = choosing_guide(&[l("moka hit (in process)", 0.5)]);
        assert!(without[1].p50_us.is_nan() && without[0].choose_when.contains("—"));
    }

    #[test]
    fn every_measured_tier_has_a_short_label_and_another_case_keeps_its_name() {
        let names = ["memo hit (HashMap)", "moka hit (in process)", "Redis GET hit", "Redis MGET of 10, per key", "Redis miss + SQL query + SET", "SQL query alone (sqlite)", "other"];
        let labels: Vec<String> = names.iter().map(|n| tier_label(&summarize(n, vec![1.0]))).collect();
        assert_eq!(labels, ["memo", "moka", "GET", "MGET/key", "miss+SQL", "SQL", "other"]);
    }
}

