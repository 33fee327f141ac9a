//! Module 3 against the real Redis (REDIS_URL, default 127.0.0.1:6379). Every test uses a
//! namespace of its own and removes its keys.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use helpers::cache::{self, CuttableLink, RedisCache, Tier, TieredCache};
use helpers::{Error, ServiceUrl, Settings};

fn settings() -> Settings {
    common::settings()
}

/// Settings whose SQL database is a fresh SQLite file of this test's own.
fn settings_with_own_sqlite(test: &str) -> Settings {
    let dir = std::env::temp_dir().join("helpers-cache-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{test}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Settings { database_url: ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display())), ..settings() }
}

async fn count_keys(pattern: &str) -> usize {
    let client = redis::Client::open(settings().redis_url.expose()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    let mut n = 0;
    loop {
        let (next, keys): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).query_async(&mut conn).await.unwrap();
        n += keys.len();
        if next == 0 {
            return n;
        }
        cursor = next;
    }
}

#[tokio::test]
async fn values_round_trip_typed_and_expire_after_their_ttl() {
    let cache = RedisCache::new(&settings().redis_url, &cache::run_namespace("ttl")).unwrap();
    let value = vec![(1u32, "one".to_string()), (2, "two".into())];
    cache.set("pairs", &value, Duration::from_millis(300)).await.unwrap();
    assert_eq!(cache.get::<Vec<(u32, String)>>("pairs").await.unwrap(), Some(value));
    let left = cache.ttl("pairs").await.unwrap().expect("the key has a TTL");
    assert!(left <= Duration::from_millis(300) && left > Duration::ZERO, "{left:?}");
    // Reading it back as the wrong type is a clear error, not a panic.
    let err = cache.get::<u64>("pairs").await.unwrap_err();
    assert!(err.to_string().contains("not the expected type"), "{err}");
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(cache.get::<Vec<(u32, String)>>("pairs").await.unwrap(), None, "expired");
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.writes, stats.errors), (2, 1, 1, 0));
}

#[tokio::test]
async fn scan_invalidation_deletes_only_matching_keys_of_its_own_namespace() {
    let (ns_a, ns_b) = (cache::run_namespace("scan-a"), cache::run_namespace("scan-b"));
    let a = RedisCache::new(&settings().redis_url, &ns_a).unwrap();
    let b = RedisCache::new(&settings().redis_url, &ns_b).unwrap();
    let mut entries = Vec::new();
    for i in 0..700 {
        entries.push((format!("user:{i}:profile"), i));
        entries.push((format!("user:{i}:recs"), i));
    }
    entries.push(("product:1".into(), 1));
    a.set_many(&entries, Duration::from_secs(60)).await.unwrap();
    b.set_many(&entries, Duration::from_secs(60)).await.unwrap();

    assert_eq!(a.invalidate("user:*:recs").await.unwrap(), 700);
    assert_eq!(count_keys(&format!("module8:{ns_a}:*")).await, 701, "profiles and the product stay");
    assert_eq!(count_keys(&format!("module8:{ns_b}:*")).await, 1401, "the other namespace is untouched");
    assert_eq!(a.get::<i32>("user:5:profile").await.unwrap(), Some(5));
    assert_eq!(a.get::<i32>("user:5:recs").await.unwrap(), None);

    assert_eq!(a.invalidate("*").await.unwrap(), 701);
    assert_eq!(b.invalidate("*").await.unwrap(), 1401);
    assert_eq!(count_keys(&format!("module8:{ns_a}:*")).await + count_keys(&format!("module8:{ns_b}:*")).await, 0);
}

#[tokio::test]
async fn concurrent_misses_of_one_key_compute_once() {
    let cache = RedisCache::new(&settings().redis_url, &cache::run_namespace("stampede")).unwrap();
    let computed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (cache, computed) = (cache.clone(), computed.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_compute("hot", Duration::from_secs(60), async || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok(String::from("expensive answer"))
                })
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "expensive answer");
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1, "32 concurrent misses, one computation");
    cache.invalidate("*").await.unwrap();
}

#[tokio::test]
async fn the_tiered_cache_answers_from_the_fastest_tier_that_has_the_value() {
    let ns = cache::run_namespace("tiered");
    let redis = RedisCache::new(&settings().redis_url, &ns).unwrap();
    let tiered: TieredCache<String> = TieredCache::new(redis.clone(), 100, Duration::from_secs(30), Duration::from_secs(60));
    let compute = async || Ok(String::from("v"));
    assert_eq!(tiered.get("k", compute).await.unwrap().1, Tier::Compute);
    assert_eq!(tiered.get("k", compute).await.unwrap().1, Tier::Memory);
    // Another process (a fresh memory tier) finds it in Redis.
    let other: TieredCache<String> = TieredCache::new(redis.clone(), 100, Duration::from_secs(30), Duration::from_secs(60));
    assert_eq!(other.get("k", async || Err(Error::InvalidInput("must not compute".into()))).await.unwrap(), ("v".to_string(), Tier::Redis));
    // Invalidated in both tiers: computed again.
    tiered.invalidate("k").await.unwrap();
    assert_eq!(tiered.get("k", compute).await.unwrap().1, Tier::Compute);
    let tiers: Vec<String> = tiered.latencies().iter().map(|l| l.case.clone()).collect();
    assert_eq!(tiers, ["tiered: memory", "tiered: compute"]);

    // Concurrent misses through the tiered cache compute once as well.
    let computed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (tiered, computed) = (tiered.clone(), computed.clone());
        tasks.push(tokio::spawn(async move {
            tiered
                .get("hot", async || {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok(String::from("h"))
                })
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    redis.invalidate("*").await.unwrap();
}

#[tokio::test]
async fn write_through_stores_first_and_caches_only_what_was_stored() {
    let cache = RedisCache::new(&settings().redis_url, &cache::run_namespace("write")).unwrap();
    let stored = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = stored.clone();
    cache
        .write_through("profile:1", &"new name", Duration::from_secs(60), async move || {
            s.lock().unwrap().push("new name");
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(*stored.lock().unwrap(), ["new name"]);
    assert_eq!(cache.get::<String>("profile:1").await.unwrap().as_deref(), Some("new name"));

    let err = cache
        .write_through("profile:2", &"never", Duration::from_secs(60), async || Err(Error::InvalidInput("the database said no".into())))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the database said no"));
    assert_eq!(cache.get::<String>("profile:2").await.unwrap(), None, "nothing cached when the store failed");
    cache.invalidate("*").await.unwrap();
}

#[tokio::test]
async fn with_redis_unreachable_callers_still_get_answers_and_failures_are_counted() {
    let started = Instant::now();
    let dead = common::dead_settings();
    let cache = RedisCache::new(&dead.redis_url, "dead").unwrap();
    for i in 0..5 {
        let v: i32 = cache.get_or_compute(&format!("k{i}"), Duration::from_secs(60), async || Ok(i * 10)).await.unwrap();
        assert_eq!(v, i * 10);
    }
    let stats = cache.stats();
    assert_eq!(stats.computes, 5);
    assert_eq!(stats.hits, 0);
    // The first failure is a real attempt; right after it Redis is skipped, failing fast.
    assert!(stats.errors >= 1 && stats.errors + stats.skipped >= 5, "{stats:?}");
    let err = cache.get::<i32>("k0").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { service: "Redis", .. }), "{text}");
    assert!(text.contains("127.0.0.1:1") && text.contains("scripts/services.sh up"), "{text}");
    assert!(!text.contains("redis-secret-3"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "every failure is bounded");
}

#[tokio::test]
async fn when_redis_goes_away_mid_run_answers_continue_and_the_cache_recovers() {
    let phases = cache::degradation(&settings(), 60).await.unwrap();
    assert_eq!(phases.len(), 3);
    assert!(phases.iter().all(|p| p.answered == 60), "{phases:?}");
    assert!(phases[0].redis_hits > 0 && phases[0].redis_errors == 0, "{:?}", phases[0]);
    assert_eq!(phases[1].redis_hits, 0, "{:?}", phases[1]);
    assert!(phases[1].redis_errors > 0 && phases[1].computed == 60, "{:?}", phases[1]);
    assert!(phases[1].redis_skipped > phases[1].redis_errors, "after a failure Redis is skipped, not retried per read: {:?}", phases[1]);
    assert!(phases[2].redis_hits > 0, "recovered: {:?}", phases[2]);
}

#[tokio::test]
async fn a_cut_link_refuses_and_a_restored_link_forwards() {
    let url = settings().redis_url;
    let link = CuttableLink::to(&url, 6379).await.unwrap();
    let through = link.url_through(&url);
    let cache = RedisCache::new(&through, &cache::run_namespace("link")).unwrap();
    assert!(cache.ping().await);
    link.cut();
    assert!(!cache.ping().await);
    link.restore();
    let waited = Instant::now();
    while !cache.ping().await {
        assert!(waited.elapsed() < Duration::from_secs(3), "the cache reconnects by itself");
    }
}

#[tokio::test]
async fn latencies_are_measured_for_every_tier() {
    let rows = cache::measure_latencies(&settings_with_own_sqlite("latency"), 50).await.unwrap();
    let cases: Vec<&str> = rows.iter().map(|r| r.case.as_str()).collect();
    assert_eq!(cases[..5], ["memo hit (HashMap)", "moka hit (in process)", "Redis GET hit", "Redis MGET of 10, per key", "Redis miss + SQL query + SET"]);
    assert!(cases[5].starts_with("SQL query alone"));
    assert!(rows.iter().all(|r| r.samples >= 50 && r.p50_us <= r.p95_us && r.p95_us <= r.p99_us && r.p99_us <= r.max_us), "{rows:?}");
}

#[tokio::test]
async fn cached_answers_go_stale_when_the_data_changes_and_fresh_after_invalidation() {
    let settings = settings_with_own_sqlite("stale");
    let steps = cache::stale_and_fresh(&settings).await.unwrap();
    assert_eq!(steps.iter().map(|s| s.stale).collect::<Vec<_>>(), [false, true, false], "{steps:?}");
    assert_eq!(steps[1].db_orders, steps[0].db_orders + 1);
    assert_eq!(steps[1].cached_orders, steps[0].cached_orders, "the cache still has the old answer");
    assert_eq!(steps[2].cached_orders, steps[1].db_orders);
    // The late buyer and their order are gone again: a second run sees the same day.
    let again = cache::stale_and_fresh(&settings).await.unwrap();
    assert_eq!(again[0].db_orders, steps[0].db_orders, "the lesson left its order behind");
}

#[tokio::test]
async fn recommendations_and_predictions_are_computed_once_then_served_from_redis() {
    // A user active "today" by the calendar (another notebook's demo, say) must not move the
    // lesson's "now": the churn scores are the seeded world's, not all 1.0.
    let settings = settings_with_own_sqlite("recs");
    let db = helpers::sql::SyncDb::new(&settings);
    db.seed(&helpers::data::World::generate(&helpers::data::WorldConfig::small())).unwrap();
    let today = chrono::Utc::now().naive_utc();
    db.create_user(&helpers::sql::users::NewUser::parse("today_user", "today@example.com", "To", "Day", today).unwrap()).unwrap();
    let reads = cache::cached_recommendations(&settings, &[3, 7]).await.unwrap();
    assert_eq!(reads.len(), 8);
    let sources: Vec<&str> = reads.iter().map(|r| r.source.as_str()).collect();
    assert_eq!(sources, ["computed", "computed", "redis", "redis", "computed", "computed", "redis", "redis"]);
    assert_eq!(reads[0].value, reads[2].value, "the cached recommendation is the computed one");
    assert!(reads.iter().all(|r| r.ttl_left_s > 0.0));
    let scores: Vec<f64> = reads.iter().filter(|r| r.what.starts_with("churn")).map(|r| r.value.parse().unwrap()).collect();
    assert!(scores.iter().any(|s| *s < 0.99), "every score is ~1: the lesson took today's date as now: {scores:?}");
}

#[tokio::test]
async fn a_second_process_finds_in_redis_what_the_first_computed() {
    let (counts, latencies) = cache::tiered_reads(&settings(), 10, 3).await.unwrap();
    let got: Vec<(String, String, i64)> = counts.into_iter().map(|c| (c.process, c.tier, c.reads)).collect();
    assert_eq!(
        got,
        [("first process".into(), "compute".into(), 10), ("first process".into(), "memory".into(), 20), ("second process".into(), "redis".into(), 10)]
    );
    assert_eq!(latencies.len(), 3);
    assert_eq!(cache::stampede(&settings(), 20, Duration::from_millis(50)).await.unwrap(), 1);
}

/// Notebook 03's first exercise on the real Redis: each way of getting it wrong is told apart.
#[test]
fn the_ttl_exercise_tells_a_missing_a_wrong_an_eternal_and_a_right_key_apart() {
    let redis = cache::SyncRedis::new(&helpers::Settings::from_env().unwrap());
    let key = cache::exercises::EXERCISE_KEY;
    let check = || redis.check_exercise("03.1").unwrap();
    redis.command(&["DEL", key]).unwrap();
    assert!(check().feedback.contains("there is no key"), "{}", check());
    redis.command(&["SET", key, "43", "EX", "30"]).unwrap();
    assert!(check().feedback.contains("other than 42"), "{}", check());
    redis.command(&["SET", key, "42"]).unwrap();
    assert!(check().feedback.contains("never expires"), "{}", check());
    redis.command(&["SET", key, "42", "EX", "600"]).unwrap();
    assert!(check().feedback.contains("longer than 60"), "{}", check());
    redis.command(&["SET", key, "42", "EX", "60"]).unwrap();
    assert!(check().correct, "{}", check());
    assert!(redis.check_exercise("03.9").is_err());
    redis.command(&["DEL", key]).unwrap();
}

/// A learner's raw command reaches a Redis other programs share: `FLUSHALL`, `FLUSHDB`, `KEYS`,
/// a `SCAN` outside the namespace, `CONFIG`, `SHUTDOWN`, … and keys outside `module8:` are
/// refused before they are sent — a key of another program survives every one of them.
#[test]
fn raw_commands_cannot_flush_scan_or_touch_keys_outside_the_namespace() {
    let redis = cache::SyncRedis::new(&settings());
    let outsider = format!("m8test-outsider-{}", std::process::id());
    let ours = format!("module8:test:raw-{}", std::process::id());
    helpers::run(async {
        let client = redis::Client::open(settings().redis_url.expose()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("SET").arg(&outsider).arg("keep me").arg("EX").arg(120).query_async(&mut conn).await.unwrap();
    });
    for (args, says) in [
        (vec!["FLUSHALL"], "every key of every database"),
        (vec!["FLUSHDB", "ASYNC"], "every key of the database"),
        (vec!["KEYS", "*"], "blocks every other client"),
        (vec!["SCAN", "0", "COUNT", "1000"], "SCAN without"),
        (vec!["CONFIG", "GET", "*"], "administers the server"),
        (vec!["SHUTDOWN"], "administers the server"),
        (vec!["DEBUG", "SLEEP", "10"], "administers the server"),
        (vec!["SWAPDB", "0", "1"], "moves keys"),
        (vec!["MIGRATE", "127.0.0.1", "6380", "", "0", "1000", "KEYS", outsider.as_str()], "moves keys"),
        (vec!["DEL", outsider.as_str()], "other programs"),
        (vec!["SET", outsider.as_str(), "gone"], "other programs"),
    ] {
        let started = Instant::now();
        let err = redis.command(&args).unwrap_err();
        assert!(matches!(err, Error::NotAllowed { .. }), "{args:?}: {err}");
        let text = err.to_string();
        assert!(text.contains(says) && text.contains("is not allowed here") && text.contains("module8:"), "{args:?}: {text}");
        assert!(started.elapsed() < Duration::from_secs(1), "refused before connecting: {args:?}");
    }
    // The outsider's key is untouched; our namespace works as before, SCAN included.
    assert_eq!(redis.command(&["SET", &ours, "mine", "EX", "60"]).unwrap(), "OK");
    let scan = redis.command(&["SCAN", "0", "MATCH", &format!("{ours}*"), "COUNT", "1000"]).unwrap();
    assert!(scan.starts_with("1) "), "{scan}");
    assert_eq!(redis.command(&["DEL", &ours]).unwrap(), "(integer) 1");
    helpers::run(async {
        let client = redis::Client::open(settings().redis_url.expose()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let kept: Option<String> = redis::cmd("GET").arg(&outsider).query_async(&mut conn).await.unwrap();
        assert_eq!(kept.as_deref(), Some("keep me"));
        let _: () = redis::cmd("DEL").arg(&outsider).query_async(&mut conn).await.unwrap();
    });
}

/// The cache-aside flow a notebook cell writes by hand: `get` misses, `set` stores with a TTL,
/// `get` hits; `scan` finds exactly the keys of a pattern (past the first `SCAN` batch), `del`
/// removes them; and a key outside `module8:` is refused by each of them before anything is sent.
#[test]
fn the_typed_commands_do_cache_aside_by_hand_and_invalidate_by_pattern() {
    let redis = cache::SyncRedis::new(&settings());
    let ns = format!("module8:test:typed-{}", std::process::id());
    let key = format!("{ns}:answer");
    assert_eq!(redis.get(&key).unwrap(), None, "a miss");
    redis.set(&key, "42", Duration::from_millis(300)).unwrap();
    assert_eq!(redis.get(&key).unwrap().as_deref(), Some("42"), "a hit");
    let ttl = redis.command(&["PTTL", &key]).unwrap();
    let ms: i64 = ttl.trim_start_matches("(integer) ").parse().unwrap();
    assert!((1..=300).contains(&ms), "{ttl}");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(redis.get(&key).unwrap(), None, "expired after its TTL");

    // 1,500 recs keys (more than one SCAN batch of 1,000) beside 10 profile keys.
    let recs: Vec<String> = (0..1_500).map(|u| format!("{ns}:user:{u}:recs")).collect();
    for chunk in recs.chunks(500) {
        let mut args = vec!["MSET"];
        for k in chunk {
            args.extend([k.as_str(), "[1,2,3]"]);
        }
        redis.command(&args).unwrap();
    }
    let profiles: Vec<String> = (0..10).map(|u| format!("{ns}:user:{u}:profile")).collect();
    for p in &profiles {
        redis.set(p, "Ada", Duration::from_secs(60)).unwrap();
    }
    let mut found = redis.scan(&format!("{ns}:user:*:recs")).unwrap();
    found.sort();
    let mut expected = recs.clone();
    expected.sort();
    assert_eq!(found, expected, "every recs key, once, and no profile");
    assert_eq!(redis.del(&found).unwrap(), 1_500);
    assert!(redis.scan(&format!("{ns}:user:*:recs")).unwrap().is_empty());
    assert_eq!(redis.scan(&format!("{ns}:*")).unwrap().len(), 10, "the profiles are left");
    assert_eq!(redis.del(&profiles).unwrap(), 10);
    assert_eq!(redis.del(&Vec::<String>::new()).unwrap(), 0);

    for err in [
        redis.get("session:1").unwrap_err(),
        redis.set("session:1", "x", Duration::from_secs(1)).unwrap_err(),
        redis.del(&["session:1"]).unwrap_err(),
        redis.scan("*").unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
    }
}

/// Where nothing answers, the typed commands name Redis, its masked URL and how to start it.
#[test]
fn the_typed_commands_name_an_unreachable_redis() {
    let settings = Settings { redis_url: ServiceUrl::new("redis://:hunter2@127.0.0.1:1"), ..settings() };
    let err = cache::SyncRedis::new(&settings).get("module8:test:x").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { service: "Redis", .. }), "{text}");
    assert!(text.contains("127.0.0.1:1") && text.contains("scripts/services.sh up") && text.contains("REDIS_URL") && !text.contains("hunter2"), "{text}");
}
