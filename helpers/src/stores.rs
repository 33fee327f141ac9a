//! Which store for which job — the original's matrix ("need structured data? PostgreSQL; a
//! flexible schema? MongoDB; sub-millisecond reads? Redis; async processing? RabbitMQ") with
//! this run's numbers beside each row: one write and one read by key (median of `samples`,
//! one client, one at a time), a batch of writes (per second), and what each server said about
//! durability when asked.
//!
//! Each store does the same small job: a record of about 60 bytes written under a key and read
//! back by that key. PostgreSQL commits each row (autocommit) and the batch in one transaction;
//! MongoDB `insert_one` / `find_one` by `_id` and one `insert_many`; Redis `SET` / `GET` and one
//! pipeline; RabbitMQ publishes a persistent message to a durable queue and waits for its
//! confirm, reads one with `basic.get` and acks it, and publishes the batch with one wait for
//! its confirms. Every table, collection, key and queue is the run's own and removed after.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::frame_row;
use crate::latency::quantile;
use crate::runtime::{run, within};

/// One store's row of the matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreRow {
    /// The service.
    pub store: String,
    /// The job the original's matrix gives it.
    pub job: String,
    /// One write, acknowledged, median ms.
    pub write_ms: f64,
    /// One read by key, median ms.
    pub read_ms: f64,
    /// A batch of writes, records per second.
    pub batch_per_s: f64,
    /// What the server said about keeping a write, asked in this run.
    pub durability: String,
}
frame_row!(StoreRow { store, job, write_ms, read_ms, batch_per_s, durability });

/// The record every store writes: about 60 bytes of JSON.
fn record(i: usize) -> String {
    format!(r#"{{"user_id":{i},"event":"page_view","page":"/products/{}"}}"#, i % 97)
}

fn median_ms(samples: Vec<f64>) -> f64 {
    let mut s = samples;
    s.sort_by(f64::total_cmp);
    quantile(&s, 0.5) * 1e3
}

/// Measures all four stores with `samples` single writes and reads each and a batch of
/// `batch` writes; a store that does not answer is left out of the table with the reason in
/// the second value (named, URL masked), so the rest are still measured.
pub fn measure(settings: &Settings, samples: usize, batch: usize) -> Result<(Vec<StoreRow>, Vec<String>)> {
    let (samples, batch) = (samples.clamp(5, 10_000), batch.clamp(10, 100_000));
    let tag = format!("m8_matrix_{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros() % 1_000_000);
    run(async {
        let bound = Duration::from_secs(60);
        let mut rows = Vec::new();
        let mut skipped = Vec::new();
        let cases: [(&str, std::pin::Pin<Box<dyn std::future::Future<Output = Result<StoreRow>> + Send + '_>>); 4] = [
            ("PostgreSQL", Box::pin(postgres(settings, &tag, samples, batch))),
            ("MongoDB", Box::pin(mongo(settings, &tag, samples, batch))),
            ("Redis", Box::pin(redis(settings, &tag, samples, batch))),
            ("RabbitMQ", Box::pin(rabbitmq(settings, &tag, samples, batch))),
        ];
        for (store, case) in cases {
            match within(format!("measuring {store}"), bound, case).await.and_then(|r| r) {
                Ok(row) => rows.push(row),
                Err(e) => skipped.push(format!("{store}: {e}")),
            }
        }
        Ok((rows, skipped))
    })
}

async fn postgres(settings: &Settings, tag: &str, samples: usize, batch: usize) -> Result<StoreRow> {
    use crate::sql::{Backend, Db, on_pool};
    let db = Db::connect(&settings.database_url, None).await?;
    let out = async {
        on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TABLE {tag} (k BIGINT PRIMARY KEY, v TEXT NOT NULL)"))).execute(pool).await.map(|r| r.rows_affected()))?;
        let insert = format!("INSERT INTO {tag} (k, v) VALUES ($1, $2)");
        let select = format!("SELECT v FROM {tag} WHERE k = $1");
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let t = Instant::now();
            on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(insert.clone())).bind(i as i64).bind(record(i)).execute(pool).await.map(|r| r.rows_affected()))?;
            writes.push(t.elapsed().as_secs_f64());
        }
        for i in 0..samples {
            let t = Instant::now();
            let v: Option<String> = on_pool!(&db, |pool| sqlx::query_scalar(sqlx::AssertSqlSafe(select.clone())).bind(i as i64).fetch_optional(pool).await)?;
            reads.push(t.elapsed().as_secs_f64());
            if v.is_none() {
                return Err(Error::InvalidInput(format!("PostgreSQL lost row {i} of the matrix's table")));
            }
        }
        let t = Instant::now();
        per_backend_batch(&db, &insert, samples, batch).await?;
        let per_s = batch as f64 / t.elapsed().as_secs_f64().max(1e-9);
        let durability = match db.backend() {
            Backend::Postgres => {
                let sync: String = on_pool!(&db, |pool| sqlx::query_scalar("SELECT current_setting('synchronous_commit')").fetch_one(pool).await)?;
                let fsync: String = on_pool!(&db, |pool| sqlx::query_scalar("SELECT current_setting('fsync')").fetch_one(pool).await)?;
                format!("a commit returns once its WAL is {} (synchronous_commit = {sync}, fsync = {fsync})", if sync == "off" || fsync == "off" { "written, not necessarily on disk" } else { "flushed to disk" })
            }
            Backend::Sqlite => {
                let mode: String = on_pool!(&db, |pool| sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await)?;
                format!("SQLite file, journal_mode = {mode}")
            }
        };
        Ok(StoreRow { store: db.backend().name().into(), job: "structured data: ACID transactions, joins, constraints".into(), write_ms: median_ms(writes), read_ms: median_ms(reads), batch_per_s: per_s, durability })
    }
    .await;
    let _ = on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {tag}"))).execute(pool).await.map(|r| r.rows_affected()));
    db.close().await;
    out
}

/// `batch` rows (keys after `from`) in one transaction.
async fn per_backend_batch(db: &crate::sql::Db, insert: &str, from: usize, batch: usize) -> Result<()> {
    match &db.pool {
        crate::sql::Pool::Postgres(pool) => {
            let mut tx = pool.begin().await.map_err(|e| db.error(e))?;
            for i in from..from + batch {
                sqlx::query(sqlx::AssertSqlSafe(insert.to_string())).bind(i as i64).bind(record(i)).execute(&mut *tx).await.map_err(|e| db.error(e))?;
            }
            tx.commit().await.map_err(|e| db.error(e))
        }
        crate::sql::Pool::Sqlite(pool) => {
            let mut tx = pool.begin().await.map_err(|e| db.error(e))?;
            for i in from..from + batch {
                sqlx::query(sqlx::AssertSqlSafe(insert.to_string())).bind(i as i64).bind(record(i)).execute(&mut *tx).await.map_err(|e| db.error(e))?;
            }
            tx.commit().await.map_err(|e| db.error(e))
        }
    }
}

async fn mongo(settings: &Settings, tag: &str, samples: usize, batch: usize) -> Result<StoreRow> {
    use mongodb::bson::{Document, doc};
    let m = crate::mongo::Mongo::open(settings).await?;
    let coll = m.collection::<Document>(tag);
    let err = |e: mongodb::error::Error| crate::mongo::map_error(m.url(), e);
    let out = async {
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let t = Instant::now();
            coll.insert_one(doc! { "_id": i as i64, "v": record(i) }).await.map_err(err)?;
            writes.push(t.elapsed().as_secs_f64());
        }
        for i in 0..samples {
            let t = Instant::now();
            let found = coll.find_one(doc! { "_id": i as i64 }).await.map_err(err)?;
            reads.push(t.elapsed().as_secs_f64());
            if found.is_none() {
                return Err(Error::InvalidInput(format!("MongoDB lost document {i} of the matrix's collection")));
            }
        }
        let docs: Vec<Document> = (samples..samples + batch).map(|i| doc! { "_id": i as i64, "v": record(i) }).collect();
        let t = Instant::now();
        coll.insert_many(docs).await.map_err(err)?;
        let per_s = batch as f64 / t.elapsed().as_secs_f64().max(1e-9);
        let stored = coll.count_documents(doc! {}).await.map_err(err)?;
        if stored != (samples + batch) as u64 {
            return Err(Error::InvalidInput(format!("MongoDB holds {stored} of the matrix's {} documents", samples + batch)));
        }
        let version = m.server_version().await.unwrap_or_else(|_| "?".into());
        let durability = format!("acknowledged by the server (the driver's default write concern, w: 1) before the call returns; server {version}");
        Ok(StoreRow { store: "MongoDB".into(), job: "a flexible schema: documents, events, logs".into(), write_ms: median_ms(writes), read_ms: median_ms(reads), batch_per_s: per_s, durability })
    }
    .await;
    let _ = coll.drop().await;
    m.close().await;
    out
}

async fn redis(settings: &Settings, tag: &str, samples: usize, batch: usize) -> Result<StoreRow> {
    use crate::cache::redis_cache::{connect, scan_keys};
    let url = &settings.redis_url;
    let mut conn = connect(url, Duration::from_secs(2)).await?;
    let prefix = format!("module8:{tag}:");
    let err = |e: redis::RedisError| Error::InvalidInput(format!("Redis at {}: {e}", url.masked()));
    let out = async {
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        for i in 0..samples {
            let t = Instant::now();
            let _: () = redis::cmd("SET").arg(format!("{prefix}{i}")).arg(record(i)).arg("EX").arg(300).query_async(&mut conn).await.map_err(err)?;
            writes.push(t.elapsed().as_secs_f64());
        }
        for i in 0..samples {
            let t = Instant::now();
            let v: Option<String> = redis::cmd("GET").arg(format!("{prefix}{i}")).query_async(&mut conn).await.map_err(err)?;
            reads.push(t.elapsed().as_secs_f64());
            if v.is_none() {
                return Err(Error::InvalidInput(format!("Redis lost key {i} of the matrix")));
            }
        }
        let mut pipe = redis::pipe();
        for i in samples..samples + batch {
            pipe.cmd("SET").arg(format!("{prefix}{i}")).arg(record(i)).arg("EX").arg(300).ignore();
        }
        let t = Instant::now();
        let _: () = pipe.query_async(&mut conn).await.map_err(err)?;
        let per_s = batch as f64 / t.elapsed().as_secs_f64().max(1e-9);
        let info: String = redis::cmd("INFO").arg("persistence").query_async(&mut conn).await.map_err(err)?;
        let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()));
        let save: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG").arg("GET").arg("save").query_async(&mut conn).await;
        let snapshots = match save {
            Ok(v) if v.get(1).is_some_and(|s| s.trim().is_empty()) => "no snapshots (save \"\")".to_string(),
            Ok(v) => format!("snapshots when `save {}`", v.get(1).cloned().unwrap_or_default()),
            Err(_) => "snapshot schedule not told (CONFIG refused)".to_string(),
        };
        let durability = match field("aof_enabled").as_deref() {
            Some("1") => format!("in memory, appended to a log on disk (appendonly yes); {snapshots}"),
            Some(_) => format!("in memory; no append-only log (appendonly no); {snapshots}: a restart {} the keys", if snapshots.starts_with("no snapshots") { "loses" } else { "may lose the latest of" }),
            None => "in memory; INFO persistence did not say more".to_string(),
        };
        Ok(StoreRow { store: "Redis".into(), job: "sub-millisecond reads: a cache, counters, sessions".into(), write_ms: median_ms(writes), read_ms: median_ms(reads), batch_per_s: per_s, durability })
    }
    .await;
    if let Ok(keys) = scan_keys(&mut conn, &format!("{prefix}*"), 1000).await {
        for chunk in keys.chunks(500) {
            let _: redis::RedisResult<i64> = redis::cmd("UNLINK").arg(chunk).query_async(&mut conn).await;
        }
    }
    out
}

async fn rabbitmq(settings: &Settings, _tag: &str, samples: usize, batch: usize) -> Result<StoreRow> {
    use crate::queue::{Broker, Topology, consumer::{ConsumeLimits, Outcome, Received, RetryPolicy, consume}, measure::sample_messages};
    let broker = Broker::connect(&settings.amqp_addr, Topology::unique("nb-matrix")).await?;
    let out = async {
        broker.topology().declare(&broker).await?;
        let (exchange, queue) = (broker.topology().data_processing(), broker.topology().user_data_queue());
        let messages = sample_messages(samples + batch);
        let mut writes = Vec::new();
        for m in &messages[..samples] {
            let t = Instant::now();
            broker.publish(&exchange, "user.data", m).await?;
            writes.push(t.elapsed().as_secs_f64());
        }
        // One read = one delivery taken and acked, with one message at a time in flight.
        let limits = ConsumeLimits { max_messages: samples, idle: Duration::from_secs(5), total: Duration::from_secs(30), prefetch: 1 };
        let mut last = Instant::now();
        let mut reads = Vec::new();
        let report = consume(&broker, &queue, limits, RetryPolicy::default(), |_: &Received| {
            reads.push(last.elapsed().as_secs_f64());
            last = Instant::now();
            Outcome::Ack
        })
        .await?;
        if report.acked != samples {
            return Err(Error::InvalidInput(format!("RabbitMQ delivered {} of the matrix's {samples} messages", report.acked)));
        }
        reads.remove(0); // the first includes the consumer's start
        let t = Instant::now();
        let stored = broker.publish_batch(&exchange, "user.data", &messages[samples..]).await?.stored;
        let per_s = batch as f64 / t.elapsed().as_secs_f64().max(1e-9);
        if stored != batch {
            return Err(Error::InvalidInput(format!("RabbitMQ confirmed {stored} of the matrix's {batch} messages")));
        }
        Ok(StoreRow {
            store: "RabbitMQ".into(),
            job: "async processing: work handed on, delivered at least once".into(),
            write_ms: median_ms(writes),
            read_ms: median_ms(reads),
            batch_per_s: per_s,
            durability: "a publish is confirmed once the broker has it in a durable queue as a persistent message; kept until a consumer acks it".into(),
        })
    }
    .await;
    let _ = broker.topology().delete(&broker, &[]).await;
    broker.close().await;
    out
}
