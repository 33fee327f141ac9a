//! A PostgreSQL primary and its streaming replica: writes go to the primary, reads may go to
//! the replica, and the replica is behind by however long it takes to receive and replay the
//! primary's write-ahead log (WAL). This module measures that lag under writes, shows a read
//! that misses its own write, and makes it right by waiting for the write's place in the WAL
//! (its LSN) to be replayed before reading — the technique, not a sleep.
//!
//! `scripts/beyond.sh pg up` starts a primary and a replica of the project's own
//! (docs/beyond-one-server.md).

use std::time::{Duration, Instant};

use polars::prelude::DataFrame;
use sqlx_postgres::PgPool;

use super::query::{self, Value};
use super::{Db, Pool};
use crate::config::ServiceUrl;
use crate::error::{Error, Result};

/// A primary and one of its streaming replicas.
#[derive(Clone, Debug)]
pub struct Replicated {
    /// Where writes go (and reads that must see them).
    pub primary: Db,
    /// A hot standby replaying the primary's WAL: reads only.
    pub replica: Db,
}

/// A committed write: the rows it touched and the primary's WAL position after its commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Rows the statement touched.
    pub rows: u64,
    /// `pg_current_wal_lsn()` after the commit, e.g. `0/3000148`: once the replica has replayed
    /// this far, it shows the write.
    pub lsn: String,
}

/// Where a read was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// By the replica, which had replayed the write first.
    Replica,
    /// By the primary: the replica had not caught up within the bound.
    Primary,
}

/// How busy the primary is while the lag is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Only the probe writes.
    Quiet,
    /// A second connection inserts 2,000-row batches (about 1 MB of WAL each) for as long as
    /// the probes run.
    Bulk,
}

/// What [`Replicated::measure_lag`] saw.
#[derive(Clone, Debug)]
pub struct LagReport {
    /// The load on the primary.
    pub load: Load,
    /// Probe writes committed on the primary.
    pub writes: usize,
    /// Probes the replica did not show when read at once after the commit (the read that
    /// misses its own write).
    pub missed_right_after: usize,
    /// Probes the replica did not show when read after waiting for the write's LSN (must be 0).
    pub missed_after_wait: usize,
    /// Per probe, from the commit's return to the replica being seen to have replayed it
    /// (resolution: one round trip to the replica).
    pub lags: Vec<Duration>,
    /// Rows the bulk writer committed meanwhile.
    pub bulk_rows: u64,
}

impl LagReport {
    /// The `q`-quantile of the lags (0.5 = median), or zero with no probes.
    pub fn lag_quantile(&self, q: f64) -> Duration {
        let mut lags = self.lags.clone();
        lags.sort();
        match lags.len() {
            0 => Duration::ZERO,
            n => lags[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
        }
    }
}

fn pg(db: &Db) -> Result<&PgPool> {
    match &db.pool {
        Pool::Postgres(pool) => Ok(pool),
        Pool::Sqlite(_) => Err(Error::InvalidInput(format!("{} is SQLite: replicas are a PostgreSQL lesson", db.url().masked()))),
    }
}

async fn in_recovery(db: &Db) -> Result<bool> {
    sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(pg(db)?).await.map_err(|e| db.error(e))
}

impl Replicated {
    /// Connects to both, and checks that the first is a primary and the second a standby (a
    /// swapped pair would send writes to a server that refuses them). `schema` as in
    /// [`Db::connect`]; on the replica it must already exist on the primary.
    pub async fn connect(primary: &ServiceUrl, replica: &ServiceUrl, schema: Option<&str>) -> Result<Replicated> {
        let primary = Db::connect(primary, schema).await?;
        if in_recovery(&primary).await? {
            return Err(Error::Config { var: "the primary's URL", reason: format!("{} is a standby (pg_is_in_recovery() is true): writes go to a primary", primary.url().masked()) });
        }
        let replica = Db::connect(replica, schema).await?;
        if !in_recovery(&replica).await? {
            return Err(Error::Config { var: "the replica's URL", reason: format!("{} is not a standby (pg_is_in_recovery() is false)", replica.url().masked()) });
        }
        Ok(Replicated { primary, replica })
    }

    /// Runs a statement on the primary (autocommit) and returns where the WAL stood after it.
    pub async fn write(&self, sql: &str, params: &[Value]) -> Result<Written> {
        let rows = query::execute(&self.primary, sql, params).await?;
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(pg(&self.primary)?).await.map_err(|e| self.primary.error(e))?;
        Ok(Written { rows, lsn })
    }

    /// A query on the replica, as far as it has replayed: it may not show the latest writes.
    pub async fn read(&self, sql: &str, params: &[Value]) -> Result<DataFrame> {
        query::query_frame(&self.replica, sql, params).await
    }

    /// Whether the replica has replayed the WAL up to `lsn`.
    pub async fn replayed(&self, lsn: &str) -> Result<bool> {
        sqlx::query_scalar("SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)")
            .bind(lsn)
            .fetch_one(pg(&self.replica)?)
            .await
            .map_err(|e| self.replica.error(e))
    }

    /// Waits until the replica has replayed `lsn`, asking again at once (a round trip apart),
    /// for at most `within`: how long it took, or `None` when it had not by then.
    pub async fn wait_replayed(&self, lsn: &str, within: Duration) -> Result<Option<Duration>> {
        let started = Instant::now();
        loop {
            if self.replayed(lsn).await? {
                return Ok(Some(started.elapsed()));
            }
            if started.elapsed() >= within {
                return Ok(None);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Read-your-writes: the query on the replica once it has replayed `written`, or on the
    /// primary when it has not within `within`. Says which answered.
    pub async fn read_after(&self, written: &Written, sql: &str, params: &[Value], within: Duration) -> Result<(DataFrame, Route)> {
        match self.wait_replayed(&written.lsn, within).await? {
            Some(_) => Ok((self.read(sql, params).await?, Route::Replica)),
            None => Ok((query::query_frame(&self.primary, sql, params).await?, Route::Primary)),
        }
    }

    /// Measures the replication lag with `writes` probe rows, each inserted on the primary,
    /// read from the replica at once (counting the misses), then waited for until replayed
    /// (the lag) and read again (which must find it). The probe table `replica_probe` in the
    /// schema is made and dropped here.
    pub async fn measure_lag(&self, writes: usize, load: Load) -> Result<LagReport> {
        const BOUND: Duration = Duration::from_secs(10);
        query::execute(&self.primary, "DROP TABLE IF EXISTS replica_probe", &[]).await?;
        let made = self.write("CREATE TABLE replica_probe (id bigint PRIMARY KEY, pad text NOT NULL)", &[]).await?;
        if self.wait_replayed(&made.lsn, BOUND).await?.is_none() {
            return Err(Error::Timeout { what: "the replica replaying the probe table's creation".into(), after: BOUND });
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bulk = (load == Load::Bulk).then(|| {
            let (db, stop) = (self.primary.clone(), stop.clone());
            tokio::spawn(async move {
                let mut rows = 0u64;
                let mut next = 1_000_000_000i64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sql = "INSERT INTO replica_probe SELECT g, repeat('x', 500) FROM generate_series($1::int8, $1::int8 + 1999) g";
                    rows += query::execute(&db, sql, &[next.into()]).await?;
                    next += 2_000;
                }
                Ok::<u64, Error>(rows)
            })
        });
        let measured = self.probe(writes, BOUND).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let bulk_rows = match bulk {
            Some(task) => task.await.map_err(|e| Error::InvalidInput(format!("the bulk writer stopped: {e}")))??,
            None => 0,
        };
        query::execute(&self.primary, "DROP TABLE IF EXISTS replica_probe", &[]).await?;
        let (missed_right_after, missed_after_wait, lags) = measured?;
        Ok(LagReport { load, writes, missed_right_after, missed_after_wait, lags, bulk_rows })
    }

    /// Two passes of `writes` probe rows. The lag: each row inserted, then the replica asked
    /// at once and again (a round trip apart) until it has replayed the commit. Read-your-writes:
    /// each row inserted and read from the replica at once (a miss counted), then read again
    /// after waiting for its LSN (which must find it).
    async fn probe(&self, writes: usize, bound: Duration) -> Result<(usize, usize, Vec<Duration>)> {
        let mut lags = Vec::with_capacity(writes);
        for id in 0..writes as i64 {
            let written = self.write("INSERT INTO replica_probe VALUES ($1, repeat('p', 100))", &[id.into()]).await?;
            match self.wait_replayed(&written.lsn, bound).await? {
                Some(lag) => lags.push(lag),
                None => return Err(Error::Timeout { what: format!("the replica replaying probe {id}"), after: bound }),
            }
        }
        let (mut missed_right_after, mut missed_after_wait) = (0, 0);
        for id in writes as i64..2 * writes as i64 {
            let written = self.write("INSERT INTO replica_probe VALUES ($1, repeat('p', 100))", &[id.into()]).await?;
            if !self.replica_has(id).await? {
                missed_right_after += 1;
            }
            if self.wait_replayed(&written.lsn, bound).await?.is_none() || !self.replica_has(id).await? {
                missed_after_wait += 1;
            }
        }
        Ok((missed_right_after, missed_after_wait, lags))
    }

    async fn replica_has(&self, id: i64) -> Result<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM replica_probe WHERE id = $1)")
            .bind(id)
            .fetch_one(pg(&self.replica)?)
            .await
            .map_err(|e| self.replica.error(e))
    }

    /// Closes both pools.
    pub async fn close(self) {
        self.primary.close().await;
        self.replica.close().await;
    }
}

/// One line of a lag table: what [`LagReport`] saw, in milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LagRow {
    /// `quiet` or `bulk writes`.
    pub load: String,
    /// Probe writes timed.
    pub probes: u64,
    /// Median lag from commit to replayed.
    pub lag_p50_ms: f64,
    /// 95th percentile.
    pub lag_p95_ms: f64,
    /// The longest.
    pub lag_max_ms: f64,
    /// Reads from the replica right after the write that missed it (of `probes`).
    pub missed_at_once: u64,
    /// Reads after waiting for the write's LSN that missed it (0 is right).
    pub missed_after_lsn_wait: u64,
    /// Rows the bulk writer committed meanwhile.
    pub bulk_rows: u64,
}
crate::frame_row!(LagRow { load, probes, lag_p50_ms, lag_p95_ms, lag_max_ms, missed_at_once, missed_after_lsn_wait, bulk_rows });

impl LagReport {
    /// The report as one line of a table.
    pub fn row(&self) -> LagRow {
        let ms = |q: f64| (self.lag_quantile(q).as_secs_f64() * 1e5).round() / 100.0;
        LagRow {
            load: match self.load {
                Load::Quiet => "quiet".into(),
                Load::Bulk => "bulk writes".into(),
            },
            probes: self.writes as u64,
            lag_p50_ms: ms(0.5),
            lag_p95_ms: ms(0.95),
            lag_max_ms: ms(1.0),
            missed_at_once: self.missed_right_after as u64,
            missed_after_lsn_wait: self.missed_after_wait as u64,
            bulk_rows: self.bulk_rows,
        }
    }

    /// (probe number, lag in ms), for a timeline.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.lags.iter().enumerate().map(|(i, lag)| (i as f64 + 1.0, lag.as_secs_f64() * 1e3)).collect()
    }
}

/// The project's own primary and replica (`scripts/beyond.sh pg up`), from a notebook cell:
/// plain values in and out, every call bounded. It holds only the URLs, so it crosses cells.
#[derive(Clone, Debug)]
pub struct LocalPair {
    /// The primary, TLS on (its certificate signed by [`LocalPair::ca_file`]).
    pub primary: ServiceUrl,
    /// Its streaming replica.
    pub replica: ServiceUrl,
    /// The local CA's certificate.
    pub ca_file: std::path::PathBuf,
    /// A CA that signed nothing here, for the refusal.
    pub other_ca_file: std::path::PathBuf,
}

pub use crate::local_servers::{BEYOND_SCRIPT, START_TIMEOUT};
use crate::local_servers::beyond_script;

impl LocalPair {
    /// Starts the pair (or finds it running): a primary on 127.0.0.1:15432 with TLS, its
    /// replica on :15433 (`M8_PG_PRIMARY_PORT`, `M8_PG_REPLICA_PORT`, `M8_BEYOND_DIR` move them).
    pub fn start() -> Result<LocalPair> {
        crate::runtime::run(async {
            beyond_script(&["pg", "up"]).await?;
            let urls = beyond_script(&["pg", "urls"]).await?;
            let url = |name: &str| {
                urls.lines().find_map(|l| l.strip_prefix(name)).map(ServiceUrl::new).ok_or_else(|| Error::InvalidInput(format!("scripts/beyond.sh pg urls printed no {name}")))
            };
            let dir = crate::local_servers::beyond_dir().join("tls");
            Ok(LocalPair { primary: url("PRIMARY=")?, replica: url("REPLICA=")?, ca_file: dir.join("ca.pem"), other_ca_file: dir.join("other-ca.pem") })
        })
    }

    /// Stops both servers by pid and removes their data; what the script said.
    pub fn stop(&self) -> Result<String> {
        crate::runtime::run(beyond_script(&["pg", "down"]))
    }

    /// [`Replicated::measure_lag`] on the pair, in the schema `module8`.
    pub fn measure_lag(&self, writes: usize, load: Load) -> Result<LagReport> {
        crate::runtime::run(async {
            let r = Replicated::connect(&self.primary, &self.replica, None).await?;
            let report = r.measure_lag(writes, load).await;
            r.close().await;
            report
        })
    }

    /// Connects to the primary with its certificate verified against `ca_file`, and says what
    /// the server reports of the connection: `TLS 1.3, TLS_AES_256_GCM_SHA384`. A refusal is
    /// the error ([`Error::Untrusted`]).
    pub fn tls_with(&self, ca_file: &std::path::Path) -> Result<String> {
        crate::runtime::run(async {
            let db = Db::connect(&self.primary.clone().with_ca_file(ca_file), None).await?;
            let row: (bool, String, String) = sqlx::query_as("SELECT ssl, coalesce(version, ''), coalesce(cipher, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(pg(&db)?)
                .await
                .map_err(|e| db.error(e))?;
            db.close().await;
            Ok(if row.0 { format!("{}, {}", row.1.replace("TLSv", "TLS "), row.2) } else { "not encrypted".into() })
        })
    }
}

/// One statement run as a role, and what the server said.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attempt {
    /// The role the statement ran as.
    pub role: String,
    /// The statement.
    pub statement: String,
    /// `ok, 3 rows` or the server's refusal.
    pub outcome: String,
}
crate::frame_row!(Attempt { role, statement, outcome });

impl LocalPair {
    /// Least privilege, shown: runs `setup` on the primary as its owner (`postgres`), then each
    /// of `tries` as `role` (a login the setup creates; the pair trusts the loopback, so no
    /// password), and reports what each did. A refusal is an outcome here, not an error.
    pub fn as_role(&self, role: &str, setup: &[&str], tries: &[&str]) -> Result<Vec<Attempt>> {
        crate::config::check_schema(role).map_err(|_| Error::InvalidInput(format!("`{role}` is not a plain role name (letters, digits, _)")))?;
        // The pair's URLs log in as `postgres` (scripts/beyond.sh pg urls).
        let as_role = ServiceUrl::new(self.primary.expose().replacen("://postgres@", &format!("://{role}@"), 1));
        crate::runtime::run(async {
            let owner = Db::connect(&self.primary, None).await?;
            let mut attempts = Vec::new();
            for statement in setup {
                let outcome = query::execute(&owner, statement, &[]).await;
                attempts.push(Attempt { role: "postgres".into(), statement: statement.to_string(), outcome: outcome_of(outcome) });
            }
            owner.close().await;
            let db = Db::connect(&as_role, None).await?;
            for statement in tries {
                let outcome = query::execute(&db, statement, &[]).await;
                attempts.push(Attempt { role: role.into(), statement: statement.to_string(), outcome: outcome_of(outcome) });
            }
            db.close().await;
            Ok(attempts)
        })
    }
}

impl LocalPair {
    /// How long `sql` takes on the primary: run once on a connection (which warms it), then
    /// timed on the same connection.
    pub fn time_query(&self, sql: &str) -> Result<Duration> {
        crate::runtime::run(async {
            let db = Db::connect_sized(&self.primary, None, 1).await?;
            query::query_frame(&db, sql, &[]).await?;
            let started = Instant::now();
            query::query_frame(&db, sql, &[]).await?;
            let took = started.elapsed();
            db.close().await;
            Ok(took)
        })
    }

    /// Runs `sql` `concurrent` times at once on the primary through a pool of `pool_size`
    /// connections, asking the pool every 2 ms how many are busy: the busiest moment.
    pub fn peak_pool_use(&self, pool_size: u32, concurrent: usize, sql: &str) -> Result<super::PoolUse> {
        crate::runtime::run(crate::runtime::within("the pool under concurrent queries", Duration::from_secs(60), async {
            let db = Db::connect_sized(&self.primary, None, pool_size).await?;
            let runs = futures_util::future::try_join_all((0..concurrent).map(|_| query::query_frame(&db, sql, &[])));
            tokio::pin!(runs);
            let mut peak = db.pool_use();
            let outcome = loop {
                tokio::select! {
                    done = &mut runs => break done,
                    _ = tokio::time::sleep(Duration::from_millis(2)) => {
                        let now = db.pool_use();
                        if now.in_use > peak.in_use { peak = now; }
                    }
                }
            };
            db.close().await;
            outcome.map(|_| peak)
        }))?
    }
}

fn outcome_of(outcome: Result<u64>) -> String {
    match outcome {
        Ok(rows) => format!("ok, {rows} rows"),
        // The server's own words: "permission denied for table notes".
        Err(e) => {
            let text = e.to_string();
            let words = text.rsplit_once("error returned from database: ").map_or(text.as_str(), |(_, w)| w);
            format!("refused: {}", words.lines().next().unwrap_or_default())
        }
    }
}
