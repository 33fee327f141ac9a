//! The `frames` rows of the bench: a query's rows into a DataFrame at size (PostgreSQL, binary
//! COPY against the row-by-row path and psql's binary `\copy`), and MongoDB documents into a
//! typed frame (against the driver's raw cursor).

use std::time::Instant;

use anyhow::Context;

use super::{Row, floors};

/// A query's rows into a DataFrame at size, on PostgreSQL: a table of `bigint, text, float8,
/// timestamp` read whole at 100k, 1M and 10M rows (`M8_BENCH_FRAME_ROWS`, comma-separated) by
/// `query_frame` (binary COPY decoded into columns) and by the row-by-row path it replaced,
/// best of 3 each, beside the server's floor: psql's binary `\copy` of the same query to
/// /dev/null. The table lives in the bench's schema and is dropped at the end.
pub fn bench_frames(settings: &helpers::Settings, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use helpers::sql::{Db, query};
    let sizes: Vec<usize> = match std::env::var("M8_BENCH_FRAME_ROWS") {
        Ok(v) => v.split(',').map(|s| s.trim().replace('_', "").parse()).collect::<Result<_, _>>().context("M8_BENCH_FRAME_ROWS: comma-separated row counts")?,
        Err(_) => vec![100_000, 1_000_000, 10_000_000],
    };
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let url = settings.test_postgres_url();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let db = rt.block_on(Db::connect(&url, Some("module8_bench"))).with_context(|| format!("opening {url}"))?;
    rt.block_on(async {
        query::execute(&db, "CREATE SCHEMA IF NOT EXISTS module8_bench", &[]).await?;
        query::execute(&db, "DROP TABLE IF EXISTS module8_bench.frames", &[]).await?;
        query::execute(&db, "CREATE UNLOGGED TABLE module8_bench.frames (id bigint, name text, score float8, at timestamp)", &[]).await?;
        query::execute(
            &db,
            "INSERT INTO module8_bench.frames SELECT g, 'user-' || g, g * 0.001, TIMESTAMP '2025-01-01' + g * INTERVAL '1 second' FROM generate_series(1, $1) g",
            &[(largest as i64).into()],
        )
        .await?;
        query::execute(&db, "VACUUM ANALYZE module8_bench.frames", &[]).await
    })?;
    let best_of = |times: usize, f: &dyn Fn() -> anyhow::Result<usize>| -> anyhow::Result<(f64, usize)> {
        let (mut best, mut n) = (f64::INFINITY, 0);
        for _ in 0..times {
            let started = Instant::now();
            n = f()?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        Ok((best, n))
    };
    for &size in &sizes {
        let sql = format!("SELECT id, name, score, at FROM module8_bench.frames WHERE id <= {size}");
        let (copy_s, got) = best_of(3, &|| Ok(rt.block_on(query::query_frame(&db, &sql, &[]))?.height()))?;
        anyhow::ensure!(got == size, "query_frame returned {got} rows of {size}");
        let (rows_s, _) = best_of(3, &|| Ok(rt.block_on(query::query_frame_row_by_row(&db, &sql, &[]))?.height()))?;
        let floor = floors::psql_binary_copy_s(&url, &sql, 3);
        let n = helpers::display::thousands(size);
        rows.push(
            Row::new("frames", format!("postgres: {n} rows × (bigint, text, float8, timestamp) into a DataFrame, query_frame"), copy_s, "s", format!("{:.0}k rows/s, best of 3", size as f64 / copy_s / 1e3))
                .with_floor(&floor),
        );
        rows.push(Row::new("frames", format!("postgres: the same {n} rows row by row (the path before binary COPY)"), rows_s, "s", format!("{:.0}k rows/s, best of 3; {:.2}x query_frame's time", size as f64 / rows_s / 1e3, rows_s / copy_s)));
    }
    rt.block_on(async {
        query::execute(&db, "DROP TABLE IF EXISTS module8_bench.frames", &[]).await?;
        db.close().await;
        Ok::<_, helpers::Error>(())
    })?;
    bench_mongo_frames(settings, &rt, rows)
}

/// MongoDB documents into a typed frame: `M8_BENCH_MONGO_DOCS` documents (default 100,000) of
/// `{ user_id: long, name: string, score: double, at: date }` in a scratch collection of the
/// bench's database, read by `mongo::typed::find_typed`, best of 3, beside the floor: the same
/// projected find through the driver's raw cursor, each document only counted.
fn bench_mongo_frames(settings: &helpers::Settings, rt: &tokio::runtime::Runtime, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    use futures_util::TryStreamExt as _;
    use helpers::mongo::Mongo;
    use helpers::mongo::typed::{FieldType, find_typed};
    let n: usize = std::env::var("M8_BENCH_MONGO_DOCS").ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(100_000);
    rt.block_on(async {
        let m = Mongo::connect(&settings.mongodb_uri, Some("module8_bench")).await?;
        let coll = m.collection::<bson::Document>("frames");
        coll.drop().await?;
        let t0 = bson::DateTime::from_millis(1_735_689_600_000);
        for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
            let docs: Vec<bson::Document> = chunk
                .iter()
                .map(|&i| bson::doc! { "user_id": i as i64, "name": format!("user-{i}"), "score": i as f64 * 0.001, "at": bson::DateTime::from_millis(t0.timestamp_millis() + i as i64 * 1000) })
                .collect();
            coll.insert_many(docs).await?;
        }
        let schema = [("user_id", FieldType::Int), ("name", FieldType::Text), ("score", FieldType::Float), ("at", FieldType::DateTime)];
        let (mut ours, mut floor) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            let started = Instant::now();
            let df = find_typed(&m, "frames", bson::doc! {}, &schema, 0).await?;
            ours = ours.min(started.elapsed().as_secs_f64());
            anyhow::ensure!(df.height() == n, "find_typed returned {} of {n}", df.height());
            let started = Instant::now();
            let mut cursor = m
                .collection::<bson::RawDocumentBuf>("frames")
                .find(bson::doc! {})
                .projection(bson::doc! { "_id": 0, "user_id": 1, "name": 1, "score": 1, "at": 1 })
                .batch_size(10_000)
                .await
                ?;
            let mut seen = 0usize;
            while cursor.try_next().await?.is_some() {
                seen += 1;
            }
            floor = floor.min(started.elapsed().as_secs_f64());
            anyhow::ensure!(seen == n, "the raw cursor saw {seen} of {n}");
        }
        coll.drop().await?;
        m.close().await;
        let count = helpers::display::thousands(n);
        let found: floors::Found = Ok(floors::Floor { value: floor, how: "the same projected find through the driver's raw cursor, each document only counted, best of 3".into() });
        rows.push(Row::new("frames", format!("mongodb: {count} documents × (long, string, double, date) into a typed frame, find_typed"), ours, "s", format!("{:.0}k documents/s, best of 3", n as f64 / ours / 1e3)).with_floor(&found));
        Ok(())
    })
}

