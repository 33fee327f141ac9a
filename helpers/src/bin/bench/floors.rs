//! The floor under a client figure: what the server does for one client when nothing but the
//! server's own benchmark tool talks to it, measured in the same run — `redis-benchmark` for
//! Redis, `pgbench` for PostgreSQL (on a scratch database created and dropped here), and for
//! RabbitMQ a minimal lapin loop (no decoding, no bookkeeping).
//!
//! A floor that cannot be measured (the tool is not installed, the role may not create a
//! database) is reported with the reason instead of a number; the bench goes on.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use helpers::ServiceUrl;

/// A measured floor: the value (same unit as the row it stands under) and how it was measured
/// (the command, its URL masked).
#[derive(Clone, Debug)]
pub struct Floor {
    pub value: f64,
    pub how: String,
}

/// A floor, or why there is none.
pub type Found = Result<Floor, String>;

fn run(tool: &str, args: &[&str], shown: &str) -> Result<String, String> {
    let out = Command::new(tool).args(args).output().map_err(|e| format!("`{tool}` could not run ({e}): install it to see the floor"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("`{shown}` failed: {}", err.lines().last().unwrap_or("no message")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `redis-benchmark` with one client: SET then GET of a `bytes`-byte value, `requests` each;
/// the GET's median latency in µs.
pub fn redis_get_p50_us(url: &ServiceUrl, bytes: usize, requests: usize) -> Found {
    let (n, d) = (requests.to_string(), bytes.to_string());
    let shown = format!("redis-benchmark -u {} -c 1 -n {n} -d {d} -t set,get --csv", url.masked());
    let csv = run("redis-benchmark", &["-u", url.expose(), "-c", "1", "-n", &n, "-d", &d, "-t", "set,get", "--csv"], &shown)?;
    let p50_ms = parse_redis_csv(&csv, "GET", "p50_latency_ms").ok_or_else(|| format!("no GET median in the output of `{shown}`"))?;
    Ok(Floor { value: p50_ms * 1e3, how: shown })
}

/// The value of `column` in the row of `test` of redis-benchmark's `--csv` output.
pub fn parse_redis_csv(csv: &str, test: &str, column: &str) -> Option<f64> {
    let mut lines = csv.lines().map(|l| l.split(',').map(|f| f.trim().trim_matches('"')).collect::<Vec<_>>());
    let header = lines.next()?;
    let at = header.iter().position(|h| *h == column)?;
    lines.find(|row| row.first() == Some(&test))?.get(at)?.parse().ok()
}

/// `url` with its database (the path) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// `pgbench -S -c 1 -M prepared` (primary-key SELECTs from one client, prepared statements)
/// for `seconds` on a scratch database `module8_bench_floor`, created, initialised
/// (`pgbench -i -s 1`: 100,000 accounts) and dropped here; transactions per second.
pub async fn pgbench_select_tps(url: &ServiceUrl, seconds: u32) -> Found {
    use sqlx::Connection as _;
    const SCRATCH: &str = "module8_bench_floor";
    let mut admin = sqlx_postgres::PgConnection::connect(url.expose()).await.map_err(|e| format!("connecting to {url}: {e}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))).execute(&mut admin).await.map_err(|e| format!("dropping an old {SCRATCH}: {e}"))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {SCRATCH}"))).execute(&mut admin).await.map_err(|e| format!("this role cannot create the scratch database {SCRATCH} ({e})"))?;
    let scratch = with_database(url.expose(), SCRATCH);
    let masked = ServiceUrl::new(scratch.clone()).masked();
    let secs = seconds.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        run("pgbench", &["-i", "-s", "1", "-q", &scratch], &format!("pgbench -i -s 1 -q {masked}"))?;
        let shown = format!("pgbench -S -c 1 -M prepared -n -T {secs} {masked}");
        let out = run("pgbench", &["-S", "-c", "1", "-M", "prepared", "-n", "-T", &secs, &scratch], &shown)?;
        let tps = parse_pgbench_tps(&out).ok_or_else(|| format!("no `tps =` line in the output of `{shown}`"))?;
        Ok(Floor { value: tps, how: shown })
    })
    .await
    .map_err(|e| format!("pgbench did not finish: {e}"))?;
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))).execute(&mut admin).await;
    let _ = admin.close().await;
    dropped.map_err(|e| format!("dropping {SCRATCH}: {e}"))?;
    outcome
}

/// `pgbench -c 1 -M prepared` running `sql` (a pgbench script: `\set` lines and one statement)
/// for `seconds` against `url` itself: the server's time for exactly our query, with pgbench's
/// client instead of ours; transactions per second.
pub fn pgbench_script_tps(url: &ServiceUrl, script: &str, seconds: u32) -> Found {
    let file = std::env::temp_dir().join(format!("module8-floor-{}.sql", std::process::id()));
    std::fs::write(&file, script).map_err(|e| format!("writing {}: {e}", file.display()))?;
    let secs = seconds.to_string();
    let path = file.display().to_string();
    let shown = format!("pgbench -c 1 -M prepared -n -T {secs} -f <the same SELECT> {}", url.masked());
    let out = run("pgbench", &["-c", "1", "-M", "prepared", "-n", "-T", &secs, "-f", &path, url.expose()], &shown);
    let _ = std::fs::remove_file(&file);
    let tps = parse_pgbench_tps(&out?).ok_or_else(|| format!("no `tps =` line in the output of `{shown}`"))?;
    Ok(Floor { value: tps, how: shown })
}

/// The `tps = …` figure of pgbench's report.
pub fn parse_pgbench_tps(out: &str) -> Option<f64> {
    out.lines().find_map(|l| l.trim().strip_prefix("tps = ")).and_then(|rest| rest.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// The minimal lapin loops on the broker's connection, for `n` copies of one message (`body`
/// with `props`, as our producer sends it: persistent, with its headers) through `exchange` /
/// `routing_key` into `queue` — the route our benchmark uses, so the broker does the same work —
/// publishing on a confirming channel and waiting for the confirms once per 1,000; then
/// consuming that backlog with prefetch `prefetch` and one `multiple` ack per half a prefetch.
/// No encoding or decoding, no bookkeeping: the most this client and broker do.
/// (publish msg/s, consume msg/s). `queue` is purged before and left empty.
pub async fn rabbitmq(broker: &helpers::queue::Broker, route: (&str, &str, &str), n: usize, body: &[u8], props: lapin::BasicProperties, prefetch: u16) -> anyhow::Result<(Floor, Floor)> {
    use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, QueuePurgeOptions};
    use lapin::types::FieldTable;
    let (exchange, routing_key, queue) = route;
    let bound = Duration::from_secs(120);
    let publisher = broker.channel().await?;
    let consumer_channel = broker.channel().await?;
    tokio::time::timeout(bound, async {
        publisher.confirm_select(ConfirmSelectOptions::default()).await?;
        publisher.queue_purge(queue.into(), QueuePurgeOptions::default()).await?;
        let started = Instant::now();
        let mut sent = 0;
        while sent < n {
            // All of the batch queued on the channel first, then awaited, as our producer does.
            let batch = (n - sent).min(1_000);
            let sends = (0..batch).map(|_| publisher.basic_publish(exchange.into(), routing_key.into(), BasicPublishOptions::default(), body, props.clone()));
            for published in helpers::queue::queue_then_await(sends).await {
                published?;
            }
            sent += batch;
            anyhow::ensure!(publisher.wait_for_confirms().await?.is_empty(), "the broker returned floor messages");
        }
        let publish = n as f64 / started.elapsed().as_secs_f64();

        consumer_channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
        let mut deliveries = consumer_channel.basic_consume(queue.into(), "m8-floor".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
        let every = (prefetch as usize / 2).max(1);
        let started = Instant::now();
        let mut got = 0;
        while got < n {
            let delivery = deliveries.next().await.ok_or_else(|| anyhow::anyhow!("the floor consumer was cancelled after {got} of {n}"))??;
            got += 1;
            if got % every == 0 || got == n {
                delivery.ack(BasicAckOptions { multiple: true }).await?;
            }
        }
        let consume = n as f64 / started.elapsed().as_secs_f64();
        let _ = consumer_channel.basic_cancel("m8-floor".into(), BasicCancelOptions::default()).await;
        let how = |what: &str| format!("minimal lapin loop, same route, queue and message ({} B, persistent): {what}", body.len());
        anyhow::Ok((
            Floor { value: publish, how: how(&format!("{n} × basic_publish, queued per 1,000, then wait_for_confirms")) },
            Floor { value: consume, how: how(&format!("{n} consumed with prefetch {prefetch}, one multiple ack per {every}")) },
        ))
    })
    .await
    .map_err(|_| anyhow::anyhow!("the RabbitMQ floor took over {} s", bound.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_csv_is_read_by_test_and_column() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\"\n\"SET\",\"40000.00\",\"0.024\",\"0.008\",\"0.023\",\"0.031\"\n\"GET\",\"43478.26\",\"0.022\",\"0.008\",\"0.021\",\"0.030\"\n";
        assert_eq!(parse_redis_csv(csv, "GET", "p50_latency_ms"), Some(0.021));
        assert_eq!(parse_redis_csv(csv, "SET", "rps"), Some(40000.0));
        assert_eq!(parse_redis_csv(csv, "INCR", "rps"), None);
        assert_eq!(parse_redis_csv(csv, "GET", "p99_latency_ms"), None);
    }

    #[test]
    fn pgbench_tps_is_read_from_its_report() {
        let out = "pgbench (15.19)\ntransaction type: <builtin: select only>\nlatency average = 0.049 ms\ninitial connection time = 2.1 ms\ntps = 20284.123456 (without initial connection time)\n";
        assert_eq!(parse_pgbench_tps(out), Some(20284.123456));
        assert_eq!(parse_pgbench_tps("nothing here"), None);
    }

    #[test]
    fn the_database_of_a_url_is_replaced_and_the_rest_kept() {
        assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
        assert_eq!(with_database("postgres://u:p@h/test?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
        assert_eq!(with_database("postgres://h:5432?application_name=a", "x"), "postgres://h:5432/x?application_name=a");
    }
}

/// psql's binary `\copy (sql) TO '/dev/null'`: the server producing every row of `sql` in
/// COPY's binary format and one client receiving it, with nothing decoded — the floor under
/// any client that turns the rows into columns. Best of `runs`, seconds (psql's start, a few
/// milliseconds, included).
pub fn psql_binary_copy_s(url: &ServiceUrl, sql: &str, runs: usize) -> Found {
    let command = format!("\\copy ({sql}) TO '/dev/null' WITH (FORMAT binary)");
    let shown = format!("psql -X -q {} -c \"{command}\"", url.masked());
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        run("psql", &["-X", "-q", url.expose(), "-c", &command], &shown)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    Ok(Floor { value: best, how: format!("{shown}, best of {runs}") })
}
