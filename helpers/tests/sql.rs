//! Module 1 against real databases: every test runs on SQLite (a fresh file) and on
//! PostgreSQL (a fresh schema, dropped afterwards).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use helpers::data::{World, WorldConfig};
use helpers::sql::loading::Strategy;
use helpers::sql::tx::NewOrder;
use helpers::sql::users::NewUser;
use helpers::sql::{self, Backend, Db};
use helpers::{Error, ServiceUrl, run};

/// A fresh SQLite file and a fresh PostgreSQL schema, both migrated.
async fn fresh_dbs(test: &str) -> Vec<Db> {
    let dir = std::env::temp_dir().join("helpers-sql-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{test}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let sqlite = Db::connect(&ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display())), None).await.unwrap();
    let schema = format!("m8test_{test}");
    drop_schema(&schema).await;
    let pg = Db::connect(&common::postgres_url(), Some(&schema)).await.expect("PostgreSQL must run for these tests");
    let mut dbs = vec![sqlite, pg];
    for db in &mut dbs {
        db.migrate().await.unwrap();
    }
    dbs
}

async fn drop_schema(schema: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx_postgres::PgConnection::connect(common::postgres_url().expose()).await.expect("PostgreSQL must run for these tests");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(&mut conn).await.unwrap();
}

/// The PostgreSQL schema `schema`, dropped first, then migrated and seeded with the small world.
async fn seeded_schema(schema: &str) -> Db {
    drop_schema(schema).await;
    let db = Db::connect(&common::postgres_url(), Some(schema)).await.unwrap();
    db.migrate().await.unwrap();
    sql::seed(&db, &small_world()).await.unwrap();
    db
}

/// The test PostgreSQL's URL through a relay on `port` (without TLS, so the relay can read it).
fn relayed_url(port: u16) -> ServiceUrl {
    let relayed = common::postgres_url().with_hosts(&format!("127.0.0.1:{port}"));
    let sep = if relayed.expose().contains('?') { '&' } else { '?' };
    ServiceUrl::new(format!("{}{sep}sslmode=disable", relayed.expose()))
}

/// Runs `check` on both backends, each freshly seeded with `world`, and cleans up.
async fn on_both(test: &str, world: &World, check: impl AsyncFn(&Db)) {
    for db in fresh_dbs(test).await {
        sql::seed(&db, world).await.unwrap();
        check(&db).await;
        db.close().await;
    }
    drop_schema(&format!("m8test_{test}")).await;
}

fn small_world() -> World {
    World::generate(&WorldConfig::small())
}

fn at() -> chrono::NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap().and_hms_opt(12, 0, 0).unwrap()
}

#[tokio::test]
async fn seeding_fills_every_table_and_a_second_seed_replaces_rather_than_adds() {
    let world = small_world();
    on_both("seed", &world, async |db| {
        let again = sql::seed(db, &world).await.unwrap();
        assert_eq!(again.rows() as usize, world.countries.len() + world.cities.len() + world.addresses.len() + world.users.len() + world.products.len() + world.orders.len());
        assert_eq!(sql::users::count(db).await.unwrap(), world.users.len() as i64, "{}", db.backend());
        let stats = sql::countries::statistics(db).await.unwrap();
        assert_eq!(stats.len(), world.countries.len());
        assert_eq!(stats.iter().map(|s| s.users).sum::<i64>(), world.users.len() as i64);
        let completed = world.orders.iter().filter(|o| o.status == "completed").count() as i64;
        assert_eq!(stats.iter().map(|s| s.orders).sum::<i64>(), completed, "{}", db.backend());
        // New rows get fresh ids after a seed with explicit ids (PostgreSQL's sequences moved on).
        let id = sql::users::create(db, &NewUser::parse("newcomer", "newcomer@example.com", "New", "Comer", at()).unwrap()).await.unwrap();
        assert_eq!(id, world.users.len() as i64 + 1, "{}", db.backend());
    })
    .await;
}

#[tokio::test]
async fn user_queries_agree_with_the_generated_world() {
    let world = small_world();
    let locations = world.user_locations().unwrap();
    let countries = helpers::display::column_strings(&locations, "country").unwrap();
    let cities = helpers::display::column_strings(&locations, "city").unwrap();
    let german: Vec<i64> = world.users.iter().zip(&countries).filter(|(_, c)| *c == "DE").map(|(u, _)| u.id).collect();
    let berliners: Vec<i64> = world.users.iter().zip(&cities).filter(|(_, c)| *c == "Berlin").map(|(u, _)| u.id).collect();
    assert!(!german.is_empty() && !berliners.is_empty());
    on_both("users", &world, async |db| {
        let by_name: Vec<i64> = sql::users::by_country(db, "Germany").await.unwrap().iter().map(|u| u.id).collect();
        let by_code: Vec<i64> = sql::users::by_country(db, "DE").await.unwrap().iter().map(|u| u.id).collect();
        assert_eq!(by_name, german, "{}", db.backend());
        assert_eq!(by_code, german);
        let in_berlin: Vec<i64> = sql::users::by_city(db, "Berlin").await.unwrap().iter().map(|u| u.id).collect();
        assert_eq!(in_berlin, berliners);
        assert!(sql::users::by_country(db, "Atlantis").await.unwrap().is_empty());

        let first = sql::users::by_id(db, 1).await.unwrap().unwrap();
        let u = &world.users[0];
        assert_eq!((first.username.as_str(), first.email.as_str(), first.registered_at, first.verified, first.login_count), (u.username.as_str(), u.email.as_str(), u.registered_at, u.verified, u.login_count));

        let stats = sql::users::statistics(db).await.unwrap();
        assert_eq!(stats.users, world.users.len() as i64);
        assert_eq!(stats.verified, world.users.iter().filter(|u| u.verified).count() as i64);
        assert_eq!(stats.max_logins, world.users.iter().map(|u| u.login_count).max());
        let mean = world.users.iter().map(|u| u.profile_score).sum::<f64>() / world.users.len() as f64;
        assert!((stats.avg_profile_score.unwrap() - mean).abs() < 1e-9, "{} vs {mean}", stats.avg_profile_score.unwrap());
        assert_eq!(stats.first_registered, world.users.iter().map(|u| u.registered_at).min());
    })
    .await;
}

#[tokio::test]
async fn offset_pages_and_keyset_pages_walk_the_same_ranking() {
    let world = small_world();
    let mut expected: Vec<(i64, i64)> = world.users.iter().map(|u| (u.login_count, u.id)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    on_both("ranking", &world, async |db| {
        let mut by_offset = Vec::new();
        for page in 0.. {
            let rows = sql::users::ranked_by_activity(db, 64, page * 64).await.unwrap();
            if rows.is_empty() {
                break;
            }
            by_offset.extend(rows);
        }
        let mut by_keyset = Vec::new();
        let mut cursor = None;
        loop {
            let (rows, next) = sql::users::ranked_after(db, cursor, 64).await.unwrap();
            by_keyset.extend(rows);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(by_offset, by_keyset, "{}", db.backend());
        let got: Vec<(i64, i64)> = by_offset.iter().map(|r| (r.login_count, r.id)).collect();
        assert_eq!(got, expected);
        assert!(by_offset.iter().enumerate().all(|(i, r)| r.rank == i as i64 + 1));
    })
    .await;
}

#[tokio::test]
async fn lazy_loading_sends_one_plus_three_n_statements_and_eager_loading_a_constant_number() {
    let world = small_world();
    on_both("loading", &world, async |db| {
        let runs = sql::loading::compare(db, &[10, 100], 1).await.unwrap();
        let statements: BTreeMap<(String, i64), i64> = runs.iter().map(|r| ((r.strategy.clone(), r.users), r.statements)).collect();
        for n in [10, 100] {
            assert_eq!(statements[&(Strategy::Lazy.label().to_string(), n)], 1 + 3 * n, "{}", db.backend());
            assert_eq!(statements[&(Strategy::Join.label().to_string(), n)], 1);
            assert_eq!(statements[&(Strategy::Batched.label().to_string(), n)], 4);
        }
        let rows = sql::users::with_addresses(db, 5).await.unwrap();
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.city.is_some() && r.country_code.is_some()));
    })
    .await;
}

#[tokio::test]
async fn analytics_add_up_to_the_whole() {
    let world = small_world();
    let completed: Vec<&helpers::data::Order> = world.orders.iter().filter(|o| o.status == "completed").collect();
    let mut revenue_by_user: BTreeMap<i64, f64> = BTreeMap::new();
    for o in &completed {
        *revenue_by_user.entry(o.user_id).or_default() += o.total;
    }
    let (top_user, top_revenue) = revenue_by_user.iter().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0))).map(|(u, r)| (*u, *r)).unwrap();
    let latest = world.users.iter().map(|u| u.last_active_at).max().unwrap();
    let active_30d = world.users.iter().filter(|u| u.last_active_at >= latest - chrono::Duration::days(30)).count() as i64;
    on_both("analytics", &world, async |db| {
        let dist = sql::analytics::distribution_by_country(db).await.unwrap();
        assert_eq!(dist.iter().map(|d| d.users).sum::<i64>(), world.users.len() as i64);
        assert!((dist.iter().map(|d| d.share_pct).sum::<f64>() - 100.0).abs() < 1e-6);
        assert!(dist.windows(2).all(|w| w[0].users >= w[1].users));

        let cohorts = sql::analytics::cohorts(db, None, 30).await.unwrap();
        assert_eq!(cohorts.iter().map(|c| c.users).sum::<i64>(), world.users.len() as i64, "{}", db.backend());
        assert_eq!(cohorts.iter().map(|c| c.active).sum::<i64>(), active_30d, "{}", db.backend());
        assert_eq!(cohorts.iter().map(|c| c.orders).sum::<i64>(), completed.len() as i64);
        assert!(cohorts.windows(2).all(|w| w[0].cohort < w[1].cohort));
        assert!(cohorts.iter().all(|c| c.cohort.len() == 7 && (0.0..=100.0).contains(&c.active_pct)));

        let high = sql::analytics::high_value_users(db, 0.5 * top_revenue, 20).await.unwrap();
        assert_eq!(high[0].user_id, top_user, "{}", db.backend());
        assert!((high[0].revenue - top_revenue).abs() < 1e-6);
        assert!(high.iter().all(|h| h.revenue >= 0.5 * top_revenue));
        assert!(high.windows(2).all(|w| w[0].revenue >= w[1].revenue));
    })
    .await;
}

async fn db_orders(db: &Db) -> i64 {
    let n = sql::query::query_frame(db, "SELECT COUNT(*) AS n FROM orders", &[]).await.unwrap();
    n.column("n").unwrap().i64().unwrap().get(0).unwrap()
}

#[tokio::test]
async fn transactions_commit_roll_back_and_keep_savepoints_apart() {
    let world = small_world();
    on_both("tx", &world, async |db| {
        let (users_before, orders_before) = (sql::users::count(db).await.unwrap(), db_orders(db).await);
        let cases = sql::tx::demonstrate(db, "t1", 1).await.unwrap();
        let delta = |i: usize| (cases[i].users_after - cases[i].users_before, cases[i].orders_after - cases[i].orders_before);
        assert_eq!(cases[0].outcome, "committed");
        assert_eq!(delta(0), (1, 1), "commit keeps both rows on {}", db.backend());
        assert!(cases[1].outcome.contains("product -1 does not exist"), "{}", cases[1].outcome);
        assert_eq!(delta(1), (0, 0), "a failed transaction leaves no partial rows on {}", db.backend());
        assert_eq!(cases[2].outcome, "committed");
        assert_eq!(delta(2), (1, 1), "the savepoint's user is gone, the outer one kept, on {}", db.backend());
        // What the cases kept is deleted again at the end: the next notebook finds the data as seeded.
        for who in ["commit", "outer", "inner"] {
            assert!(sql::users::by_email(db, &format!("{who}.t1@example.com")).await.unwrap().is_none(), "{who} on {}", db.backend());
        }
        assert_eq!((sql::users::count(db).await.unwrap(), db_orders(db).await), (users_before, orders_before), "{}", db.backend());
        assert_eq!(delta(3), (0, 0));
        let constraint = match db.backend() {
            Backend::Postgres => "users_email_key",
            Backend::Sqlite => "users.email",
        };
        assert!(cases[3].outcome.contains(constraint), "{}", cases[3].outcome);
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_quotes_are_just_data() {
    let world = small_world();
    on_both("bad_input", &world, async |db| {
        // A duplicate e-mail names the constraint.
        let taken = &world.users[0].email;
        let err = sql::users::create(db, &NewUser::parse("someone_else", taken, "Some", "One", at()).unwrap()).await.unwrap_err();
        assert!(matches!(err, Error::Constraint { .. }), "{err}");
        assert!(err.to_string().contains("duplicate value for unique constraint"), "{err}");

        // Quotes and SQL fragments are stored and read back as they were.
        let name = "x'); DROP TABLE users; --";
        let id = sql::users::create(db, &NewUser::parse(name, "bobby@example.com", "Robert'); --", "O'Brien", at()).unwrap()).await.unwrap();
        let back = sql::users::by_email(db, "bobby@example.com").await.unwrap().unwrap();
        assert_eq!((back.id, back.username.as_str(), back.first_name.as_str(), back.last_name.as_str()), (id, name, "Robert'); --", "O'Brien"));
        assert_eq!(sql::users::count(db).await.unwrap(), world.users.len() as i64 + 1, "the users table is still there");
        assert!(sql::users::by_country(db, "' OR '1'='1").await.unwrap().is_empty());

        // A check constraint failing half-way through a transaction keeps nothing.
        let before = sql::users::count(db).await.unwrap();
        let user = NewUser::parse("zero_qty", "zero@example.com", "Zero", "Qty", at()).unwrap();
        let err = sql::tx::signup_with_order(db, &user, NewOrder { product_id: 1, quantity: 0 }).await.unwrap_err();
        assert!(err.to_string().contains("check constraint"), "{err}");
        assert_eq!(sql::users::count(db).await.unwrap(), before);
        assert!(sql::users::by_email(db, "zero@example.com").await.unwrap().is_none());

        // NUL: refused before it reaches the database, naming the field or parameter, and a
        // lookup with it finds nothing — the same on both backends (PostgreSQL cannot store it).
        let err = NewUser::parse("nul\0name", "nul@example.com", "N", "L", at()).unwrap_err();
        assert!(err.to_string().contains("username"), "{err}");
        for lookup in ["Ger\0many", "\0"] {
            assert!(sql::users::by_country(db, lookup).await.unwrap().is_empty());
            assert!(sql::users::by_city(db, lookup).await.unwrap().is_empty());
        }
        assert!(sql::users::by_email(db, "a\0@example.com").await.unwrap().is_none());
        let params = [sql::Value::from("ok"), sql::Value::from("Zü\0rich")];
        let err = sql::query::query_frame(db, "SELECT $1 AS a, $2 AS b", &params).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid { field, .. } if field == "parameter $2") && err.to_string().contains("parameter $2"), "{err}");
        let err = sql::query::execute(db, "UPDATE users SET first_name = $1 WHERE id = 1", &[sql::Value::from("a\0")]).await.unwrap_err();
        assert!(err.to_string().contains("parameter $1") && err.to_string().contains("NUL"), "{err}");
    })
    .await;
}

#[test]
fn an_unreachable_postgres_is_named_masked_and_bounded() {
    let started = Instant::now();
    let url = ServiceUrl::new("postgres://app:pg-secret-1@127.0.0.1:1/module8");
    let err = run(Db::connect(&url, None)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Unreachable { service: "PostgreSQL", .. }), "{text}");
    assert!(text.contains("127.0.0.1:1") && text.contains("scripts/services.sh up"), "{text}");
    assert!(!text.contains("pg-secret-1"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_world_of_100k_users_seeds_on_both_backends() {
    let world = World::generate(&WorldConfig::with_users(100_000));
    for db in fresh_dbs("large").await {
        let report = sql::seed(&db, &world).await.unwrap();
        assert_eq!(sql::users::count(&db).await.unwrap(), 100_000, "{}", db.backend());
        let stats = sql::countries::statistics(&db).await.unwrap();
        assert_eq!(stats.iter().map(|s| s.users).sum::<i64>(), 100_000);
        eprintln!("{}: {} rows in {:.0} ms", db.backend(), report.rows(), report.millis);
        db.close().await;
    }
    drop_schema("m8test_large").await;
}

/// Pointed at a place that holds someone else's rows (not the module's schema or file, no
/// marker of an earlier seed), a seed refuses and changes nothing; `seed_replacing` (what
/// `M8_ALLOW_RESET=1` allows) replaces them, and from then on the rows are the module's.
#[tokio::test]
async fn a_seed_refuses_to_replace_rows_it_did_not_write_unless_allowed() {
    let world = World::generate(&WorldConfig::with_users(40));
    let products = |db: &Db| {
        let db = db.clone();
        async move { sql::query::query_frame(&db, "SELECT id FROM products", &[]).await.unwrap().height() }
    };
    for db in fresh_dbs("foreign").await {
        sql::query::execute(&db, "INSERT INTO products (id, name, category, price) VALUES (9001, 'their lamp', 'theirs', 12.5)", &[])
            .await
            .unwrap();
        let err = sql::seed(&db, &world).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::WouldDestroy { action: "seed", .. }), "{text}");
        assert!(text.contains("1 row ") && text.contains("M8_ALLOW_RESET=1") && text.contains("foreign"), "{text}");
        assert_eq!(products(&db).await, 1, "{}: their row must still be there", db.backend());

        let report = sql::seed_replacing(&db, &world).await.unwrap();
        assert_eq!(products(&db).await, world.products.len(), "{}", db.backend());
        // The module's rows now (a marker table beside them): seeding again needs no permission.
        sql::seed(&db, &world).await.unwrap();
        assert_eq!(sql::users::count(&db).await.unwrap(), world.users.len() as i64);
        assert!(report.statements > 0);
        db.close().await;
    }
    drop_schema("m8test_foreign").await;
}

/// Notebook 01's exercises on both backends: a right answer written differently from the
/// helpers' (subqueries instead of joins, other names' case, another column order) is right; a
/// near miss says what differs without a value of the answer; a query the database refuses is
/// a verdict quoting it; an unknown exercise is an error.
#[test]
fn exercise_checks_accept_any_right_query_and_explain_wrong_ones() {
    let file = std::env::temp_dir().join(format!("helpers-exercises-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut sqlite = common::settings();
    sqlite.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display()));
    let mut pg = common::settings();
    pg.database_url = common::postgres_url();
    for settings in [sqlite, pg] {
        let db = sql::SyncDb::new(&settings);
        db.seed(&small_world()).unwrap();
        let backend = db.backend().name();

        // 01.1, right: a derived table per city instead of one GROUP BY over the joins.
        let right = r#"
            SELECT city, country, orders FROM (
                SELECT ci.name AS CITY, co.code AS COUNTRY, ci.id AS cid,
                       (SELECT COUNT(*) FROM orders o JOIN users u ON u.id = o.user_id JOIN addresses a ON a.id = u.address_id
                        WHERE a.city_id = ci.id AND o.status = 'completed') AS ORDERS
                FROM cities ci JOIN countries co ON co.id = ci.country_id) t
            WHERE orders >= $1
            ORDER BY orders DESC, city, country"#;
        let v = db.check_exercise("01.1", right).unwrap();
        assert!(v.correct, "{backend}: {v}");
        // Without the status filter: same columns, too many orders.
        let near = right.replace("AND o.status = 'completed'", "");
        let v = db.check_exercise("01.1", &near).unwrap();
        assert!(!v.correct, "{backend}: {v}");
        assert!(v.feedback.contains("row"), "{backend}: {v}");
        // The right rows, the wrong order.
        let v = db.check_exercise("01.1", &right.replace("ORDER BY orders DESC, city, country", "ORDER BY orders ASC, city, country")).unwrap();
        assert!(v.feedback.contains("not in the asked order"), "{backend}: {v}");

        // 01.2: an INNER JOIN loses the products never ordered.
        let inner = "SELECT p.name, COUNT(o.id) AS times_ordered FROM products p JOIN orders o ON o.product_id = p.id AND o.status = 'completed' GROUP BY p.id, p.name";
        let left = inner.replace(" JOIN orders", " LEFT JOIN orders");
        assert!(db.check_exercise("01.2", &left).unwrap().correct, "{backend}");
        let never_ordered = db.scalar("SELECT COUNT(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.product_id = p.id AND o.status = 'completed')", &[]).unwrap();
        assert_eq!(db.check_exercise("01.2", inner).unwrap().correct, never_ordered == 0, "{backend}");

        // 01.3 with a column missing, and with the months reversed.
        let month = "SELECT substr(CAST(ordered_at AS TEXT), 1, 7) AS month, COUNT(*) AS orders, SUM(total) AS revenue FROM orders WHERE status = 'completed' GROUP BY 1 ORDER BY 1";
        assert!(db.check_exercise("01.3", month).unwrap().correct, "{backend}");
        let v = db.check_exercise("01.3", &month.replace(", SUM(total) AS revenue", "")).unwrap();
        assert!(v.feedback.contains("yours has no `revenue`"), "{backend}: {v}");
        assert!(db.check_exercise("01.3", &month.replace("ORDER BY 1", "ORDER BY 1 DESC")).unwrap().feedback.contains("order"));

        let v = db.check_exercise("01.1", "SELEKT nothing").unwrap();
        assert!(!v.correct && v.feedback.starts_with(&format!("{backend} refused your answer")), "{backend}: {v}");
        assert!(matches!(db.check_exercise("01.9", "SELECT 1"), Err(Error::NotFound(m)) if m.contains("01.1, 01.2, 01.3")));
    }
    let _ = std::fs::remove_file(&file);
}

/// What a learner types as an answer runs read-only, alone and bounded, on both backends: a
/// statement that would delete, drop or update is told so and leaves every row and table in
/// place; two statements run neither; a runaway statement stops at the time limit and a huge
/// result at the row limit, each with a verdict that says which.
#[test]
fn exercise_checks_run_the_answer_read_only_alone_and_bounded() {
    let file = std::env::temp_dir().join(format!("helpers-sandbox-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut sqlite = common::settings();
    sqlite.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display()));
    let mut pg = common::settings();
    pg.database_url = common::postgres_url();
    for settings in [sqlite, pg] {
        let db = sql::SyncDb::new(&settings);
        db.seed(&small_world()).unwrap();
        let backend = db.backend().name();
        let counts = || (db.scalar("SELECT COUNT(*) FROM users", &[]).unwrap(), db.scalar("SELECT COUNT(*) FROM orders", &[]).unwrap());
        let before = counts();
        assert!(before.0 > 0 && before.1 > 0, "{backend}: {before:?}");
        for destructive in ["DELETE FROM users", "DROP TABLE orders; --", "UPDATE users SET email = 'x@example.com'", "delete from orders where 1 = 1"] {
            let v = db.check_exercise("01.1", destructive).unwrap();
            assert!(!v.correct && v.feedback.contains("tries to change data"), "{backend}, {destructive}: {v}");
            assert_eq!(counts(), before, "{backend}: `{destructive}` changed rows");
        }
        let v = db.check_exercise("01.1", "SELECT 1; DELETE FROM orders").unwrap();
        assert!(!v.correct && v.feedback.contains("2 statements"), "{backend}: {v}");
        assert_eq!(counts(), before, "{backend}: two statements changed rows");

        let started = Instant::now();
        let runaway = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT COUNT(*) AS orders FROM c";
        let v = db.check_exercise("01.1", runaway).unwrap();
        let took = started.elapsed();
        assert!(!v.correct && v.feedback.contains("ran past 5 s"), "{backend}: {v}");
        assert!(took < Duration::from_secs(15), "{backend}: stopped after {took:?}");
        let v = db.check_exercise("01.1", "SELECT a.id, b.id FROM orders a, orders b, orders c").unwrap();
        assert!(!v.correct && v.feedback.contains("more than 10,000 rows"), "{backend}: {v}");
        // …and the database is still there for a right answer.
        let right = "SELECT ci.name AS city, co.code AS country, COUNT(o.id) AS orders FROM orders o JOIN users u ON u.id = o.user_id JOIN addresses a ON a.id = u.address_id JOIN cities ci ON ci.id = a.city_id JOIN countries co ON co.id = ci.country_id WHERE o.status = 'completed' GROUP BY ci.id, ci.name, co.code HAVING COUNT(o.id) >= $1 ORDER BY orders DESC, city, country";
        assert!(db.check_exercise("01.1", right).unwrap().correct, "{backend}");
    }
    let _ = std::fs::remove_file(&file);
}

/// `db.query` keeps writes but is bounded: a runaway statement stops at the time limit with
/// [`Error::Timeout`], a long result comes back cut at the row limit (and says so), and
/// `QueryLimits::none()` gives every row; on both backends.
#[test]
fn a_query_stops_at_its_time_limit_and_cuts_at_its_row_limit() {
    let file = std::env::temp_dir().join(format!("helpers-limits-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let mut sqlite = common::settings();
    sqlite.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display()));
    let mut pg = common::settings();
    pg.database_url = common::postgres_url();
    for settings in [sqlite, pg] {
        let db = sql::SyncDb::new(&settings);
        db.seed(&small_world()).unwrap();
        let backend = db.backend().name();
        let bounded = db.with_limits(sql::QueryLimits { timeout: Some(Duration::from_secs(2)), max_rows: Some(50) });
        let started = Instant::now();
        let out = bounded.query("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000) SELECT COUNT(*) FROM c", &[]);
        assert!(matches!(out, Err(Error::Timeout { .. })), "{backend}: {out:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "{backend}: stopped after {:?}", started.elapsed());
        let started = Instant::now();
        let cut = bounded.query("SELECT a.id AS a, b.id AS b FROM orders a, orders b, orders c", &[]).unwrap();
        assert_eq!(cut.height(), 50, "{backend}");
        assert!(started.elapsed() < Duration::from_secs(10), "{backend}: the cut took {:?}", started.elapsed());
        let orders = db.scalar("SELECT COUNT(*) FROM orders", &[]).unwrap() as usize;
        let all = db.with_limits(sql::QueryLimits::none()).query("SELECT a.id FROM orders a, orders b", &[]).unwrap();
        assert_eq!(all.height(), orders * orders, "{backend}");
        // writes still work, and the pool is usable after a cut and a timeout
        assert_eq!(db.execute("UPDATE users SET username = username WHERE id = $1", &[1.into()]).unwrap(), 1, "{backend}");
    }
    let _ = std::fs::remove_file(&file);
}

/// Update and delete on both backends: an e-mail change is checked and lower-cased, a taken
/// address is refused by the unique constraint with nothing changed, an unknown id changes
/// nothing; deleting a user takes their orders with them and leaves everyone else's.
#[tokio::test]
async fn updates_are_checked_and_deletes_take_the_users_orders_with_them() {
    let world = small_world();
    on_both("update_delete", &world, async |db| {
        let b = db.backend();
        assert!(sql::users::update_email(db, 1, "  New.Address@Example.COM ").await.unwrap(), "{b}");
        assert_eq!(sql::users::by_id(db, 1).await.unwrap().unwrap().email, "new.address@example.com");
        let taken = world.users[1].email.clone();
        let err = sql::users::update_email(db, 1, &taken).await.unwrap_err();
        assert!(matches!(err, Error::Constraint { .. }), "{b}: {err}");
        assert_eq!(sql::users::by_id(db, 1).await.unwrap().unwrap().email, "new.address@example.com", "{b}: a refused update changed nothing");
        assert!(matches!(sql::users::update_email(db, 1, "not-an-address").await, Err(Error::Invalid { field, .. }) if field == "email"));
        assert!(!sql::users::update_email(db, 999_999, "nobody@example.com").await.unwrap());

        let buyer = world.orders.iter().map(|o| o.user_id).next().expect("the small world has orders");
        let theirs = sql::users::orders_of(db, buyer).await.unwrap().len();
        let all_before = sql::users::all_orders(db).await.unwrap().len();
        assert!(theirs > 0);
        assert!(sql::users::delete(db, buyer).await.unwrap(), "{b}");
        assert!(sql::users::by_id(db, buyer).await.unwrap().is_none());
        assert!(sql::users::orders_of(db, buyer).await.unwrap().is_empty(), "{b}: orders cascade with their user");
        assert_eq!(sql::users::all_orders(db).await.unwrap().len(), all_before - theirs, "{b}: nobody else's orders went");
        assert!(!sql::users::delete(db, buyer).await.unwrap(), "{b}: deleting twice finds nobody");
    })
    .await;
}

/// Counting and deleting many users by id takes one statement per 1,000 ids, counts only the
/// ids that are users, and deletes exactly those.
#[tokio::test]
async fn many_users_are_counted_and_deleted_by_id_in_a_statement_per_thousand() {
    let world = small_world();
    on_both("delete_all", &world, async |db| {
        let b = db.backend();
        let users_before = sql::users::statistics(db).await.unwrap().users;
        // Three users, among 1,500 ids that are nobody's, across the 1,000-id boundary.
        let mut ids: Vec<i64> = (1..=1_500).map(|i| -i).collect();
        ids.insert(0, 1);
        ids.insert(1_000, 2);
        ids.push(3);
        let statements = db.statements();
        assert_eq!(sql::users::count_existing(db, &ids).await.unwrap(), 3, "{b}");
        assert_eq!(db.statements() - statements, 2, "{b}: 1,503 ids in two statements");
        assert_eq!(sql::users::delete_all(db, &ids).await.unwrap(), 3, "{b}");
        assert_eq!(sql::users::count_existing(db, &ids).await.unwrap(), 0, "{b}");
        assert_eq!(sql::users::statistics(db).await.unwrap().users, users_before - 3, "{b}: nobody else went");
        assert_eq!(sql::users::delete_all(db, &[]).await.unwrap(), 0, "{b}: no ids, no statement, nothing deleted");
    })
    .await;
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced_after_it_sat_idle() {
    // The pool no longer pings a connection before every query (a second round trip each);
    // it pings one that sat idle, and replaces it when the server has closed it meanwhile.
    let schema = "m8test_idle_ping";
    drop_schema(schema).await;
    let db = Db::connect(&common::postgres_url(), Some(schema)).await.unwrap();
    sql::query::execute(&db, "SELECT 1", &[]).await.unwrap();
    // The pooled connection ends its own server process.
    let killed = sql::query::execute(&db, "SELECT pg_terminate_backend(pg_backend_pid())", &[]).await;
    assert!(killed.is_err(), "a terminated backend cannot answer: {killed:?}");
    tokio::time::sleep(sql::PING_AFTER_IDLE + Duration::from_millis(300)).await;
    for _ in 0..3 {
        sql::query::execute(&db, "SELECT 1", &[]).await.expect("the pool replaces the closed connection");
    }
    db.close().await;
    drop_schema(schema).await;
}

/// The pool lesson: through one connection, eight clients queue for it — the median wait is
/// several times a query's own 5 ms; through eight connections they hardly wait at all.
#[tokio::test]
async fn a_small_pool_makes_clients_wait_for_a_connection_and_a_big_one_does_not() {
    let rows = sql::pool::compare(&common::postgres_url(), Some("m8test_pool"), "SELECT pg_sleep(0.005)", &[], &[1, 8], 8, 80).await.unwrap();
    let err = sql::pool::compare(&common::postgres_url(), Some("m8test_pool"), "SELEC 1", &[], &[1], 1, 1).await.unwrap_err();
    assert!(err.to_string().contains("syntax"), "{err}");
    drop_schema("m8test_pool").await;
    assert_eq!(rows.iter().map(|r| (r.pool_size, r.clients, r.queries)).collect::<Vec<_>>(), vec![(1, 8, 80), (8, 8, 80)]);
    assert!(rows[0].wait_p50_ms >= 10.0, "one connection, eight clients: each waits for the others' queries: {rows:?}");
    assert!(rows[1].wait_p50_ms < rows[0].wait_p50_ms / 4.0, "eight connections: no queue for one: {rows:?}");
    assert!(rows[1].p50_ms >= 5.0 && rows[0].p50_ms > rows[1].p50_ms, "{rows:?}");
}

/// The caching lesson's catalog queries agree with the world on both backends: a product's
/// orders and revenue are its completed orders', and a category's trending list counts the
/// completed orders since the date given, most first.
#[tokio::test]
async fn trending_items_and_product_details_agree_with_the_world() {
    let world = small_world();
    let completed: Vec<&helpers::data::Order> = world.orders.iter().filter(|o| o.status == "completed").collect();
    let since = world.orders.iter().map(|o| o.ordered_at).max().unwrap() - chrono::Duration::days(30);
    let product = completed[0].product_id;
    let (orders, revenue) = completed.iter().filter(|o| o.product_id == product).fold((0i64, 0.0), |(n, r), o| (n + 1, r + o.total));
    let category = world.products[(product - 1) as usize].category.clone();
    let mut recent: BTreeMap<i64, i64> = BTreeMap::new();
    for o in completed.iter().filter(|o| o.ordered_at >= since && world.products[(o.product_id - 1) as usize].category == category) {
        *recent.entry(o.product_id).or_default() += 1;
    }
    let most = recent.values().copied().max().unwrap_or(0);
    on_both("catalog", &world, async |db| {
        let d = sql::analytics::product_details(db, product).await.unwrap().unwrap();
        assert_eq!((d.product_id, d.orders, d.category.as_str()), (product, orders, category.as_str()), "{}", db.backend());
        assert!((d.revenue - revenue).abs() < 1e-6);
        assert!(sql::analytics::product_details(db, 10_000_000).await.unwrap().is_none());
        let trending = sql::analytics::trending_in_category(db, &category, since, 5).await.unwrap();
        assert!(!trending.is_empty() && trending.len() <= 5);
        assert_eq!(trending[0].buyers, most, "{}", db.backend());
        for t in &trending {
            assert_eq!((t.category.as_str(), t.buyers), (category.as_str(), recent[&t.product_id]));
        }
        assert!(trending.windows(2).all(|w| w[0].buyers >= w[1].buyers));
    })
    .await;
}

/// `SyncDb` keeps a PostgreSQL pool between calls: twenty calls share at most the pool's four
/// connections (opening per call gave each its own server process); a server restart in
/// between (every connection dropped) is survived, at worst by one failed call that names the
/// server (the next connects afresh); while the server cannot be reached a call
/// fails within the connect bound and names PostgreSQL; once it can, the next call connects
/// afresh. The outage is a link of the test's own in front of the shared server, never the
/// server itself.
#[test]
fn a_kept_postgres_pool_is_reused_and_survives_restarts_and_outages() {
    let links = tokio::runtime::Runtime::new().unwrap();
    let base = common::postgres_url();
    let link = links.block_on(helpers::link::CuttableLink::to(&base, 5432)).unwrap();
    let mut settings = common::settings();
    settings.database_url = link.url_through(&base);
    let db = sql::SyncDb::new(&settings);
    let backend = || db.scalar("SELECT pg_backend_pid()", &[]);

    let before: std::collections::BTreeSet<i64> = (0..20).map(|_| backend().unwrap()).collect();
    assert!(before.len() <= sql::DEFAULT_POOL_SIZE as usize, "20 calls used {} server processes: the pool was not kept", before.len());

    // A restart as the client sees it; a connection idle for a second is pinged before use.
    link.interrupt();
    std::thread::sleep(sql::PING_AFTER_IDLE + Duration::from_millis(200));
    let after = backend().expect("the call after a restart reconnects");
    assert!(!before.contains(&after), "a dropped connection was used again");

    // Dropped again and used at once, call after call: a connection that sat idle for less
    // than a second is not pinged, so a call may fail, naming the server; the call after a
    // failure connects afresh, so no two fail in a row.
    link.interrupt();
    let mut failed_last = false;
    for _ in 0..sql::DEFAULT_POOL_SIZE + 2 {
        match backend() {
            Ok(_) => failed_last = false,
            Err(e) => {
                assert!(matches!(e, Error::Unreachable { service: "PostgreSQL", .. }), "{e}");
                assert!(!failed_last, "two calls in a row failed after one restart: {e}");
                failed_last = true;
            }
        }
    }
    assert!(!failed_last, "the last call after a restart failed");

    // Unreachable: a bounded failure that names the server and where it was looked for.
    link.cut();
    std::thread::sleep(sql::PING_AFTER_IDLE + Duration::from_millis(200));
    let started = Instant::now();
    let e = backend().unwrap_err();
    assert!(started.elapsed() < sql::CONNECT_TIMEOUT + Duration::from_secs(3), "the failure took {:?}", started.elapsed());
    assert!(matches!(e, Error::Unreachable { service: "PostgreSQL", .. }), "{e}");
    assert!(e.to_string().contains(&link.local_addr().port().to_string()), "{e}");
    link.restore();
    assert!(backend().is_ok(), "the first call after the server is back connects");
}

/// A NUL (`\0`) in any text field a seed writes — a country's name, a city, a user's name — is
/// refused before anything is sent, naming the table, the row and the field (PostgreSQL alone
/// would say only `invalid byte sequence for encoding "UTF8": 0x00`, SQLite would store it), and
/// the rows already there stay; on both backends.
#[tokio::test]
async fn a_nul_in_any_seeded_text_field_is_refused_naming_the_row_and_the_field() {
    let world = small_world();
    on_both("seed_nul", &world, async |db| {
        let before = sql::users::count(db).await.unwrap();
        let countries: i64 = sql::query::query_frame(db, "SELECT COUNT(*) AS n FROM countries", &[]).await.unwrap().column("n").unwrap().get(0).unwrap().try_extract().unwrap();
        let mut bad = world.clone();
        bad.countries[2].name = "Ger\0many".into();
        let err = sql::seed(db, &bad).await.unwrap_err();
        let text = err.to_string();
        assert!(!matches!(err, Error::Sql { .. } | Error::Unreachable { .. }), "{}: refused by the helpers, not the database: {text}", db.backend().name());
        assert!(text.contains("countries row 3") && text.contains(&format!("id {}", bad.countries[2].id)) && text.contains("`name`") && text.contains("NUL"), "{text}");
        assert!(!text.contains("invalid byte sequence"), "{text}");
        for (edit, says) in [
            (Box::new(|w: &mut World| w.cities[0].region.push('\0')) as Box<dyn Fn(&mut World)>, "cities row 1"),
            (Box::new(|w: &mut World| w.users[4].last_name = "O\0Brien".into()), "users row 5"),
            (Box::new(|w: &mut World| w.products[1].category = "\0".into()), "products row 2"),
        ] {
            let mut bad = world.clone();
            edit(&mut bad);
            let text = sql::seed(db, &bad).await.unwrap_err().to_string();
            assert!(text.contains(says) && text.contains("NUL"), "{says}: {text}");
        }
        assert_eq!(sql::users::count(db).await.unwrap(), before, "nothing was replaced");
        let after: i64 = sql::query::query_frame(db, "SELECT COUNT(*) AS n FROM countries", &[]).await.unwrap().column("n").unwrap().get(0).unwrap().try_extract().unwrap();
        assert_eq!(after, countries);
    })
    .await;
}

/// A relay in front of PostgreSQL (a port of its own on 127.0.0.1) that passes every byte both
/// ways until the client sends a `COMMIT` (sqlx sends it as a simple query, `Q` … `COMMIT\0`,
/// in clear text: the relayed URL says `sslmode=disable`). Then it stops passing answers back,
/// forwards the `COMMIT`, waits 200 ms — the server commits — and closes both sides: the answer
/// is lost. Returns the port and how many commits it cut.
async fn commit_answer_eating_relay(server: (String, u16)) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    answer_eating_relay(server, b"COMMIT\0", std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true))).await
}

/// The relay above with its trigger: the first chunk from the client that holds `trigger`
/// while `armed` is set.
async fn answer_eating_relay(
    server: (String, u16),
    trigger: &'static [u8],
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = cut.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = tokio::net::TcpStream::connect((server.0.as_str(), server.1)).await else { continue };
            let (counter, armed) = (counter.clone(), armed.clone());
            tokio::spawn(async move {
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = upstream.into_split();
                let (stop, mut stopped) = tokio::sync::watch::channel(false);
                // Server → client, until told to stop; hands the client's write half back.
                let down = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        tokio::select! {
                            biased;
                            _ = stopped.changed() => return Some(to_client),
                            n = from_server.read(&mut buf) => match n {
                                Ok(0) | Err(_) => return None,
                                Ok(n) => if to_client.write_all(&buf[..n]).await.is_err() { return None },
                            },
                        }
                    }
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match from_client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    if armed.load(Ordering::SeqCst) && chunk.windows(trigger.len()).any(|w| w == trigger) {
                        let _ = stop.send(true);
                        let kept = down.await.ok().flatten(); // nothing more reaches the client
                        let _ = to_server.write_all(chunk).await;
                        let _ = to_server.flush().await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        counter.fetch_add(1, Ordering::SeqCst);
                        drop(kept);
                        drop(to_server);
                        return;
                    }
                    if to_server.write_all(chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, cut)
}

/// The answer to a `COMMIT` lost on the way back (the connection dropped after the server
/// committed) is [`Error::CommitUnknown`] — the outcome is unknown, here is how to check — not
/// "unreachable"; and the row did commit. Deterministic: a relay of the test's own eats the
/// answer. The test's schema is dropped afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_is_reported_as_unknown_not_as_unreachable() {
    use std::sync::atomic::Ordering;
    let schema = "m8test_commit_unknown";
    let direct = seeded_schema(schema).await;
    let (port, cut) = commit_answer_eating_relay(common::postgres_url().host_ports(5432).remove(0)).await;
    let through = Db::connect(&relayed_url(port), Some(schema)).await.unwrap();

    let tag = std::process::id();
    let email = format!("lost.ack.{tag}@example.com");
    let user = NewUser::parse(&format!("lost_ack_{tag}"), &email, "Lost", "Ack", at()).unwrap();
    let started = Instant::now();
    let err = sql::tx::signup_with_order(&through, &user, NewOrder { product_id: 1, quantity: 1 }).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::CommitUnknown { store: "PostgreSQL", .. }), "{text}");
    assert!(text.contains("outcome is unknown") && text.contains(&email) && !text.contains("unreachable"), "{text}");
    assert_eq!(cut.load(Ordering::SeqCst), 1, "the relay cut one COMMIT");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    through.close().await;

    // It did commit: the user and the order are there, read without the relay.
    let back = sql::users::by_email(&direct, &email).await.unwrap().expect("the COMMIT reached the server and committed");
    let orders = sql::query::query_frame(&direct, "SELECT id FROM orders WHERE user_id = $1", &[back.id.into()]).await.unwrap();
    assert_eq!(orders.height(), 1);
    sql::users::delete_all(&direct, &[back.id]).await.unwrap();
    direct.close().await;
    drop_schema(schema).await;
}

/// The same for a statement that commits by itself (`db.execute`, autocommit): the relay is
/// armed after connecting and cuts the answer to the first `Execute` message (`E`, length 9,
/// unnamed portal, no row limit); the update did happen, and the error says the outcome is
/// unknown and how to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_write_whose_answer_is_lost_is_reported_as_unknown() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let schema = "m8test_write_unknown";
    let direct = seeded_schema(schema).await;
    let armed = std::sync::Arc::new(AtomicBool::new(false));
    let (port, cut) = answer_eating_relay(common::postgres_url().host_ports(5432).remove(0), b"E\0\0\0\x09\0\0\0\0\0", armed.clone()).await;
    let through = Db::connect(&relayed_url(port), Some(schema)).await.unwrap();
    armed.store(true, Ordering::SeqCst);

    let renamed = format!("Renamed {}", std::process::id());
    let err = sql::query::execute(&through, "UPDATE countries SET name = $1 WHERE id = $2", &[renamed.as_str().into(), 1.into()]).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::CommitUnknown { .. }), "{text}");
    assert!(text.contains("UPDATE countries") && text.contains("outcome is unknown") && text.contains("before running it again"), "{text}");
    assert_eq!(cut.load(Ordering::SeqCst), 1);
    through.close().await;
    let name = sql::query::query_frame(&direct, "SELECT name FROM countries WHERE id = $1", &[1.into()]).await.unwrap();
    assert_eq!(name.column("name").unwrap().str().unwrap().get(0), Some(renamed.as_str()), "the update reached the server and committed");

    // A server that is not there at all is still "unreachable": nothing was sent.
    let nobody = Db::connect(&ServiceUrl::new("postgres://postgres@127.0.0.1:1/test"), Some(schema)).await;
    assert!(matches!(nobody, Err(Error::Unreachable { .. })), "{:?}", nobody.err());
    direct.close().await;
    drop_schema(schema).await;
}

/// `seed_if_empty` seeds an empty database once: a second call, after a user was added, finds
/// the users there and seeds nothing (the count goes up by that one user, not by a world).
#[test]
fn seed_if_empty_seeds_an_empty_database_once() {
    let file = std::env::temp_dir().join(format!("helpers-seed-if-empty-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let settings = helpers::Settings { database_url: ServiceUrl::new(format!("sqlite://{}?mode=rwc", file.display())), ..common::settings() };
    let db = sql::SyncDb::new(&settings);
    let config = WorldConfig { users: 50, products: 20, ..WorldConfig::small() };
    assert_eq!(db.seed_if_empty(&config).unwrap(), 50);
    let joined = helpers::chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap().and_hms_opt(9, 0, 0).unwrap();
    db.create_user(&NewUser::parse("late_joiner", "late@example.com", "Late", "Joiner", joined).unwrap()).unwrap();
    assert_eq!(db.seed_if_empty(&config).unwrap(), 51, "not seeded again");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

/// The exploration calls on both backends: the tables (the migrations' bookkeeping left out)
/// with their sizes, the columns with types, nullability and keys, the indexes; and a histogram
/// counted by the database that agrees, bin by bin, with counting every fetched row here.
#[tokio::test]
async fn exploration_describes_the_schema_and_counts_histogram_bins_in_the_database() {
    on_both("explore", &small_world(), async |db| {
        if db.backend() == Backend::Postgres {
            sql::query::execute(db, "ANALYZE", &[]).await.unwrap();
        }
        let s = sql::explore::schema(db).await.unwrap();
        let tables = helpers::display::column_strings(&s.tables, "table_name").unwrap();
        assert!(tables.contains(&"users".to_string()) && tables.contains(&"orders".to_string()), "{tables:?}");
        assert!(!tables.iter().any(|t| t.contains("sqlx")), "{tables:?}");
        let users_at = tables.iter().position(|t| t == "users").unwrap();
        let rows = s.tables.column("rows").unwrap().cast(&polars::prelude::DataType::Int64).unwrap().i64().unwrap().get(users_at).unwrap();
        assert_eq!(rows, 1_000, "{}", s.tables);
        let cols = &s.columns;
        let pick = |name: &str| helpers::display::column_strings(cols, name).unwrap();
        let (t, c, nullable, key) = (pick("table_name"), pick("column_name"), pick("nullable"), pick("primary_key"));
        let at = |table: &str, column: &str| (0..t.len()).find(|&i| t[i] == table && c[i] == column).unwrap_or_else(|| panic!("no {table}.{column}"));
        assert_eq!((nullable[at("users", "email")].as_str(), key[at("users", "id")].as_str(), key[at("users", "email")].as_str()), ("no", "yes", "no"));
        let indexed = helpers::display::column_strings(&s.indexes, "table_name").unwrap();
        assert!(indexed.iter().any(|t| t == "users"), "{}", s.indexes);

        let hist = sql::explore::histogram(db, "users", "login_count", 8).await.unwrap();
        assert_eq!(hist.height(), 8);
        let counts: Vec<i64> = hist.column("rows").unwrap().i64().unwrap().into_no_null_iter().collect();
        assert_eq!(counts.iter().sum::<i64>(), 1_000);
        let all = sql::query::query_frame(db, "SELECT login_count FROM users", &[]).await.unwrap();
        let values: Vec<f64> = helpers::display::column_f64(&all, "login_count").unwrap();
        let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        let width = (hi - lo) / 8.0;
        let mut here = [0i64; 8];
        for v in values {
            here[(((v - lo) / width).floor() as usize).min(7)] += 1;
        }
        assert_eq!(counts, here, "bins in the database = bins counted here");
        assert!(matches!(sql::explore::histogram(db, "users; DROP TABLE users", "id", 4).await, Err(Error::Invalid { .. })));
    })
    .await;
}

/// A CSV export streams every row to the file, quotes what needs quoting, and a failed
/// statement leaves no file behind — and the connection usable (the next export works).
#[tokio::test]
async fn a_csv_export_writes_every_row_and_a_failed_one_leaves_no_file() {
    on_both("csv", &small_world(), async |db| {
        let dir = std::env::temp_dir().join(format!("helpers-csv-{}-{}", std::process::id(), db.backend().name()));
        let path = dir.join("users.csv");
        let sql = "SELECT id, username, last_name || ', ' || first_name AS name FROM users WHERE id <= $1 ORDER BY id";
        let e = sql::export::to_csv(db, sql, &[sql::query::Value::Int(50)], &path).await.unwrap();
        assert_eq!(e.rows, 50);
        assert_eq!(e.how, "row by row");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!((lines.len(), lines[0]), (51, "id,username,name"));
        assert!(lines[1].starts_with("1,") && lines[1].ends_with('"') && lines[1].contains(", "), "{}", lines[1]);
        assert_eq!(e.bytes as usize, text.len());
        let bad = dir.join("bad.csv");
        assert!(sql::export::to_csv(db, "SELECT nothing FROM nowhere", &[], &bad).await.is_err());
        assert!(!bad.exists() && !dir.join("bad.csv.partial").exists());
        let again = sql::export::to_csv(db, sql, &[sql::query::Value::Int(3)], &path).await.unwrap();
        assert_eq!(again.rows, 3);
        std::fs::remove_dir_all(&dir).unwrap();
    })
    .await;
}

/// Recommendations for a user whose compatriots bought nothing are the products most bought
/// everywhere (with 0 compatriot buyers), never an empty list; where compatriots did buy, theirs
/// come first.
#[tokio::test]
async fn popular_nearby_falls_back_to_popular_everywhere() {
    on_both("nearby", &small_world(), async |db| {
        let user = 1i64;
        let before = sql::analytics::popular_in_users_country(db, user, 3).await.unwrap();
        assert!(before[0].buyers > 0, "{before:?}");
        let compatriots = "SELECT u.id FROM users u JOIN addresses a ON a.id = u.address_id JOIN cities ci ON ci.id = a.city_id \
             WHERE ci.country_id = (SELECT ci2.country_id FROM users u2 JOIN addresses a2 ON a2.id = u2.address_id JOIN cities ci2 ON ci2.id = a2.city_id WHERE u2.id = $1)";
        sql::query::execute(db, &format!("DELETE FROM orders WHERE user_id IN ({compatriots})"), &[user.into()]).await.unwrap();
        let after = sql::analytics::popular_in_users_country(db, user, 3).await.unwrap();
        assert_eq!(after.len(), 3);
        assert!(after.iter().all(|p| p.buyers == 0), "{after:?}");
        let top = sql::query::query_frame(db, "SELECT product_id, COUNT(*) AS n FROM orders WHERE status = 'completed' GROUP BY product_id ORDER BY n DESC, product_id LIMIT 1", &[]).await.unwrap();
        assert_eq!(after[0].product_id, top.column("product_id").unwrap().i64().unwrap().get(0).unwrap());
    })
    .await;
}

/// Every type the COPY path decodes, with nulls, non-ASCII text, dates before 1970 and
/// after 2000, both JSON types and a column of nulls only: the frame `COPY` builds equals
/// the row-by-row one, column types included; a row limit cuts it and the pool works on.
#[test]
fn copy_and_row_by_row_give_the_same_frame_on_postgres() {
    const SQL: &str = r#"
        SELECT g::int2 AS i2, g::int4 AS i4, g::int8 * 1000000000 AS i8, (g / 3.0)::float4 AS f4, g / 7.0::float8 AS f8,
               'ü-' || g AS t, ('v' || g)::varchar(10) AS v, ('c' || (g % 10))::char(3) AS c, (g % 2 = 0) AS b,
               CASE WHEN g % 5 = 0 THEN NULL ELSE TIMESTAMP '1999-12-31 23:59:59' + g * INTERVAL '1 second 250 microseconds' END AS ts,
               TIMESTAMPTZ '2025-06-01 12:00:00+02' + g * INTERVAL '1 day' AS tstz, DATE '1969-12-25' + g AS d,
               jsonb_build_object('g', g, 's', 'x "y"') AS jb, json_build_object('g', g) AS j,
               NULL::text AS nothing, CASE WHEN g = 3 THEN NULL ELSE g END AS sometimes
        FROM generate_series(1, 2500) g
        WHERE g > $1 AND $2 = 'it''s' -- $3 is a comment"#;
    let url = common::postgres_url();
    let params = [sql::query::Value::Int(0), sql::query::Value::Text("it's".into())];
    run(async {
        let db = Db::connect(&url, None).await?;
        let by_copy = sql::query::query_frame(&db, SQL, &params).await?;
        let by_rows = sql::query::query_frame_row_by_row(&db, SQL, &params).await?;
        assert_eq!(by_copy.height(), 2500);
        assert_eq!(by_copy.schema(), by_rows.schema());
        assert!(by_copy.equals_missing(&by_rows), "{by_copy}\n{by_rows}");
        // Both ways on one connection (a pool of one): the COPY path's description of the
        // statement must not leave sqlx a cached statement with other parameter types than the
        // row-by-row path binds (it did: "incorrect binary data format in bind parameter 1").
        let one = Db::connect_sized(&url, None, 1).await?;
        for _ in 0..2 {
            assert!(sql::query::query_frame(&one, SQL, &params).await?.equals_missing(&by_rows));
            assert!(sql::query::query_frame_row_by_row(&one, SQL, &params).await?.equals_missing(&by_rows));
        }
        one.close().await;
        // No rows: no columns, both ways.
        let empty = sql::query::query_frame(&db, SQL, &[sql::query::Value::Int(10_000), sql::query::Value::Text("it's".into())]).await?;
        assert_eq!((empty.width(), empty.height()), (0, 0));
        // A cap: the first rows only, said so; the pool's next statement works.
        let (cut, was_cut) = sql::query::query_limited(&db, SQL, &params, sql::query::QueryLimits { timeout: Some(Duration::from_secs(5)), max_rows: Some(100) }).await?;
        assert!(was_cut && cut.height() == 100 && cut.equals_missing(&by_rows.head(Some(100))));
        let after = sql::query::query_frame(&db, "SELECT COUNT(*) AS n FROM generate_series(1, 10)", &[]).await?;
        assert_eq!(after.column("n").unwrap().i64().unwrap().get(0), Some(10));
        // A statement that fails — before COPY starts or while it streams — is an error, and the
        // pool's next statement still works (a failed COPY's connection is closed, not reused).
        for failing in ["SELECT nothing FROM nowhere", "SELECT 1 / 0 AS x", "SELECT g, 1 / (g - 5) AS y FROM generate_series(1, 10) g"] {
            assert!(sql::query::query_frame(&db, failing, &[]).await.is_err(), "{failing}");
            let ok = sql::query::query_frame(&db, "SELECT 42 AS n", &[]).await?;
            assert_eq!(ok.column("n").unwrap().i64().unwrap().get(0), Some(42), "after {failing}");
        }
        // A type COPY does not decode here goes row by row, which names it.
        let err = sql::query::query_frame(&db, "SELECT 1.5::numeric AS n", &[]).await.unwrap_err().to_string();
        assert!(err.contains("NUMERIC") && err.contains("CAST"), "{err}");
        db.close().await;
        Ok::<_, helpers::Error>(())
    })
    .unwrap();
}

