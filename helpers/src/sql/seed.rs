//! Filling the tables from a synthetic [`World`]: everything replaced in one transaction,
//! rows sent in multi-row `INSERT`s of at most [`CHUNK_ROWS`] rows.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::QueryBuilder;

use super::{Db, Pool};
use crate::config::{ALLOW_RESET_VAR, OWNER_MARKER, is_module_name, reset_allowed};
use crate::data::World;
use crate::error::{Error, Result};

/// Rows per `INSERT` statement: 1,000 rows × 11 columns stays well under SQLite's 32,766
/// and PostgreSQL's 65,535 bound parameters.
pub const CHUNK_ROWS: usize = 1_000;

/// A progress bar appears (on a terminal only) when a seed inserts more rows than this.
const PROGRESS_ABOVE_ROWS: u64 = 50_000;

/// What [`seed`] did: rows per table, statements sent, and how long it took.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// `SQLite` or `PostgreSQL`.
    pub backend: &'static str,
    /// `(table, rows)` in insertion order.
    pub tables: Vec<(&'static str, u64)>,
    /// Statements sent (deletes, chunked inserts, sequence fixes).
    pub statements: u64,
    /// Wall time of the whole transaction, in milliseconds.
    pub millis: f64,
}

impl SeedReport {
    /// One row per table: `table`, `rows`.
    pub fn frame(&self) -> Result<polars::prelude::DataFrame> {
        use polars::prelude::{Column, DataFrame};
        Ok(DataFrame::new_infer_height(vec![
            Column::new("table".into(), self.tables.iter().map(|t| t.0).collect::<Vec<_>>()),
            Column::new("rows".into(), self.tables.iter().map(|t| t.1).collect::<Vec<_>>()),
        ])?)
    }

    /// Total rows inserted.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

/// Inserts `rows` in chunks through `$tx`; `$push` binds one row's values.
macro_rules! insert_chunks {
    ($tx:expr, $bar:expr, $stmts:expr, $head:literal, $rows:expr, |$b:ident, $r:ident| $push:block) => {{
        for chunk in $rows.chunks(CHUNK_ROWS) {
            let mut qb = QueryBuilder::new($head);
            qb.push_values(chunk, |mut $b, $r| $push);
            qb.build().execute(&mut *$tx).await?;
            $stmts += 1;
            $bar.inc(chunk.len() as u64);
        }
    }};
}

/// The same inserts on either backend's transaction.
macro_rules! seed_in {
    ($pool:expr, $world:expr, $bar:expr, $clear:expr, $after:expr) => {
        async {
            let w: &World = $world;
            let mut stmts = 0u64;
            let mut tx = $pool.begin().await?;
            for statement in $clear {
                sqlx::query(*statement).execute(&mut *tx).await?;
                stmts += 1;
            }
            insert_chunks!(tx, $bar, stmts, "INSERT INTO countries (id, code, name, continent, population, gdp_per_capita) ", w.countries, |b, c| {
                b.push_bind(c.id).push_bind(&c.code).push_bind(&c.name).push_bind(&c.continent).push_bind(c.population).push_bind(c.gdp_per_capita);
            });
            insert_chunks!(tx, $bar, stmts, "INSERT INTO cities (id, country_id, name, region, lat, lon) ", w.cities, |b, c| {
                b.push_bind(c.id).push_bind(c.country_id).push_bind(&c.name).push_bind(&c.region).push_bind(c.lat).push_bind(c.lon);
            });
            insert_chunks!(tx, $bar, stmts, "INSERT INTO addresses (id, city_id, street, postal_code, lat, lon) ", w.addresses, |b, a| {
                b.push_bind(a.id).push_bind(a.city_id).push_bind(&a.street).push_bind(&a.postal_code).push_bind(a.lat).push_bind(a.lon);
            });
            insert_chunks!(
                tx,
                $bar,
                stmts,
                "INSERT INTO users (id, username, email, first_name, last_name, address_id, registered_at, profile_score, verified, last_active_at, login_count) ",
                w.users,
                |b, u| {
                    b.push_bind(u.id)
                        .push_bind(&u.username)
                        .push_bind(&u.email)
                        .push_bind(&u.first_name)
                        .push_bind(&u.last_name)
                        .push_bind(u.address_id)
                        .push_bind(u.registered_at)
                        .push_bind(u.profile_score)
                        .push_bind(u.verified)
                        .push_bind(u.last_active_at)
                        .push_bind(u.login_count);
                }
            );
            insert_chunks!(tx, $bar, stmts, "INSERT INTO products (id, name, category, price) ", w.products, |b, p| {
                b.push_bind(p.id).push_bind(&p.name).push_bind(&p.category).push_bind(p.price);
            });
            insert_chunks!(
                tx,
                $bar,
                stmts,
                "INSERT INTO orders (id, user_id, product_id, quantity, unit_price, total, ordered_at, status) ",
                w.orders,
                |b, o| {
                    b.push_bind(o.id)
                        .push_bind(o.user_id)
                        .push_bind(o.product_id)
                        .push_bind(o.quantity)
                        .push_bind(o.unit_price)
                        .push_bind(o.total)
                        .push_bind(o.ordered_at)
                        .push_bind(&o.status);
                }
            );
            for statement in $after {
                sqlx::query(*statement).execute(&mut *tx).await?;
                stmts += 1;
            }
            tx.commit().await.map_err(SeedError::Commit)?;
            Ok::<u64, SeedError>(stmts)
        }
    };
}

/// Why a seed's transaction failed: at a statement (nothing kept), or at its `COMMIT` (whose
/// answer may have been lost after the server committed).
enum SeedError {
    Statement(sqlx::Error),
    Commit(sqlx::Error),
}

impl From<sqlx::Error> for SeedError {
    fn from(e: sqlx::Error) -> SeedError {
        SeedError::Statement(e)
    }
}

/// The tables a seed replaces, in insertion order.
const TABLES: [&str; 6] = ["countries", "cities", "addresses", "users", "products", "orders"];

const SQLITE_CLEAR: &[&str] =
    &["DELETE FROM orders", "DELETE FROM users", "DELETE FROM addresses", "DELETE FROM cities", "DELETE FROM countries", "DELETE FROM products"];
const POSTGRES_CLEAR: &[&str] = &["TRUNCATE orders, users, addresses, cities, countries, products RESTART IDENTITY"];
// Ids were given explicitly: move the identity sequences past them, so that new rows get
// fresh ids.
const POSTGRES_AFTER: &[&str] = &[
    MARK_CREATE,
    MARK_CLEAR,
    MARK_INSERT,
    "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM users), false)",
    "SELECT setval(pg_get_serial_sequence('products', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM products), false)",
    "SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM orders), false)",
    // Only our tables: a bare ANALYZE would lock every table of the database, other schemas too.
    "ANALYZE countries, cities, addresses, users, products, orders",
];
const SQLITE_AFTER: &[&str] = &[MARK_CREATE, MARK_CLEAR, MARK_INSERT, "ANALYZE"];
// The owner marker (config::OWNER_MARKER), written in the same transaction as the rows.
const MARK_CREATE: &str = "CREATE TABLE IF NOT EXISTS module8_seeded (seeded_at TEXT NOT NULL)";
const MARK_CLEAR: &str = "DELETE FROM module8_seeded";
const MARK_INSERT: &str = "INSERT INTO module8_seeded (seeded_at) VALUES (CURRENT_TIMESTAMP)";
const ROWS: &str = "SELECT (SELECT COUNT(*) FROM countries) + (SELECT COUNT(*) FROM cities) + (SELECT COUNT(*) FROM addresses) \
     + (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM products) + (SELECT COUNT(*) FROM orders)";

/// Every text field the seed writes, checked before anything is sent: a NUL (`\0`), which
/// PostgreSQL refuses naming nothing (`invalid byte sequence for encoding "UTF8": 0x00`) and
/// SQLite would keep, is [`Error::Invalid`] naming the table, the row and the field — the
/// same on both backends, and nothing is changed.
fn storable(w: &World) -> Result<()> {
    fn check(table: &str, index: usize, id: i64, fields: &[(&str, &str)]) -> Result<()> {
        for (field, value) in fields {
            crate::validate::storable_text(&format!("{table} row {} (id {id}), field `{field}`,", index + 1), value)?;
        }
        Ok(())
    }
    for (i, c) in w.countries.iter().enumerate() {
        check("countries", i, c.id, &[("code", &c.code), ("name", &c.name), ("continent", &c.continent)])?;
    }
    for (i, c) in w.cities.iter().enumerate() {
        check("cities", i, c.id, &[("name", &c.name), ("region", &c.region)])?;
    }
    for (i, a) in w.addresses.iter().enumerate() {
        check("addresses", i, a.id, &[("street", &a.street), ("postal_code", &a.postal_code)])?;
    }
    for (i, u) in w.users.iter().enumerate() {
        check("users", i, u.id, &[("username", &u.username), ("email", &u.email), ("first_name", &u.first_name), ("last_name", &u.last_name)])?;
    }
    for (i, p) in w.products.iter().enumerate() {
        check("products", i, p.id, &[("name", &p.name), ("category", &p.category)])?;
    }
    for (i, o) in w.orders.iter().enumerate() {
        check("orders", i, o.id, &[("status", &o.status)])?;
    }
    Ok(())
}

/// Seeding replaces every row of the six tables, so it refuses where that could destroy data
/// this module did not write: it goes ahead in the module's own place (the PostgreSQL schema
/// `module8` or `module8_…`, a SQLite file named `module8….db` or in memory), where the tables
/// are empty, where a seed wrote its marker table before, or with `M8_ALLOW_RESET=1`.
async fn check_may_replace(db: &Db) -> Result<()> {
    if reset_allowed() {
        return Ok(());
    }
    let found = async {
        Ok::<_, sqlx::Error>(match &db.pool {
            Pool::Postgres(p) => {
                let (schema, marked): (String, bool) =
                    sqlx::query_as("SELECT current_schema(), to_regclass('module8_seeded') IS NOT NULL").fetch_one(p).await?;
                let rows: i64 = sqlx::query_scalar(ROWS).fetch_one(p).await?;
                (format!("PostgreSQL schema `{schema}`"), is_module_name(&schema), marked, rows, "the module's own schema (DATABASE_SCHEMA=module8, the default)")
            }
            Pool::Sqlite(p) => {
                let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'").fetch_one(p).await?;
                let marked: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'module8_seeded')")
                        .fetch_one(p)
                        .await?;
                let rows: i64 = sqlx::query_scalar(ROWS).fetch_one(p).await?;
                let own = file.is_empty()
                    || std::path::Path::new(&file).file_stem().and_then(|s| s.to_str()).is_some_and(is_module_name);
                (format!("SQLite file `{file}`"), own, marked, rows, "a file of the module's own (the default, out/module8.db)")
            }
        })
    }
    .await
    .map_err(|e| db.error(e))?;
    db.count_statements(3);
    let (place, own, marked, rows, own_place) = found;
    if own || marked || rows == 0 {
        return Ok(());
    }
    Err(Error::WouldDestroy {
        action: "seed",
        place,
        reason: format!(
            "its tables {} hold {rows} row{} that this module did not write (there is no `{OWNER_MARKER}` table), and a seed replaces every row",
            TABLES.join(", "),
            if rows == 1 { "" } else { "s" }
        ),
        how: format!("Seed {own_place}, or set {ALLOW_RESET_VAR}=1 to replace those rows"),
    })
}

/// Replaces every table's rows with `world`'s, in one transaction: on any error nothing
/// changes. Works at any size (100k users take seconds); a progress bar shows on a
/// terminal when the world is large.
///
/// It refuses, with [`Error::WouldDestroy`] and nothing changed, to replace rows this module
/// did not write: outside the module's own schema or file, tables that hold rows and no marker
/// of an earlier seed are left alone unless `M8_ALLOW_RESET=1` (or [`seed_replacing`]).
///
/// ```no_run
/// use helpers::prelude::*;
/// let settings = Settings::from_env()?;
/// let world = World::generate(&WorldConfig::small());
/// let report = run(sql::with_db(&settings, async |db| sql::seed(db, &world).await))?;
/// println!("{} rows in {:.0} ms", report.rows(), report.millis);
/// # Ok::<(), helpers::Error>(())
/// ```
pub async fn seed(db: &Db, world: &World) -> Result<SeedReport> {
    check_may_replace(db).await?;
    seed_replacing(db, world).await
}

/// [`seed`] without the check: replaces whatever rows the six tables hold, whoever wrote them.
pub async fn seed_replacing(db: &Db, world: &World) -> Result<SeedReport> {
    storable(world)?;
    let sizes = [world.countries.len(), world.cities.len(), world.addresses.len(), world.users.len(), world.products.len(), world.orders.len()];
    let tables: Vec<(&'static str, u64)> = TABLES.iter().zip(sizes).map(|(t, n)| (*t, n as u64)).collect();
    let total: u64 = tables.iter().map(|t| t.1).sum();
    let bar = if total > PROGRESS_ABOVE_ROWS { ProgressBar::new(total) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("seeding {bar:40} {pos}/{len} rows ({per_sec}, {eta} left)").expect("the template is valid"),
    );
    let started = Instant::now();
    let outcome = match &db.pool {
        Pool::Sqlite(p) => seed_in!(p, world, bar, SQLITE_CLEAR, SQLITE_AFTER).await,
        Pool::Postgres(p) => seed_in!(p, world, bar, POSTGRES_CLEAR, POSTGRES_AFTER).await,
    };
    bar.finish_and_clear();
    let statements = outcome.map_err(|e| match e {
        SeedError::Statement(e) => db.error(e),
        SeedError::Commit(e) => db.commit_error(
            e,
            format!("a seed of {total} rows"),
            "Count the rows of the six tables (`SELECT COUNT(*) FROM users`, …; a seed replaces all of them or none) and seed again if they are not the world's.",
        ),
    })?;
    db.count_statements(statements);
    Ok(SeedReport { backend: db.backend().name(), tables, statements, millis: started.elapsed().as_secs_f64() * 1e3 })
}
