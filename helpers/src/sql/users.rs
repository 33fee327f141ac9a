//! The user repository: one small async fn per query, SQL in a raw string, typed rows out.

use chrono::NaiveDateTime;

use super::{Db, on_pool};
use crate::error::{Error, Result};
use crate::frame_row;

/// A user as stored (no address).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct UserRow {
    /// Primary key.
    pub id: i64,
    /// Unique login name.
    pub username: String,
    /// Unique e-mail address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// When the account was created.
    pub registered_at: NaiveDateTime,
    /// Profile completeness and quality, 0–100.
    pub profile_score: f64,
    /// Whether the e-mail address was verified.
    pub verified: bool,
    /// Last time the user did anything.
    pub last_active_at: NaiveDateTime,
    /// Number of logins so far.
    pub login_count: i64,
}
frame_row!(UserRow { id, username, email, first_name, last_name, registered_at, profile_score, verified, last_active_at, login_count });

/// The columns of a [`UserRow`], in its order, for every statement that reads whole users:
/// `concat!("SELECT ", user_columns!(), " FROM users u …")`.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.email, u.first_name, u.last_name, u.registered_at, u.profile_score, u.verified, u.last_active_at, u.login_count"
    };
}

/// Users whose address is in `country` (its name, e.g. `Germany`, or its code, `DE`),
/// ordered by id. An unknown country gives an empty list.
pub async fn by_country(db: &Db, country: &str) -> Result<Vec<UserRow>> {
    const SQL: &str = concat!("SELECT ", user_columns!(), r#"
        FROM users u
        JOIN addresses a ON a.id = u.address_id
        JOIN cities ci ON ci.id = a.city_id
        JOIN countries co ON co.id = ci.country_id
        WHERE co.name = $1 OR co.code = $1
        ORDER BY u.id"#);
    if !storable(country) {
        return Ok(Vec::new());
    }
    on_pool!(db, |p| sqlx::query_as(SQL).bind(country).fetch_all(p).await)
}

/// Users whose address is in the city called `city`, ordered by id.
pub async fn by_city(db: &Db, city: &str) -> Result<Vec<UserRow>> {
    const SQL: &str = concat!("SELECT ", user_columns!(), r#"
        FROM users u
        JOIN addresses a ON a.id = u.address_id
        JOIN cities ci ON ci.id = a.city_id
        WHERE ci.name = $1
        ORDER BY u.id"#);
    if !storable(city) {
        return Ok(Vec::new());
    }
    on_pool!(db, |p| sqlx::query_as(SQL).bind(city).fetch_all(p).await)
}

/// One user by e-mail address, if there is one.
pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserRow>> {
    const SQL: &str = concat!("SELECT ", user_columns!(), r#"
        FROM users u WHERE u.email = $1"#);
    if !storable(email) {
        return Ok(None);
    }
    on_pool!(db, |p| sqlx::query_as(SQL).bind(email).fetch_optional(p).await)
}

/// The statement of [`by_id`] (the bench runs it through pgbench as well).
pub const BY_ID_SQL: &str = concat!("SELECT ", user_columns!(), r#"
        FROM users u WHERE u.id = $1"#);

/// One user by id, if there is one.
pub async fn by_id(db: &Db, id: i64) -> Result<Option<UserRow>> {
    on_pool!(db, |p| sqlx::query_as(BY_ID_SQL).bind(id).fetch_optional(p).await)
}

/// Users with their address, city and country loaded eagerly: one JOIN, one statement.
/// The first `limit` users by id. (The N+1 lesson in [`super::loading`] compares this with
/// lazy loading.)
pub async fn with_addresses(db: &Db, limit: usize) -> Result<Vec<super::loading::UserWithAddress>> {
    super::loading::load(db, limit, super::loading::Strategy::Join).await
}

/// One user with address, city and country, in one JOIN.
pub async fn with_address(db: &Db, id: i64) -> Result<Option<super::loading::UserWithAddress>> {
    const SQL: &str = concat!(super::loading::users_with_address!(), " WHERE u.id = $1");
    on_pool!(db, |p| sqlx::query_as(SQL).bind(id).fetch_optional(p).await)
}

/// A user's order, as the analytics features read it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct OrderRow {
    /// Who.
    pub user_id: i64,
    /// What.
    pub product_id: i64,
    /// Amount paid.
    pub total: f64,
    /// When.
    pub ordered_at: NaiveDateTime,
    /// `completed`, `refunded` or `pending`.
    pub status: String,
}
frame_row!(OrderRow { user_id, product_id, total, ordered_at, status });

/// Every order of one user, oldest first.
pub async fn orders_of(db: &Db, user_id: i64) -> Result<Vec<OrderRow>> {
    const SQL: &str = r#"
        SELECT user_id, product_id, total, ordered_at, status
        FROM orders WHERE user_id = $1 ORDER BY ordered_at, id"#;
    on_pool!(db, |p| sqlx::query_as(SQL).bind(user_id).fetch_all(p).await)
}

/// Every order, oldest first (the analytics features read them all).
pub async fn all_orders(db: &Db) -> Result<Vec<OrderRow>> {
    const SQL: &str = r#"SELECT user_id, product_id, total, ordered_at, status FROM orders ORDER BY ordered_at, id"#;
    on_pool!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)
}

/// Every user, for the analytics features: id, sign-up time, verified.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct Registration {
    /// User id.
    pub id: i64,
    /// Sign-up time.
    pub registered_at: NaiveDateTime,
    /// E-mail verified.
    pub verified: bool,
}
frame_row!(Registration { id, registered_at, verified });

/// Every user's registration, by id.
pub async fn registrations(db: &Db) -> Result<Vec<Registration>> {
    on_pool!(db, |p| sqlx::query_as("SELECT id, registered_at, verified FROM users ORDER BY id").fetch_all(p).await)
}

/// How many users there are.
pub async fn count(db: &Db) -> Result<i64> {
    on_pool!(db, |p| sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(p).await)
}

/// Aggregates over all users (the original's `get_user_statistics`).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct UserStats {
    /// Number of users.
    pub users: i64,
    /// How many have verified their e-mail address.
    pub verified: i64,
    /// Mean profile score (none without users).
    pub avg_profile_score: Option<f64>,
    /// Highest profile score.
    pub max_profile_score: Option<f64>,
    /// Mean number of logins.
    pub avg_logins: Option<f64>,
    /// Most logins of any user.
    pub max_logins: Option<i64>,
    /// The earliest registration.
    pub first_registered: Option<NaiveDateTime>,
    /// The latest registration.
    pub last_registered: Option<NaiveDateTime>,
}
frame_row!(UserStats { users, verified, avg_profile_score, max_profile_score, avg_logins, max_logins, first_registered, last_registered });

/// Count, averages and maxima over all users, in one statement.
pub async fn statistics(db: &Db) -> Result<UserStats> {
    const SQL: &str = r#"
        SELECT COUNT(*) AS users,
               CAST(COALESCE(SUM(CASE WHEN verified THEN 1 ELSE 0 END), 0) AS BIGINT) AS verified,
               CAST(AVG(profile_score) AS DOUBLE PRECISION) AS avg_profile_score,
               CAST(MAX(profile_score) AS DOUBLE PRECISION) AS max_profile_score,
               CAST(AVG(login_count) AS DOUBLE PRECISION) AS avg_logins,
               MAX(login_count) AS max_logins,
               MIN(registered_at) AS first_registered,
               MAX(registered_at) AS last_registered
        FROM users"#;
    on_pool!(db, |p| sqlx::query_as(SQL).fetch_one(p).await)
}

/// A user in the activity ranking.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct RankedUser {
    /// Position in the ranking, from 1 (most logins first; among equals, the newest account first).
    #[sqlx(default)]
    pub rank: i64,
    /// User id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Number of logins: the ranking key.
    pub login_count: i64,
    /// Last activity.
    pub last_active_at: NaiveDateTime,
    /// Profile score.
    pub profile_score: f64,
}
frame_row!(RankedUser { rank, id, username, login_count, last_active_at, profile_score });

/// Users ranked by activity (most logins first; among equals, the highest id first), one
/// page by LIMIT/OFFSET.
/// Simple, but the database still walks past the `offset` skipped rows: deep pages get
/// slower. [`ranked_after`] does not.
pub async fn ranked_by_activity(db: &Db, limit: usize, offset: usize) -> Result<Vec<RankedUser>> {
    const SQL: &str = r#"
        SELECT id, username, login_count, last_active_at, profile_score
        FROM users
        ORDER BY login_count DESC, id DESC
        LIMIT $1 OFFSET $2"#;
    let mut rows: Vec<RankedUser> =
        on_pool!(db, |p| sqlx::query_as(SQL).bind(limit as i64).bind(offset as i64).fetch_all(p).await)?;
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = (offset + i + 1) as i64;
    }
    Ok(rows)
}

/// Where a keyset page ends: the ranking key of its last row (and that row's rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// `login_count` of the last row shown.
    pub login_count: i64,
    /// `id` of the last row shown (the tie-breaker).
    pub id: i64,
    /// Its rank, so the next page can number its rows.
    pub rank: i64,
}

/// The next page of the activity ranking after `cursor` (the first page for `None`), by
/// keyset: `WHERE (login_count, id) < (cursor)`, a range the index `users_activity_idx`
/// finds directly however deep the page. Returns the rows and the
/// cursor for the page after, `None` at the end.
pub async fn ranked_after(db: &Db, cursor: Option<Cursor>, limit: usize) -> Result<(Vec<RankedUser>, Option<Cursor>)> {
    const FIRST: &str = r#"
        SELECT id, username, login_count, last_active_at, profile_score
        FROM users
        ORDER BY login_count DESC, id DESC
        LIMIT $1"#;
    const AFTER: &str = r#"
        SELECT id, username, login_count, last_active_at, profile_score
        FROM users
        WHERE (login_count, id) < ($1, $2)
        ORDER BY login_count DESC, id DESC
        LIMIT $3"#;
    let mut rows: Vec<RankedUser> = match cursor {
        None => on_pool!(db, |p| sqlx::query_as(FIRST).bind(limit as i64).fetch_all(p).await)?,
        Some(c) => on_pool!(db, |p| sqlx::query_as(AFTER).bind(c.login_count).bind(c.id).bind(limit as i64).fetch_all(p).await)?,
    };
    let start = cursor.map_or(0, |c| c.rank);
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = start + i as i64 + 1;
    }
    let next = match rows.last() {
        Some(last) if rows.len() == limit => Some(Cursor { login_count: last.login_count, id: last.id, rank: last.rank }),
        _ => None,
    };
    Ok((rows, next))
}

/// A user to create, already checked: build it with [`NewUser::parse`].
#[derive(Clone, Debug, PartialEq)]
pub struct NewUser {
    username: String,
    email: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    /// Where the user lives, if known.
    pub address_id: Option<i64>,
    /// When the account is created.
    pub registered_at: NaiveDateTime,
}

impl NewUser {
    /// Checks the fields and builds a user to insert. Quotes, semicolons and SQL keywords
    /// in names are fine — they are data, bound as parameters, never spliced into SQL —
    /// but empty or oversized fields and malformed e-mail addresses are refused with the
    /// field named.
    pub fn parse(username: &str, email: &str, first_name: &str, last_name: &str, registered_at: NaiveDateTime) -> Result<NewUser> {
        let username = text_field("username", username, 64)?;
        let first_name = text_field("first_name", first_name, 100)?;
        let last_name = text_field("last_name", last_name, 100)?;
        let email = crate::validate::email(email)?;
        Ok(NewUser { username, email, first_name, last_name, address_id: None, registered_at })
    }

    /// Sets the address.
    pub fn at_address(mut self, address_id: i64) -> Self {
        self.address_id = Some(address_id);
        self
    }

    /// The checked username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The checked, lower-cased e-mail address.
    pub fn email(&self) -> &str {
        &self.email
    }
}

/// Whether a lookup value could match stored text at all: nothing stored holds a NUL
/// (validation refuses it), and PostgreSQL would fail the query instead of finding nothing.
fn storable(value: &str) -> bool {
    !value.contains('\0')
}

fn text_field(name: &str, value: &str, max_chars: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::Invalid { field: name.to_string(), reason: format!("{name} is empty") });
    }
    if value.chars().count() > max_chars {
        return Err(Error::Invalid { field: name.to_string(), reason: format!("{name} has {} characters; at most {max_chars} are allowed", value.chars().count()) });
    }
    if value.chars().any(char::is_control) {
        return Err(Error::Invalid { field: name.to_string(), reason: format!("{name} contains a control character") });
    }
    Ok(value.to_string())
}

/// Inserts `user` and returns its new id. A username or e-mail address that exists already
/// gives [`Error::Constraint`] naming the unique constraint.
pub async fn create(db: &Db, user: &NewUser) -> Result<i64> {
    const SQL: &str = r#"
        INSERT INTO users (username, email, first_name, last_name, address_id, registered_at, last_active_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6)
        RETURNING id"#;
    on_pool!(db, |p| sqlx::query_scalar(SQL)
        .bind(&user.username)
        .bind(&user.email)
        .bind(&user.first_name)
        .bind(&user.last_name)
        .bind(user.address_id)
        .bind(user.registered_at)
        .fetch_one(p)
        .await)
}

/// Changes user `id`'s e-mail address, checked and lower-cased as on sign-up. Returns whether
/// such a user exists. An address another user has already gives [`Error::Constraint`] naming
/// the unique constraint, and nothing changes.
pub async fn update_email(db: &Db, id: i64, email: &str) -> Result<bool> {
    const SQL: &str = "UPDATE users SET email = $1 WHERE id = $2";
    let email = crate::validate::email(email)?;
    let changed: u64 = on_pool!(db, |p| sqlx::query(SQL).bind(&email).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(changed == 1)
}

/// Deletes user `id` and returns whether there was one. Their orders go with them in the same
/// statement: the `orders.user_id` foreign key says `ON DELETE CASCADE` (both migrations), so
/// no order is ever left pointing at nobody.
pub async fn delete(db: &Db, id: i64) -> Result<bool> {
    const SQL: &str = "DELETE FROM users WHERE id = $1";
    let deleted: u64 = on_pool!(db, |p| sqlx::query(SQL).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(deleted == 1)
}

/// Ids per statement in [`count_existing`] and [`delete_all`] (well under both servers' limit
/// on bound parameters: SQLite 32,766, PostgreSQL 65,535).
pub const IDS_PER_STATEMENT: usize = 1_000;

/// How many of `ids` are users: one `SELECT count(*) … WHERE id IN (…)` per
/// [`IDS_PER_STATEMENT`] ids, not one lookup per id (the list bound the way
/// `loading`'s `by_ids` binds it).
pub async fn count_existing(db: &Db, ids: &[i64]) -> Result<usize> {
    let mut found = 0;
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        let n: i64 = on_pool!(db, |p| {
            let mut qb = sqlx::QueryBuilder::new("SELECT count(*) FROM users WHERE id IN (");
            let mut list = qb.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            qb.push(")");
            qb.build_query_scalar().fetch_one(p).await
        })?;
        found += n as usize;
    }
    Ok(found)
}

/// Deletes the users `ids`: one `DELETE … WHERE id IN (…)` per [`IDS_PER_STATEMENT`] ids.
/// Returns how many rows went.
pub async fn delete_all(db: &Db, ids: &[i64]) -> Result<u64> {
    delete_where_in(db, "id", ids).await
}

/// Deletes the users with these e-mail addresses (compared as stored, lower case), in chunks;
/// returns how many went. The lessons' sweep of what an interrupted run of theirs left.
pub async fn delete_by_emails(db: &Db, emails: &[&str]) -> Result<u64> {
    let emails: Vec<String> = emails.iter().map(|e| e.trim().to_lowercase()).filter(|e| storable(e)).collect();
    let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
    delete_where_in(db, "email", &emails).await
}

/// `DELETE FROM users WHERE {column} IN (…)` with `values` bound, one statement per
/// [`IDS_PER_STATEMENT`] values; how many rows went.
async fn delete_where_in<'v, T>(db: &Db, column: &str, values: &'v [T]) -> Result<u64>
where
    T: Copy
        + Send
        + Sync
        + sqlx::Encode<'v, sqlx_sqlite::Sqlite>
        + sqlx::Type<sqlx_sqlite::Sqlite>
        + sqlx::Encode<'v, sqlx_postgres::Postgres>
        + sqlx::Type<sqlx_postgres::Postgres>
        + 'v,
{
    let mut deleted = 0;
    for chunk in values.chunks(IDS_PER_STATEMENT) {
        deleted += on_pool!(db, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!("DELETE FROM users WHERE {column} IN ("));
            let mut list = qb.separated(", ");
            for v in chunk {
                list.push_bind(*v);
            }
            qb.push(")");
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap()
    }

    #[test]
    fn quotes_and_sql_fragments_in_names_are_accepted_as_data() {
        let u = NewUser::parse("robert'); DROP TABLE users;--", "bobby@tables.example", "Robert'", "O'Brien", at()).unwrap();
        assert_eq!(u.username(), "robert'); DROP TABLE users;--");
    }

    #[test]
    fn a_malformed_email_is_refused_with_the_field_named() {
        for bad in ["", "no-at-sign", "@example.com", "a@b", "a@.com", "a b@example.com", "a@b@example.com"] {
            let err = NewUser::parse("ann", bad, "Ann", "Lee", at()).unwrap_err().to_string();
            assert!(err.contains("email"), "{bad}: {err}");
        }
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let u = NewUser::parse("ann", "  Ann@Example.COM ", "Ann", "Lee", at()).unwrap();
        assert_eq!(u.email(), "ann@example.com");
    }

    #[test]
    fn empty_and_oversized_fields_name_the_field() {
        let err = NewUser::parse("  ", "a@example.com", "A", "B", at()).unwrap_err().to_string();
        assert!(err.contains("username is empty"), "{err}");
        let long = "x".repeat(65);
        let err = NewUser::parse(&long, "a@example.com", "A", "B", at()).unwrap_err().to_string();
        assert!(err.contains("username has 65 characters"), "{err}");
    }
}
