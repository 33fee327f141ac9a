//! Transactions: all or nothing, and savepoints for "all or nothing" inside a larger whole.
//!
//! [`signup_with_order`] writes a user and their first order in one transaction: if the
//! order fails, the user is not kept either. [`demonstrate`] runs the four cases the lesson
//! shows (commit, rollback on error, a savepoint rolled back inside a committed
//! transaction, a duplicate e-mail) and reports the row counts before and after each.

use sqlx::Connection as _;

use super::users::NewUser;
use super::{Db, Pool};
use crate::error::{Error, Result};
use crate::frame_row;

/// An order line for [`signup_with_order`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NewOrder {
    /// The product bought (must exist).
    pub product_id: i64,
    /// How many (must be positive: the schema's check constraint says so).
    pub quantity: i64,
}

/// The ids [`signup_with_order`] created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signup {
    /// The new user's id.
    pub user_id: i64,
    /// The new order's id.
    pub order_id: i64,
}

/// Runs `$body` with `$pool` bound to the backend's own pool type.
macro_rules! per_backend {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

macro_rules! insert_user {
    ($db:expr, $conn:expr, $user:expr) => {{
        $db.count_statements(1);
        sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, email, first_name, last_name, address_id, registered_at, last_active_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind($user.username())
        .bind($user.email())
        .bind(&$user.first_name)
        .bind(&$user.last_name)
        .bind($user.address_id)
        .bind($user.registered_at)
        .fetch_one($conn)
        .await
        .map_err(|e| $db.error(e))
    }};
}

macro_rules! insert_order {
    ($db:expr, $conn:expr, $user_id:expr, $order:expr, $at:expr) => {{
        let order: NewOrder = $order;
        $db.count_statements(1);
        // The price comes from the product row; an unknown product is a clear error rather
        // than a foreign-key message.
        let price: Option<f64> = sqlx::query_scalar("SELECT price FROM products WHERE id = $1")
            .bind(order.product_id)
            .fetch_optional(&mut *$conn)
            .await
            .map_err(|e| $db.error(e))?;
        match price {
            None => Err(Error::NotFound(format!("product {} does not exist; the order was not placed", order.product_id))),
            Some(price) => {
                $db.count_statements(1);
                sqlx::query_scalar::<_, i64>(
                    "INSERT INTO orders (user_id, product_id, quantity, unit_price, total, ordered_at, status)
                     VALUES ($1, $2, $3, $4, $5, $6, 'completed') RETURNING id",
                )
                .bind($user_id)
                .bind(order.product_id)
                .bind(order.quantity)
                .bind(price)
                .bind(price * order.quantity as f64)
                .bind($at)
                .fetch_one(&mut *$conn)
                .await
                .map_err(|e| $db.error(e))
            }
        }
    }};
}

/// Inserts `user` and their first order in one transaction. An unknown product, a
/// quantity below one, or a duplicate username or e-mail fails the whole transaction:
/// neither row is kept.
pub async fn signup_with_order(db: &Db, user: &NewUser, order: NewOrder) -> Result<Signup> {
    per_backend!(db, |pool| {
        let mut tx = pool.begin().await.map_err(|e| db.error(e))?;
        let user_id = insert_user!(db, &mut *tx, user)?;
        let order_id = insert_order!(db, &mut *tx, user_id, order, user.registered_at)?;
        db.count_statements(1);
        tx.commit().await.map_err(|e| {
            db.commit_error(
                e,
                format!("the sign-up of `{}` (user {user_id}, order {order_id})", user.username()),
                format!("Look the user up by e-mail (`users::by_email(db, \"{}\")`) before trying again: if the user is there, the order is too (one transaction).", user.email()),
            )
        })?;
        Ok(Signup { user_id, order_id })
    })
    // Returning early with `?` drops `tx`, and a dropped sqlx transaction rolls back.
}

/// What one transaction case did to the tables.
#[derive(Clone, Debug, PartialEq)]
pub struct TxOutcome {
    /// The case.
    pub scenario: String,
    /// `committed`, or `rolled back: <the error>`.
    pub outcome: String,
    /// Users before.
    pub users_before: i64,
    /// Users after.
    pub users_after: i64,
    /// Orders before.
    pub orders_before: i64,
    /// Orders after.
    pub orders_after: i64,
}
frame_row!(TxOutcome { scenario, outcome, users_before, users_after, orders_before, orders_after });

async fn counts(db: &Db) -> Result<(i64, i64)> {
    let users = super::users::count(db).await?;
    let orders: i64 = super::on_pool!(db, |p| sqlx::query_scalar("SELECT COUNT(*) FROM orders").fetch_one(p).await)?;
    Ok((users, orders))
}

/// Runs the lesson's four cases against `db` and reports row counts before and after each:
///
/// 1. commit: a user and their order, both kept;
/// 2. rollback on error: a user and an order for a product that does not exist — neither kept;
/// 3. savepoint: the outer transaction adds user A; inside a savepoint user B and a bad
///    order fail and are rolled back to the savepoint; A's order is added and the outer
///    transaction commits — A and A's order are kept, B is not;
/// 4. duplicate e-mail: the unique constraint refuses the insert, naming itself.
///
/// `tag` makes the usernames and e-mail addresses unique, so the cases can run again. The users
/// the cases kept (and their orders) are deleted again at the end: the counts above say what
/// each case did, and the database is left as it was found, for the notebooks after this one.
/// They sign up on the world's "today" ([`crate::data::WorldConfig::now`]).
pub async fn demonstrate(db: &Db, tag: &str, product_id: i64) -> Result<Vec<TxOutcome>> {
    let out = cases(db, tag, product_id).await;
    let kept: Vec<i64> = super::on_pool!(db, |p| {
        sqlx::query_scalar("SELECT id FROM users WHERE email LIKE $1").bind(format!("%.{tag}@example.com")).fetch_all(p).await
    })?;
    super::users::delete_all(db, &kept).await?;
    out
}

async fn cases(db: &Db, tag: &str, product_id: i64) -> Result<Vec<TxOutcome>> {
    let at = crate::data::WorldConfig::default().now();
    let user = |name: &str| NewUser::parse(&format!("{name}_{tag}"), &format!("{name}.{tag}@example.com"), name, "Tx", at);
    let mut out = Vec::new();
    let mut record = |scenario: &str, before: (i64, i64), after: (i64, i64), result: Result<()>| {
        out.push(TxOutcome {
            scenario: scenario.into(),
            outcome: match result {
                Ok(()) => "committed".into(),
                Err(e) => format!("rolled back: {e}"),
            },
            users_before: before.0,
            users_after: after.0,
            orders_before: before.1,
            orders_after: after.1,
        })
    };

    let before = counts(db).await?;
    let r = signup_with_order(db, &user("commit")?, NewOrder { product_id, quantity: 2 }).await.map(drop);
    record("1 commit: user + order", before, counts(db).await?, r);

    let before = counts(db).await?;
    let r = signup_with_order(db, &user("rollback")?, NewOrder { product_id: -1, quantity: 1 }).await.map(drop);
    record("2 rollback: user + order of a missing product", before, counts(db).await?, r);

    let before = counts(db).await?;
    let (a, b) = (user("outer")?, user("inner")?);
    let r = savepoint_case(db, &a, &b, product_id).await;
    record("3 savepoint: A kept, B rolled back to the savepoint", before, counts(db).await?, r);

    let before = counts(db).await?;
    let again = NewUser::parse(&format!("again_{tag}"), &format!("commit.{tag}@example.com"), "Again", "Tx", at)?;
    let r = super::users::create(db, &again).await.map(drop);
    record("4 duplicate e-mail", before, counts(db).await?, r);
    Ok(out)
}

async fn savepoint_case(db: &Db, a: &NewUser, b: &NewUser, product_id: i64) -> Result<()> {
    per_backend!(db, |pool| {
        let mut tx = pool.begin().await.map_err(|e| db.error(e))?;
        let a_id = insert_user!(db, &mut *tx, a)?;
        {
            // A nested transaction is a SAVEPOINT; dropping it uncommitted rolls back to it.
            let mut sp = tx.begin().await.map_err(|e| db.error(e))?;
            let b_id = insert_user!(db, &mut *sp, b)?;
            let failed = insert_order!(db, &mut *sp, b_id, NewOrder { product_id: -1, quantity: 1 }, b.registered_at);
            debug_assert!(failed.is_err());
            sp.rollback().await.map_err(|e| db.error(e))?;
        }
        insert_order!(db, &mut *tx, a_id, NewOrder { product_id, quantity: 1 }, a.registered_at)?;
        tx.commit().await.map_err(|e| {
            db.commit_error(
                e,
                format!("the savepoint case (user `{}`, id {a_id}, and an order)", a.username()),
                format!("Look the user up by e-mail (`users::by_email(db, \"{}\")`): if the user is there, the transaction committed.", a.email()),
            )
        })?;
        Ok(())
    })
}
