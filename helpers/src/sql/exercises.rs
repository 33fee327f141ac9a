//! Notebook 01's exercises: the learner writes the SQL, [`SyncDb::check_exercise`] runs it and
//! the helpers' own query on the same database and compares the rows
//! ([`exercise::compare_frames`]). The answers below are the crate's source, not the
//! notebook's output: the check says right or what differs.

use super::SyncDb;
use super::query::Value;
use super::sandbox::{Limits, Outcome};
use crate::error::{Error, Result};
use crate::exercise::{self, RowOrder, Verdict};

/// One exercise: its id, the parameters the learner's query gets bound, whether the row order
/// is part of the question, and the helpers' answer.
struct Exercise {
    id: &'static str,
    params: fn() -> Vec<Value>,
    order: RowOrder,
    answer: &'static str,
}

const EXERCISES: &[Exercise] = &[
    // 01.1 — Cities whose users placed at least $1 completed orders (together): city, country
    // (its code), orders; most orders first, then city, then country.
    Exercise {
        id: "01.1",
        params: || vec![Value::Int(3)],
        order: RowOrder::Matters,
        answer: r#"
            SELECT ci.name AS city, co.code AS country, COUNT(o.id) AS orders
            FROM orders o
            JOIN users u      ON u.id = o.user_id
            JOIN addresses a  ON a.id = u.address_id
            JOIN cities ci    ON ci.id = a.city_id
            JOIN countries co ON co.id = ci.country_id
            WHERE o.status = 'completed'
            GROUP BY ci.id, ci.name, co.code
            HAVING COUNT(o.id) >= $1
            ORDER BY orders DESC, city, country"#,
    },
    // 01.2 — Every product and how often it was ordered (completed orders only), products never
    // ordered included with 0: name, times_ordered; any order.
    Exercise {
        id: "01.2",
        params: Vec::new,
        order: RowOrder::Any,
        answer: r#"
            SELECT p.name, COUNT(o.id) AS times_ordered
            FROM products p
            LEFT JOIN orders o ON o.product_id = p.id AND o.status = 'completed'
            GROUP BY p.id, p.name"#,
    },
    // 01.3 — Completed orders per month: month (the first seven characters of `ordered_at` as
    // text), orders, revenue; oldest month first.
    Exercise {
        id: "01.3",
        params: Vec::new,
        order: RowOrder::Matters,
        answer: r#"
            SELECT substr(CAST(ordered_at AS TEXT), 1, 7) AS month,
                   COUNT(*) AS orders,
                   CAST(SUM(total) AS DOUBLE PRECISION) AS revenue
            FROM orders
            WHERE status = 'completed'
            GROUP BY substr(CAST(ordered_at AS TEXT), 1, 7)
            ORDER BY month"#,
    },
];

/// The ids of notebook 01's exercises.
pub fn ids() -> Vec<&'static str> {
    EXERCISES.iter().map(|e| e.id).collect()
}

impl SyncDb {
    /// Checks the learner's SQL for exercise `id` (`"01.1"`, …): runs it with the exercise's
    /// parameters bound — read-only, alone, at most [`Limits::default`]'s 5 s and 10,000 rows
    /// ([`sandbox::read_only`]) — and compares its rows with the helpers' answer on this
    /// database. A statement that would change data, runs away, returns too much or is refused
    /// is a verdict that says so; an error is only the helpers' own query failing (the
    /// database is down, say).
    pub fn check_exercise(&self, id: &str, your_sql: &str) -> Result<Verdict> {
        let ex = EXERCISES
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::NotFound(format!("there is no exercise {id} in notebook 01 (there are {})", ids().join(", "))))?;
        let params = (ex.params)();
        let expected = self.query(ex.answer, &params)?;
        let limits = Limits::default();
        Ok(match self.read_only(your_sql, &params, limits)? {
            Outcome::Rows(yours) => exercise::compare_frames(id, &yours, &expected, ex.order),
            Outcome::Writes(said) => Verdict::not_yet(
                id,
                format!("your statement tries to change data — an answer only reads, so it ran read-only and nothing changed ({} said: {said}).", self.backend().name()),
            ),
            Outcome::TimedOut(after) => Verdict::not_yet(
                id,
                format!("your statement ran past {} s and was stopped; a join without its condition multiplies the rows (every order with every user).", after.as_secs()),
            ),
            Outcome::TooManyRows(n) => Verdict::not_yet(
                id,
                format!("your statement returned more than {} rows and was stopped; the answer has {} — check the joins and the WHERE.", crate::display::thousands(n), expected.height()),
            ),
            Outcome::NotOneStatement(n) => Verdict::not_yet(id, format!("your answer holds {n} statements; an answer is one `SELECT`, so none of them ran.")),
            Outcome::Refused(said) => exercise::refused(id, self.backend().name(), &said),
        })
    }
}
