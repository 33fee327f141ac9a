//! The connection pool, measured: how many connections against how many requests at once.
//!
//! A pool keeps connections open and lends one to each query, so a request does not pay for
//! a new connection (a TCP and authentication handshake, and a server process on PostgreSQL).
//! Its size is a trade: with fewer connections than requests in flight, requests queue **in
//! the application**, waiting for a connection; with more than the server can work on at once
//! (about its CPU cores, for queries that compute), they queue **in the server**, and every
//! connection costs the server memory. [`compare`] runs one statement from many concurrent
//! clients through pools of several sizes and separates the two waits.

use serde::Serialize;

use super::{Db, Value, query};
use crate::config::ServiceUrl;
use crate::error::Result;
use crate::frame_row;
use crate::latency::quantile;

/// One pool size under one load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolRun {
    /// Connections the pool may hold.
    pub pool_size: i64,
    /// Clients sending queries at the same time.
    pub clients: i64,
    /// Queries run.
    pub queries: i64,
    /// Queries per second.
    pub per_second: f64,
    /// Median wait for a connection, ms.
    pub wait_p50_ms: f64,
    /// Median time of a query, waiting included, ms.
    pub p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub p99_ms: f64,
}
frame_row!(PoolRun { pool_size, clients, queries, per_second, wait_p50_ms, p50_ms, p99_ms });

/// Runs `sql` `queries` times from `clients` concurrent clients through a pool of each size in
/// `sizes` (a fresh pool each, its connections opened before the clock starts), on the database
/// at `url` (`schema` on PostgreSQL, as [`Db::connect`]).
pub async fn compare(url: &ServiceUrl, schema: Option<&str>, sql: &str, params: &[Value], sizes: &[u32], clients: usize, queries: usize) -> Result<Vec<PoolRun>> {
    let mut rows = Vec::new();
    for &size in sizes {
        let db = Db::connect_sized(url, schema, size).await?;
        // Open every connection first, so the runs compare waiting, not connecting.
        query::run_concurrently(&db, sql, params, size as usize, size as usize).await?;
        let measured = query::run_concurrently(&db, sql, params, clients, queries).await;
        db.close().await;
        let (mut waits, mut totals, seconds) = measured?;
        waits.sort_by(f64::total_cmp);
        totals.sort_by(f64::total_cmp);
        rows.push(PoolRun {
            pool_size: size as i64,
            clients: clients as i64,
            queries: queries as i64,
            per_second: queries as f64 / seconds,
            wait_p50_ms: quantile(&waits, 0.5) / 1e3,
            p50_ms: quantile(&totals, 0.5) / 1e3,
            p99_ms: quantile(&totals, 0.99) / 1e3,
        });
    }
    Ok(rows)
}
