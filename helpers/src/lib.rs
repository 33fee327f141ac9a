//! Helpers for the Module 8 notebooks: databases and async processing, from Rust.
//!
//! Every notebook loads this crate with one `:dep` line and calls plain functions: settings
//! in, plain data out (DataFrames, Vecs, small structs, figures). Connections, pools and
//! runtimes live inside one call, because evcxr does not keep them alive between cells, and a
//! call into compiled code is what keeps a cell fast (see `docs/evcxr.md`). Each module has
//! an async core (for tests, the bench and production code) and a sync, non-generic surface
//! for notebook cells: [`sql::SyncDb`], [`mongo::SyncMongo`], [`cache::SyncRedis`],
//! [`queue::SyncBroker`].
//!
//! # Map of the crate
//!
//! | where | what |
//! |---|---|
//! | [`config`] | service URLs from the environment and `.env`, with defaults; [`ServiceUrl`] masks secrets whenever it is shown |
//! | [`error`] | the crate's one error enum, [`Error`], and the [`Result`] alias |
//! | [`runtime`] | [`run`]: drive a future to completion on a runtime of its own — what every sync notebook entry point does inside |
//! | [`data`] | the seeded synthetic world: countries, cities, addresses, users, products, orders, events, and the planted truth behind them |
//! | [`display`] | DataFrames as HTML tables, figures as inline SVG + PNG written to `out/figures` |
//! | [`exercise`] | the notebooks' exercises: a learner's answer checked against the helpers' own — right, or what differs, never the answer |
//! | [`latency`] | p50 / p95 / p99 / mean / max of measured samples, as table rows |
//! | [`validate`] | the shared input rules: e-mail address, login name |
//! | [`source`] | `source!(sql::users::by_country)`: an item of this crate's own source, shown highlighted in a lesson |
//! | [`trace`] | what the helpers do, as it happens: SQL statements, MongoDB calls, Redis commands, messages and consumer decisions as `tracing` events, shown when `RUST_LOG` asks |
//! | [`link`] | [`link::CuttableLink`]: a TCP link to any server that can be cut, restored or interrupted, for lessons and tests about faults |
//! | [`check`] | the service check: reachable, server version, round-trip latency, masked URL, how to start it |
//! | [`analytics`] | module 5 (feature `analytics`): features with Polars, churn (logistic regression by Newton–Cholesky) and LTV (linfa-linear) scored against baselines and the planted truth, segments, recommendations with hit rate, insights, the model manager and integrated flow |
//! | [`cache`] | module 3 (feature `cache`): memoisation, moka TTL cache, Redis cache-aside / write-through / SCAN invalidation, tiered cache, degradation, latency percentiles |
//! | [`mongo`] | module 2 (feature `mongo`): `$jsonSchema` validators, unique / compound / 2dsphere / TTL indexes, time-series detection, bulk writes with per-document reports, aggregation pipelines with their SQL, geo queries, cohorts, `explain`, export to Polars and CSV |
//! | [`queue`] | module 4 (feature `queue`): RabbitMQ topology (direct, topic, fanout, dead-letter, priority, delay queues), confirmed publishing, consumers with retry / backoff / DLQ, DLQ inspect and replay, throughput and latency, the signup pipeline (with `mongo`) |
//! | [`architecture`] | the original's architecture end to end (all four services): a registration through the API (PostgreSQL, Redis, RabbitMQ), the consumers behind it (MongoDB profile, e-mail, analytics fan-out with a live Redis dashboard, first recommendations), accepted vs done |
//! | [`security`] | the security checklist working: passwords as Argon2id hashes, a fixed-window rate limiter on Redis in front of the login, security events through `tracing` (`helpers::security`), never a password in them |
//! | [`stores`] | which store for which job: the original's matrix with this run's write, read and batch figures and each server's own word on durability |
//! | [`sql`] | module 1 (feature `sql`): schema migrations, seeding, repositories, analytics, the N+1 lesson, transactions — SQLite or PostgreSQL |
//!
//! Module code lives behind one Cargo feature each — `sql` (sqlx: SQLite / PostgreSQL),
//! `mongo` (mongodb), `cache` (Redis), `queue` (RabbitMQ via lapin), `analytics` (linfa) —
//! all on by default. The notebooks load them all, so every notebook shares one compiled
//! build; a project of your own can take only what it uses.
//!
//! # In a notebook
//!
//! ```text
//! :dep helpers = { path = "../helpers-dylib", package = "helpers-dylib" }
//! use helpers::prelude::*;
//! let db = sql::SyncDb::new(&Settings::from_env()?);
//! db.query("SELECT name, continent FROM countries WHERE continent = $1", &["Europe".into()])?.show(10)
//! ```
#![warn(missing_docs)]

#[cfg(feature = "analytics")]
pub mod analytics;
#[cfg(all(feature = "sql", feature = "mongo", feature = "cache", feature = "queue"))]
pub mod architecture;
#[cfg(feature = "cache")]
pub mod cache;
pub mod check;
pub mod config;
pub mod data;
pub mod display;
pub mod error;
pub mod exercise;
pub mod health;
pub mod latency;
pub mod link;
pub mod local_servers;
#[cfg(feature = "mongo")]
pub mod mongo;
pub mod runtime;
#[cfg(all(feature = "sql", feature = "cache"))]
pub mod security;
pub mod source;
#[cfg(all(feature = "sql", feature = "mongo", feature = "cache", feature = "queue"))]
pub mod stores;
pub mod trace;
pub mod validate;
#[cfg(feature = "queue")]
pub mod queue;
#[cfg(feature = "sql")]
pub mod sql;

pub use config::{ServiceUrl, Settings, mask_url};
#[doc(no_inline)]
pub use polars;
#[doc(no_inline)]
pub use chrono;
#[doc(no_inline)]
pub use serde_json;
pub use error::{Error, Result};
pub use runtime::run;

/// What a notebook cell needs in scope: `use helpers::prelude::*;`.
///
/// Kept small on purpose: every glob import here is resolved again by every cell evcxr
/// compiles. Polars is re-exported as a path (`pl::…`) rather than glob-imported.
pub mod prelude {
    pub use crate::check::{ServiceStatus, check_services};
    pub use crate::config::{ServiceUrl, Settings, mask_url};
    pub use crate::data::{World, WorldConfig};
    pub use crate::display::{Figure, NotebookDisplay, Table, TableExt, ToFrame, charts, column_f64, column_strings, faster_or_slower, higher_or_lower, ratio_words, two_columns};
    pub use crate::error::{Error, Result};
    pub use crate::exercise::Verdict;
    pub use crate::health;
    pub use crate::runtime::run;
    #[cfg(feature = "sql")]
    pub use crate::sql;
    #[cfg(feature = "cache")]
    pub use crate::cache;
    #[cfg(feature = "mongo")]
    pub use crate::mongo;
    #[cfg(feature = "queue")]
    pub use crate::queue;
    #[cfg(feature = "analytics")]
    pub use crate::analytics;
    #[cfg(all(feature = "sql", feature = "mongo", feature = "cache", feature = "queue"))]
    pub use crate::architecture;
    pub use polars::prelude as pl;
    pub use polars::prelude::{DataFrame, IntoLazy, col, lit};
}
