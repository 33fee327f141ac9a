//! The N+1 lesson: loading users with address → city → country three ways, with the
//! statements that reach the database counted and the time measured.
//!
//! - [`Strategy::Lazy`]: what an ORM does when each relation is loaded on first access —
//!   one query for the users, then one per user for the address, one for its city and one
//!   for its country: `1 + 3N` statements (no identity map, so a city shared by many users
//!   is fetched again each time).
//! - [`Strategy::Join`]: one statement joining the four tables (SQLAlchemy's `joinedload`).
//! - [`Strategy::Batched`]: one statement per level, each `WHERE id IN (…)` the ids the
//!   previous level found: 4 statements whatever `N` is (SQLAlchemy's `selectinload`).

use std::collections::HashMap;
use std::time::Instant;

use sqlx::QueryBuilder;

use super::{Db, on_pool};
use crate::error::{Error, Result};
use crate::frame_row;

/// A user with where they live, flattened. The location fields are empty for a user
/// without an address.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct UserWithAddress {
    /// User id.
    pub user_id: i64,
    /// Login name.
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Street and number.
    pub street: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// City name.
    pub city: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// ISO country code.
    pub country_code: Option<String>,
}
frame_row!(UserWithAddress { user_id, username, email, street, postal_code, city, country, country_code });

/// How the relations are loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// One query per relation per user: `1 + 3N` statements.
    Lazy,
    /// One JOIN: 1 statement.
    Join,
    /// One `IN (…)` query per level: 4 statements.
    Batched,
}

impl Strategy {
    /// All three, in the order the lesson shows them.
    pub const ALL: [Strategy; 3] = [Strategy::Lazy, Strategy::Join, Strategy::Batched];

    /// `lazy (1 + 3N)`, `eager JOIN (1)`, `eager IN batches (4)`.
    pub fn label(self) -> &'static str {
        match self {
            Strategy::Lazy => "lazy (1 + 3N)",
            Strategy::Join => "eager JOIN (1)",
            Strategy::Batched => "eager IN batches (4)",
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserHead {
    id: i64,
    username: String,
    email: String,
    address_id: Option<i64>,
}

#[derive(Clone, sqlx::FromRow)]
struct AddressRow {
    id: i64,
    city_id: i64,
    street: String,
    postal_code: String,
}

#[derive(Clone, sqlx::FromRow)]
struct CityRow {
    id: i64,
    country_id: i64,
    name: String,
}

#[derive(Clone, sqlx::FromRow)]
struct CountryRow {
    id: i64,
    code: String,
    name: String,
}

const USERS: &str = "SELECT id, username, email, address_id FROM users ORDER BY id LIMIT $1";

/// The first `n` users by id with their address, city and country, loaded by `strategy`.
/// All three strategies return the same rows.
pub async fn load(db: &Db, n: usize, strategy: Strategy) -> Result<Vec<UserWithAddress>> {
    match strategy {
        Strategy::Join => load_join(db, n).await,
        Strategy::Lazy => load_lazy(db, n).await,
        Strategy::Batched => load_batched(db, n).await,
    }
}

/// Users joined with address, city and country, as a literal; callers add `WHERE` /
/// `ORDER BY` with `concat!`, so the SQL stays a compile-time string.
macro_rules! users_with_address {
    () => {
        r#"
        SELECT u.id AS user_id, u.username, u.email,
               a.street, a.postal_code, ci.name AS city, co.name AS country, co.code AS country_code
        FROM users u
        LEFT JOIN addresses a ON a.id = u.address_id
        LEFT JOIN cities ci ON ci.id = a.city_id
        LEFT JOIN countries co ON co.id = ci.country_id"#
    };
}
pub(super) use users_with_address;

async fn load_join(db: &Db, n: usize) -> Result<Vec<UserWithAddress>> {
    const SQL: &str = concat!(users_with_address!(), " ORDER BY u.id LIMIT $1");
    on_pool!(db, |p| sqlx::query_as(SQL).bind(n as i64).fetch_all(p).await)
}

async fn load_lazy(db: &Db, n: usize) -> Result<Vec<UserWithAddress>> {
    let users: Vec<UserHead> = on_pool!(db, |p| sqlx::query_as(USERS).bind(n as i64).fetch_all(p).await)?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let (mut address, mut city, mut country) = (None, None, None);
        if let Some(address_id) = u.address_id {
            address = on_pool!(db, |p| sqlx::query_as::<_, AddressRow>("SELECT id, city_id, street, postal_code FROM addresses WHERE id = $1")
                .bind(address_id)
                .fetch_optional(p)
                .await)?;
        }
        if let Some(a) = &address {
            city = on_pool!(db, |p| sqlx::query_as::<_, CityRow>("SELECT id, country_id, name FROM cities WHERE id = $1")
                .bind(a.city_id)
                .fetch_optional(p)
                .await)?;
        }
        if let Some(c) = &city {
            country = on_pool!(db, |p| sqlx::query_as::<_, CountryRow>("SELECT id, code, name FROM countries WHERE id = $1")
                .bind(c.country_id)
                .fetch_optional(p)
                .await)?;
        }
        out.push(assemble(u, address.as_ref(), city.as_ref(), country.as_ref()));
    }
    Ok(out)
}

async fn load_batched(db: &Db, n: usize) -> Result<Vec<UserWithAddress>> {
    let users: Vec<UserHead> = on_pool!(db, |p| sqlx::query_as(USERS).bind(n as i64).fetch_all(p).await)?;
    let address_ids: Vec<i64> = distinct(users.iter().filter_map(|u| u.address_id));
    let addresses: Vec<AddressRow> = by_ids(db, "SELECT id, city_id, street, postal_code FROM addresses WHERE id IN ", &address_ids).await?;
    let city_ids = distinct(addresses.iter().map(|a| a.city_id));
    let cities: Vec<CityRow> = by_ids(db, "SELECT id, country_id, name FROM cities WHERE id IN ", &city_ids).await?;
    let country_ids = distinct(cities.iter().map(|c| c.country_id));
    let countries: Vec<CountryRow> = by_ids(db, "SELECT id, code, name FROM countries WHERE id IN ", &country_ids).await?;

    let addresses: HashMap<i64, AddressRow> = addresses.into_iter().map(|a| (a.id, a)).collect();
    let cities: HashMap<i64, CityRow> = cities.into_iter().map(|c| (c.id, c)).collect();
    let countries: HashMap<i64, CountryRow> = countries.into_iter().map(|c| (c.id, c)).collect();
    Ok(users
        .into_iter()
        .map(|u| {
            let a = u.address_id.and_then(|id| addresses.get(&id));
            let ci = a.and_then(|a| cities.get(&a.city_id));
            let co = ci.and_then(|c| countries.get(&c.country_id));
            assemble(u, a, ci, co)
        })
        .collect())
}

/// `head` + `(id, id, …)`, one statement; nothing is sent for no ids.
async fn by_ids<T>(db: &Db, head: &'static str, ids: &[i64]) -> Result<Vec<T>>
where
    T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx_sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx_postgres::PgRow>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    on_pool!(db, |p| {
        let mut qb = QueryBuilder::new(head);
        qb.push("(");
        let mut list = qb.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        qb.push(")");
        qb.build_query_as::<T>().fetch_all(p).await
    })
}

fn distinct(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut v: Vec<i64> = ids.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn assemble(u: UserHead, a: Option<&AddressRow>, ci: Option<&CityRow>, co: Option<&CountryRow>) -> UserWithAddress {
    UserWithAddress {
        user_id: u.id,
        username: u.username,
        email: u.email,
        street: a.map(|a| a.street.clone()),
        postal_code: a.map(|a| a.postal_code.clone()),
        city: ci.map(|c| c.name.clone()),
        country: co.map(|c| c.name.clone()),
        country_code: co.map(|c| c.code.clone()),
    }
}

/// One measured load: which backend and strategy, how many users, the statements that
/// reached the database, and the median time of the repeats.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadingRun {
    /// `SQLite` or `PostgreSQL`.
    pub backend: String,
    /// [`Strategy::label`].
    pub strategy: String,
    /// Users loaded.
    pub users: i64,
    /// Statements sent for one load.
    pub statements: i64,
    /// Median wall time of one load, in milliseconds.
    pub millis: f64,
}
frame_row!(LoadingRun { backend, strategy, users, statements, millis });

/// Loads `n` users for every `n` in `sizes` with every strategy, `repeats` times each
/// (at least once), and reports statements and median time. Fails if the strategies do not
/// return the same rows — the comparison is only fair if they do.
///
/// ```no_run
/// use helpers::prelude::*;
/// let settings = Settings::from_env()?;
/// let runs = run(sql::with_db(&settings, async |db| sql::loading::compare(db, &[10, 100, 1000], 3).await))?;
/// runs.to_frame()?;
/// # Ok::<(), helpers::Error>(())
/// ```
pub async fn compare(db: &Db, sizes: &[usize], repeats: usize) -> Result<Vec<LoadingRun>> {
    let mut runs = Vec::new();
    for &n in sizes {
        let reference = load(db, n, Strategy::Join).await?;
        for strategy in Strategy::ALL {
            let mut times = Vec::new();
            let mut statements = 0;
            for _ in 0..repeats.max(1) {
                let before = db.statements();
                let started = Instant::now();
                let rows = load(db, n, strategy).await?;
                times.push(started.elapsed().as_secs_f64() * 1e3);
                statements = db.statements() - before;
                if rows != reference {
                    return Err(Error::Lesson {
                        lesson: "the N+1 lesson",
                        reason: format!("{} returned different rows from the JOIN for {n} users; the comparison would not be fair", strategy.label()),
                    });
                }
            }
            times.sort_by(f64::total_cmp);
            runs.push(LoadingRun {
                backend: db.backend().name().to_string(),
                strategy: strategy.label().to_string(),
                users: reference.len() as i64,
                statements: statements as i64,
                millis: times[times.len() / 2],
            });
        }
    }
    Ok(runs)
}
