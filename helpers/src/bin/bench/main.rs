//! `cargo run --release -p helpers --bin bench -- <module>|all`
//!
//! Measures each module's figures on this machine, prints them as a markdown table and
//! writes them to `out/bench.json` (or `M8_OUT_DIR/bench.json`). Modules: `data`, `sql`,
//! `mongo`, `cache`, `queue`, `analytics`, `notebook`. Every row is measured in this run.
//!
//! Where a server's own tool gives a floor for the same work from one client, the row shows it
//! beside ours, with the ratio (how many times slower than the floor): `redis-benchmark` under
//! the Redis GET, `pgbench -S -M prepared` under the PostgreSQL primary-key lookup, a minimal
//! lapin loop under publishing and consuming ([`floors`]).
//!
//! `sql` runs on both backends: a SQLite file in the output folder and the PostgreSQL at
//! `TEST_POSTGRES_URL` (else `DATABASE_URL` if PostgreSQL, else the local `test` database; schema
//! `module8_bench`). `mongo` works in the database `module8_bench` of `MONGODB_URI`, dropped
//! afterwards. `queue` declares a topology of its own on `AMQP_ADDR` and deletes it afterwards.

use std::time::Instant;

use anyhow::{Context, bail};
use helpers::data::{World, WorldConfig};
use serde::Serialize;

mod floors;
mod frames;

#[derive(Serialize)]
struct Row {
    module: &'static str,
    case: String,
    value: f64,
    unit: &'static str,
    note: String,
    /// The same work done by the server's own tool (or a minimal client loop), same unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    floor: Option<f64>,
    /// How the floor was measured, or why there is none.
    #[serde(skip_serializing_if = "String::is_empty")]
    floor_how: String,
    /// How many times slower than the floor (1.0 = at the floor).
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
}

impl Row {
    fn new(module: &'static str, case: impl Into<String>, value: f64, unit: &'static str, note: impl Into<String>) -> Row {
        Row { module, case: case.into(), value, unit, note: note.into(), floor: None, floor_how: String::new(), ratio: None }
    }

    /// Puts `found` under this row: rates (units ending in `/s`) compare floor / ours,
    /// times ours / floor.
    fn with_floor(mut self, found: &floors::Found) -> Row {
        match found {
            Ok(f) => {
                self.ratio = Some(if self.unit.ends_with("/s") { f.value / self.value } else { self.value / f.value });
                self.floor = Some(f.value);
                self.floor_how = f.how.clone();
            }
            Err(why) => self.floor_how = format!("no floor: {why}"),
        }
        self
    }
}

const MODULES: &[&str] = &["data", "sql", "frames", "mongo", "cache", "queue", "analytics", "notebook"];

fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let selected: Vec<&str> = match which.as_str() {
        "all" => MODULES.to_vec(),
        m if MODULES.contains(&m) => vec![m],
        other => bail!("unknown module `{other}`: use one of {} or `all`", MODULES.join(", ")),
    };
    let settings = helpers::Settings::from_env()?;
    let mut rows = Vec::new();
    for module in selected {
        match module {
            "data" => bench_data(&mut rows)?,
            "sql" => bench_sql(&settings, &mut rows)?,
            "frames" => frames::bench_frames(&settings, &mut rows)?,
            "mongo" => bench_mongo(&settings, &mut rows)?,
            "cache" => bench_cache(&settings, &mut rows)?,
            "queue" => bench_queue(&settings, &mut rows)?,
            "analytics" => bench_analytics(&mut rows)?,
            "notebook" => bench_notebook(&settings, &mut rows)?,
            _ => unreachable!("checked above"),
        }
    }

    println!("| module | case | value | unit | floor | × floor | note |");
    println!("|---|---|---:|---|---:|---:|---|");
    for r in &rows {
        let floor = r.floor.map(pretty).unwrap_or_default();
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default();
        let note = match (r.note.is_empty(), r.floor_how.is_empty()) {
            (_, true) => r.note.clone(),
            (true, false) => format!("floor: {}", r.floor_how),
            (false, false) => format!("{}; floor: {}", r.note, r.floor_how),
        };
        println!("| {} | {} | {} | {} | {floor} | {ratio} | {note} |", r.module, r.case, pretty(r.value), r.unit);
    }
    std::fs::create_dir_all(&settings.out_dir).with_context(|| format!("creating {}", settings.out_dir.display()))?;
    let path = settings.out_dir.join("bench.json");
    let report = serde_json::json!({
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "os": std::env::consts::OS },
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "rows": rows,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn pretty(v: f64) -> String {
    if v >= 100.0 { format!("{:.0}", v) } else if v >= 1.0 { format!("{:.2}", v) } else { format!("{:.4}", v) }
}

/// Generator throughput at three sizes, and the cost of turning the world into DataFrames.
fn bench_data(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    for users in [1_000usize, 10_000, 100_000] {
        let cfg = WorldConfig::with_users(users);
        let started = Instant::now();
        let world = World::generate(&cfg);
        let secs = started.elapsed().as_secs_f64();
        rows.push(Row::new("data", format!("generate {users} users"), secs * 1e3, "ms", format!("{} events, {} orders", world.events.len(), world.orders.len()),));
        rows.push(Row::new("data", format!("events/s at {users} users"), world.events.len() as f64 / secs, "events/s", String::new(),));
        if users == 100_000 {
            let started = Instant::now();
            let events = world.events_frame()?;
            let users_df = world.users_frame()?;
            rows.push(Row::new("data", "events + users to DataFrames", started.elapsed().as_secs_f64() * 1e3, "ms", format!("{} + {} rows", events.height(), users_df.height()),));
        }
    }
    Ok(())
}

fn median_ms<T>(times: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let mut v = Vec::with_capacity(times);
    for _ in 0..times {
        let started = Instant::now();
        f()?;
        v.push(started.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// What one call of a notebook surface costs beyond its work: the smallest statement each
/// service has, through `SyncDb`, `SyncRedis` and `SyncBroker` as a cell calls them (each
/// call connects, works and closes, except `SyncDb` on PostgreSQL, which keeps its pool).
fn bench_notebook(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::ServiceUrl;
    use helpers::cache::SyncRedis;
    use helpers::queue::{SyncBroker, Topology};
    use helpers::sql::SyncDb;
    let calls = 20;
    let row = |case: &str, ms: f64, note: String| Row::new("notebook", case, ms, "ms", note);

    let mut sqlite = settings.clone();
    sqlite.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", settings.out_dir.join("module8-bench.db").display()));
    let db = SyncDb::new(&sqlite);
    db.scalar("SELECT 1", &[])?;
    rows.push(row("SyncDb, SQLite: SELECT 1", median_ms(calls, || Ok(db.scalar("SELECT 1", &[])?))?, format!("median of {calls} calls, each opening the file")));

    let mut pg = settings.clone();
    pg.database_url = settings.test_postgres_url();
    let db = SyncDb::new(&pg);
    let started = Instant::now();
    db.scalar("SELECT 1", &[])?;
    rows.push(row("SyncDb, PostgreSQL: first call (opens and keeps the pool)", started.elapsed().as_secs_f64() * 1e3, "connects and migrates: the connections this URL asks for (TLS by default) and the migration check".into()));
    rows.push(row("SyncDb, PostgreSQL: SELECT 1", median_ms(calls, || Ok(db.scalar("SELECT 1", &[])?))?, format!("median of {calls} calls on the kept pool")));

    let redis = SyncRedis::new(settings);
    redis.command(&["PING"])?;
    rows.push(row("SyncRedis: PING", median_ms(calls, || Ok(redis.command(&["PING"])?))?, format!("median of {calls} calls, each connecting")));

    let broker = SyncBroker::new(settings, Topology::unique("bench-notebook"));
    broker.declare()?;
    let queue = broker.topology().user_data_queue();
    let depth = median_ms(calls, || Ok(broker.depth(&queue)?));
    broker.teardown()?;
    rows.push(row("SyncBroker: a queue's depth", depth?, format!("median of {calls} calls, each connecting")));
    Ok(())
}

/// Seeding, deep pages by OFFSET vs keyset, lazy vs eager loading, and repository queries
/// per second — on SQLite and on PostgreSQL.
fn bench_sql(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::sql::{self, Db, analytics, countries, loading, users};
    use helpers::ServiceUrl;

    // One runtime for the whole bench: a pool belongs to the runtime it was opened on.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;

    std::fs::create_dir_all(&settings.out_dir)?;
    let sqlite_file = settings.out_dir.join("module8-bench.db");
    let targets = [ServiceUrl::new(format!("sqlite://{}?mode=rwc", sqlite_file.display())), settings.test_postgres_url()];
    let large = World::generate(&WorldConfig::with_users(100_000));
    let small = World::generate(&WorldConfig::small());
    for url in &targets {
        let db = rt.block_on(async {
            let db = Db::connect(url, Some("module8_bench")).await?;
            db.migrate().await?;
            Ok::<_, helpers::Error>(db)
        })
        .with_context(|| format!("opening {url}"))?;
        let backend = db.backend().name();
        let row = |case: String, value: f64, unit: &'static str, note: String| Row::new("sql", format!("{backend}: {case}"), value, unit, note);

        // 100k users: seeding, then a deep page both ways.
        let report = rt.block_on(sql::seed(&db, &large))?;
        rows.push(row("seed 100k-user world".into(), report.millis, "ms", format!("{} rows, {} statements", report.rows(), report.statements)));
        rows.push(row("seed throughput".into(), report.rows() as f64 / (report.millis / 1e3), "rows/s", String::new()));
        let depth = 90_000;
        let offset_ms = median_ms(5, || Ok(rt.block_on(users::ranked_by_activity(&db, 20, depth))?))?;
        let before = rt.block_on(users::ranked_by_activity(&db, 1, depth - 1))?.pop().context("a user at the cursor")?;
        let cursor = users::Cursor { login_count: before.login_count, id: before.id, rank: before.rank };
        let (page, _) = rt.block_on(users::ranked_after(&db, Some(cursor), 20))?;
        let by_offset = rt.block_on(users::ranked_by_activity(&db, 20, depth))?;
        anyhow::ensure!(page == by_offset, "keyset and offset pages differ at depth {depth}");
        let keyset_ms = median_ms(5, || Ok(rt.block_on(users::ranked_after(&db, Some(cursor), 20))?))?;
        rows.push(row(format!("page of 20 at rank {depth}, OFFSET"), offset_ms, "ms", "median of 5".into()));
        rows.push(row(format!("page of 20 at rank {depth}, keyset"), keyset_ms, "ms", format!("{:.0}x faster", offset_ms / keyset_ms)));

        // 1k users: the N+1 lesson and repository queries per second.
        rt.block_on(sql::seed(&db, &small))?;
        for r in rt.block_on(loading::compare(&db, &[1_000], 5))? {
            rows.push(row(format!("load 1,000 users, {}", r.strategy), r.millis, "ms", format!("{} statements, median of 5", r.statements)));
        }
        // Each rate from one client looping inside a task of the runtime (as a server's handler
        // would), not from a thread outside it: every query is one round trip, nothing else.
        macro_rules! qps {
            ($name:expr, |$db:ident| $call:expr) => {{
                let $db = db.clone();
                let (n, secs) = rt.block_on(rt.spawn(async move {
                    let (mut n, started) = (0u32, Instant::now());
                    while started.elapsed().as_secs_f64() < 1.0 {
                        $call.await?;
                        n += 1;
                    }
                    Ok::<_, helpers::Error>((n, started.elapsed().as_secs_f64()))
                }))??;
                row(format!("{} queries/s", $name), n as f64 / secs, "queries/s", String::new())
            }};
        }
        rows.push(qps!("users::by_country", |db| users::by_country(&db, "Germany")));
        let by_id = qps!("users::by_id (primary key, one client)", |db| users::by_id(&db, 17));
        match db.backend() {
            helpers::sql::Backend::Postgres => {
                // Two floors: pgbench's own primary-key SELECT on its scratch database, and
                // pgbench running our very statement on our table (same row width and types).
                let same = format!("\\set id 17\n{};\n", users::BY_ID_SQL.trim().replace("FROM users", "FROM module8_bench.users").replace("$1", ":id"));
                let same_query = floors::pgbench_script_tps(url, &same, 5);
                let mut twin = Row::new("sql", format!("{backend}: users::by_id, one client, against pgbench running the same SELECT"), by_id.value, "queries/s", String::new());
                twin = twin.with_floor(&same_query);
                rows.push(by_id.with_floor(&rt.block_on(floors::pgbench_select_tps(url, 5))));
                rows.push(twin);
            }
            helpers::sql::Backend::Sqlite => rows.push(by_id),
        }
        rows.push(qps!("users::statistics", |db| users::statistics(&db)));
        rows.push(qps!("users::ranked_after (page of 20)", |db| users::ranked_after(&db, None, 20)));
        rows.push(qps!("countries::statistics", |db| countries::statistics(&db)));
        rows.push(qps!("analytics::cohorts", |db| analytics::cohorts(&db, None, 30)));
        rows.push(qps!("analytics::high_value_users", |db| analytics::high_value_users(&db, 500.0, 10)));
        rt.block_on(db.close());
    }
    Ok(())
}

/// Fibonacci naive vs memoised, latency percentiles of every cache tier, and reads while
/// Redis is cut.
fn bench_cache(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::cache;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    for r in cache::memo::compare_fibonacci([20, 25, 30]) {
        rows.push(Row::new("cache", format!("fib({}) naive", r.n), r.naive_us, "µs", format!("{} calls", r.naive_calls)));
        rows.push(Row::new("cache", format!("fib({}) memoised", r.n), r.memo_us, "µs", format!("{} calls, {:.0}x faster", r.memo_calls, r.speedup)));
    }
    for l in rt.block_on(cache::measure_latencies(settings, 10_000))? {
        for (q, v) in [("p50", l.p50_us), ("p95", l.p95_us), ("p99", l.p99_us)] {
            rows.push(Row::new("cache", format!("{} {q}", l.case), v, "µs", format!("{} samples", l.samples)));
        }
    }
    rows.push(redis_get_1kb(settings, &rt)?);
    for p in rt.block_on(cache::degradation(settings, 1_000))? {
        rows.push(Row::new("cache", format!("degradation: {}", p.phase), p.p50_us, "µs p50", format!("{}/{} answered, {} Redis hits, {} computed, {} errors counted", p.answered, p.reads, p.redis_hits, p.computed, p.redis_errors),));
    }
    Ok(())
}

/// A product record of about 1 KB of JSON, as a cache would hold it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Product {
    id: u64,
    name: String,
    description: String,
    price_cents: u64,
    tags: Vec<String>,
    ratings: Vec<u8>,
}

/// One client reading a 1 KB JSON record through `RedisCache::get` (GET + decode into a
/// struct), p50 of 20,000, beside `redis-benchmark`'s GET of a 1 KB value from one client.
fn redis_get_1kb(settings: &helpers::Settings, rt: &tokio::runtime::Runtime) -> anyhow::Result<Row> {
    const SAMPLES: usize = 20_000;
    let product = Product {
        id: 4711,
        name: "Ergonomic aluminium laptop stand, adjustable".into(),
        description: "A stand that lifts the screen to eye level. ".repeat(14),
        price_cents: 4_999,
        tags: ["office", "laptop", "ergonomic", "aluminium", "adjustable"].map(String::from).to_vec(),
        ratings: (0..60).map(|i| (i % 5 + 1) as u8).collect(),
    };
    let bytes = serde_json::to_vec(&product)?.len();
    let url = settings.redis_url.clone();
    let p50 = rt.block_on(rt.spawn(async move {
        // Made inside the runtime: its connection manager spawns a task there.
        let cache = helpers::cache::RedisCache::new(&url, &helpers::cache::run_namespace("bench-get"))?;
        cache.set("product", &product, std::time::Duration::from_secs(60)).await?;
        let mut times = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES + 1_000 {
            let started = Instant::now();
            let got: Option<Product> = cache.get("product").await?;
            let us = started.elapsed().as_secs_f64() * 1e6;
            anyhow::ensure!(got.is_some_and(|p| p.id == 4711), "the cached product was not read back");
            if i >= 1_000 {
                times.push(us); // the first thousand warm the connection up
            }
        }
        cache.delete("product").await?;
        anyhow::Ok(median_of(times))
    }))??;
    let floor = floors::redis_get_p50_us(&settings.redis_url, bytes, SAMPLES);
    if floor.is_ok() {
        // redis-benchmark leaves its key behind: remove it.
        let url = settings.redis_url.clone();
        let _ = rt.block_on(async move {
            let mut conn = redis::Client::open(url.expose())?.get_multiplexed_async_connection().await?;
            redis::cmd("DEL").arg("key:__rand_int__").query_async::<i64>(&mut conn).await
        });
    }
    Ok(Row::new("cache", format!("Redis GET of {bytes} B JSON + decode, one client, p50"), p50, "µs", format!("median of {SAMPLES}")).with_floor(&floor))
}

/// Bulk insert of the 10k-user world (about 100k events), every pipeline's time, and one
/// user's events found through the index vs by a collection scan. The 2dsphere index and the
/// geo pipeline run on the 1k-user world (about 10k events): SecantusDB builds 2dsphere
/// indexes in quadratic time.
fn bench_mongo(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::mongo::{Mongo, docs, explain, pipelines};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let m = Mongo::connect(&settings.mongodb_uri, Some("module8_bench")).await?;
        m.drop_database().await?;
        let version = m.server_version().await?;
        let world = World::generate(&WorldConfig::with_users(10_000));
        let load = docs::load_world_with(&m, &world, helpers::mongo::schema::GeoIndex::Skip).await?;
        rows.push(Row::new("mongo", format!("bulk insert {} events", load.events), load.event_seconds, "s", format!("{:.0} events/s, one unordered insert_many, validator on, server {version}", load.events_per_second()),));
        rows.push(Row::new("mongo", format!("bulk insert {} profiles", load.profiles), load.profile_seconds, "s", format!("{:.0} profiles/s", load.profiles as f64 / load.profile_seconds),));
        rows.push(Row::new("mongo", "build the 5 profile and event indexes after the load (no 2dsphere)", load.index_seconds, "s", format!("over {} events and {} profiles", load.events, load.profiles)));
        let end = world.config.as_of.succ_opt().expect("a next day").and_hms_opt(0, 0, 0).expect("midnight");
        let mut all = pipelines::all(end - chrono::Duration::days(90), end);
        all.retain(|p| p.name != "events_near");
        for p in &all {
            let (ms, results) = time_pipeline(&m, p, 5).await?;
            rows.push(Row::new("mongo", format!("pipeline {}", p.name), ms, "ms", format!("median of 5 over {} events, {results} result documents", load.events)));
        }
        // A user with events: the one behind the middle event.
        let user = world.events[world.events.len() / 2].user_id;
        let events_coll = m.collection::<bson::Document>(helpers::mongo::schema::EVENTS);
        for (label, hint) in [("find one user's events by index", None), ("find one user's events by collection scan", Some(bson::doc! { "$natural": 1 }))] {
            let mut times = Vec::new();
            let mut found = 0;
            for _ in 0..20 {
                let started = Instant::now();
                let mut find = events_coll.find(bson::doc! { "user_id": user });
                if let Some(h) = &hint {
                    find = find.hint(mongodb::options::Hint::Keys(h.clone()));
                }
                let mut cursor = find.await?;
                found = 0;
                while cursor.advance().await? {
                    found += 1;
                }
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
            rows.push(Row::new("mongo", label, median_of(times), "ms", format!("median of 20, {found} of {} documents", load.events)));
        }
        for e in explain::index_vs_scan(&m, user).await? {
            rows.push(Row::new("mongo", format!("explain: {}", e.plan), e.docs_examined as f64, "docs examined", format!("{} ({}), {} returned", e.stages, e.index.unwrap_or_else(|| "no index".into()), e.returned),));
        }
        m.drop_database().await?;

        let small = World::generate(&WorldConfig::small());
        let geo = Mongo::connect(&settings.mongodb_uri, Some("module8_bench_geo")).await?;
        geo.drop_database().await?;
        let load = docs::load_world(&geo, &small).await?;
        rows.push(Row::new("mongo", "build the 6 profile and event indexes incl. 2dsphere after the load", load.index_seconds, "s", format!("over {} events (1k-user world)", load.events)));
        let city = &small.cities[0];
        let (ms, results) = time_pipeline(&geo, &pipelines::events_near(city.lon, city.lat, 10_000.0, 50), 5).await?;
        rows.push(Row::new("mongo", "pipeline events_near", ms, "ms", format!("median of 5 over {} events, {results} result documents", load.events)));
        geo.drop_database().await?;
        geo.close().await;
        m.close().await;
        anyhow::Ok(())
    })
}

async fn time_pipeline(m: &helpers::mongo::Mongo, p: &helpers::mongo::pipelines::Pipeline, repeats: usize) -> anyhow::Result<(f64, usize)> {
    let mut times = Vec::new();
    let mut results = 0;
    for _ in 0..repeats {
        let started = Instant::now();
        results = helpers::mongo::events::aggregate::<bson::Document>(m, p).await?.len();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok((median_of(times), results))
}

fn median_of(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Rounds of the two messaging rows that have a floor, each ours then the floor's.
const ROUNDS_WITH_A_FLOOR: usize = 5;

/// Publish and consume rates, ours and the minimal loop's, one per round.
struct Paired {
    ours: (Vec<f64>, Vec<f64>),
    floor: (Vec<f64>, Vec<f64>),
    how: Option<(String, String)>,
}

/// Messaging against the RabbitMQ at `AMQP_ADDR`: publish rates with confirms (each message vs
/// per batch), consume + ack rates for prefetch 1 and 100, publish → delivery latency.
fn bench_queue(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::queue::{Broker, Topology, measure};
    let n = 20_000;
    let prefetch = 100;
    // The broker's own pace moves by half between runs minutes apart on a 2-core machine (the
    // minimal consume loop: 21.9k–44.7k msg/s over twelve rounds), so one pair of figures can
    // say 2.35x where the median of twelve alternating rounds says 1.13x. The two rows with a
    // floor are measured in alternating rounds (ours, then the floor) and their medians compared.
    let rounds = ROUNDS_WITH_A_FLOOR;
    // As for the SQL rates: the publishers and consumers (ours and the floor's) run inside a
    // task of the runtime, as a service's would, not on a thread outside it that every wake-up
    // has to reach.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let addr = settings.amqp_addr.clone();
    let publish_case = "publish, confirm per batch of 1000".to_string();
    let consume_case = format!("consume + ack, prefetch {prefetch}");
    let (rates, latencies, paired) = rt.block_on(rt.spawn({
        let (publish_case, consume_case) = (publish_case.clone(), consume_case.clone());
        async move {
            let broker = Broker::connect(&addr, Topology::unique("bench")).await?;
            let (body, props) = measure::sample_messages(1)[0].envelope(None);
            let (exchange, queue) = (broker.topology().data_processing(), broker.topology().user_data_queue());
            let out = async {
                let (rates, latencies) = measure::benchmark(&broker, n).await?;
                // Round one: the benchmark's own figures, then the floor's; then the rest.
                let first = |case: &str| rates.iter().find(|r| r.case == case).map(|r| r.per_second).with_context(|| format!("the benchmark has no `{case}` row"));
                let mut paired = Paired { ours: (vec![first(&publish_case)?], vec![first(&consume_case)?]), floor: (Vec::new(), Vec::new()), how: None };
                for round in 0..rounds {
                    if round > 0 {
                        paired.ours.0.push(measure::publish_batched(&broker, n, 1_000, helpers::queue::Cleanup::Remove).await?.per_second);
                        paired.ours.1.push(measure::consume_backlog(&broker, n, prefetch).await?.0.per_second);
                    }
                    let (publish, consume) = floors::rabbitmq(&broker, (&exchange, "user.data", &queue), n, &body, props.clone(), prefetch).await?;
                    paired.floor.0.push(publish.value);
                    paired.floor.1.push(consume.value);
                    paired.how.get_or_insert((publish.how, consume.how));
                }
                anyhow::Ok((rates, latencies, paired))
            }
            .await;
            broker.teardown().await?;
            broker.close().await;
            out
        }
    }))??;
    drop(rt);
    let (publish_how, consume_how) = paired.how.clone().context("no round of the RabbitMQ floor ran")?;
    for r in rates {
        let (ours, floor, how) = if r.case == publish_case {
            (&paired.ours.0, &paired.floor.0, &publish_how)
        } else if r.case == consume_case {
            (&paired.ours.1, &paired.floor.1, &consume_how)
        } else {
            rows.push(Row::new("queue", r.case, r.per_second, "msg/s", format!("{} messages in {:.2} s", r.messages, r.seconds)));
            continue;
        };
        let range = |v: &[f64]| format!("{:.0}–{:.0}", v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(0.0, f64::max));
        let note = format!("{n} messages; median of {} rounds alternating with the floor (ours {}, floor {} msg/s)", ours.len(), range(ours), range(floor));
        let floor = floors::Floor { value: median_of(floor.clone()), how: how.clone() };
        rows.push(Row::new("queue", r.case, median_of(ours.clone()), "msg/s", note).with_floor(&Ok(floor)));
    }
    for l in latencies {
        for (q, v) in [("p50", l.p50_us), ("p99", l.p99_us)] {
            rows.push(Row::new("queue", format!("{} {q}", l.case), v, "µs", format!("{} messages", l.samples)));
        }
    }
    bench_pipeline_under_a_cut(settings, rows)
}

/// The signup pipeline under load — every stage a concurrent consumer, MongoDB writes
/// included — with the connection dropped once in the middle (`link::CuttableLink::interrupt`):
/// sign-ups per second, the slowest stage's p99 publish → delivery, and the books (lost,
/// duplicated profiles or analytics documents). `M8_BENCH_SIGNUPS` sign-ups (default 5,000).
fn bench_pipeline_under_a_cut(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::mongo::{Mongo, schema, users};
    use helpers::link::CuttableLink;
    use helpers::queue::{Broker, Topology, pipeline};
    let n: usize = std::env::var("M8_BENCH_SIGNUPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    let (report, secs, reconnects, profiles) = helpers::run(async {
        let link = CuttableLink::to(&settings.amqp_addr, 5672).await?;
        let broker = Broker::connect(&link.url_through(&settings.amqp_addr), Topology::unique("benchpipe")).await?;
        let mongo = Mongo::connect(&settings.mongodb_uri, Some("module8_bench_pipeline")).await?;
        mongo.drop_database().await?;
        schema::ensure(&mongo).await?;
        let world = World::generate(&WorldConfig::with_users(n.clamp(100, 100_000)));
        let signups = pipeline::signups(&world, n, "bench");
        let started = Instant::now();
        // The cut: a second in, when every stage is busy.
        let cut = async {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            link.interrupt();
        };
        let (report, ()) = tokio::join!(pipeline::run_signups(&broker, &mongo, &signups, helpers::queue::pipeline::BadInput::Left, helpers::queue::Cleanup::Keep), cut);
        let secs = started.elapsed().as_secs_f64();
        let profiles = users::count(&mongo).await;
        let reconnects = broker.recoveries();
        let _ = broker.teardown().await;
        broker.close().await;
        let _ = mongo.drop_database().await;
        mongo.close().await;
        Ok::<_, helpers::Error>((report?, secs, reconnects, profiles?))
    })?;
    let slowest = report.stages.iter().filter(|s| s.p99_ms.is_finite()).max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    let duplicated = (profiles as i64 - report.stored as i64).max(0) + (report.analytics_stored as i64 - report.stored as i64).max(0);
    rows.push(Row::new("queue", "signup pipeline, 6 concurrent stages, connection cut once", report.stored as f64 / secs, "sign-ups/s", format!(
            "{n} sign-ups in {secs:.1} s: stored {}, not stored when the run ended {}, duplicated side effects {duplicated}, reconnects {reconnects}",
            report.stored,
            n.saturating_sub(report.stored)
        ),));
    if let Some(s) = slowest {
        rows.push(Row::new("queue", "signup pipeline, slowest stage p99 (publish → delivery)", s.p99_ms, "ms", format!("stage {}", s.stage)));
    }
    Ok(())
}

/// The analytics model at scale: the feature pipeline, the churn fit and the scoring on
/// worlds of 10k, 100k and 1M users (`M8_BENCH_SCALES`, comma-separated, to change), and the
/// slope of each on a log-log scale; and fitting LTV on the 100k world.
fn bench_analytics(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::analytics::scaling;
    let sizes: Vec<usize> = match std::env::var("M8_BENCH_SCALES") {
        Ok(v) => v.split(',').map(|s| s.trim().parse().with_context(|| format!("M8_BENCH_SCALES: `{s}` is not a number of users"))).collect::<anyhow::Result<_>>()?,
        Err(_) => vec![10_000, 100_000, 1_000_000],
    };
    let mut points = Vec::new();
    for &users in &sizes {
        let world = World::generate(&WorldConfig::with_users(users));
        let p = scaling::measure_world(&world)?;
        let at = format!("{users} users");
        rows.push(Row::new("analytics", format!("feature pipeline, {at}"), p.features_ms, "ms", format!("Polars lazy: filters, group-bys, 4 joins over {} events → {} rows", p.events, p.rows)));
        rows.push(Row::new("analytics", format!("fit churn (Newton–Cholesky, 9 features), {at}"), p.fit_ms, "ms", format!("{} rows, AUC {:.4} on them{}", p.rows, p.fit_auc, if users == 100_000 { "; target ≤ 200 ms" } else { "" })));
        rows.push(Row::new("analytics", format!("score churn + LTV, {at}"), p.scored_per_second, "users/s", format!("{} rows in {:.2} ms, best of 3; target ≥ 20 M/s", p.rows, p.score_ms)));
        if users == 100_000 {
            rows.push(Row::new("analytics", format!("fit LTV (linfa-linear), {at}"), p.ltv_fit_ms, "ms", format!("{} rows", p.rows)));
        }
        points.push(p);
    }
    if points.len() >= 2 {
        for (name, series) in scaling::series(&points) {
            rows.push(Row::new("analytics", format!("{name}: log-log slope of time against users"), scaling::slope(&series)?, "slope", format!("{} sizes, 1 = linear", points.len())));
        }
    }
    Ok(())
}
