//! The service check against the real services, and against a dead port.

mod common;

use std::time::{Duration, Instant};

use helpers::check::{PROBE_TIMEOUT, ServiceStatus, check_services};
use helpers::{Settings, run};

fn status<'a>(all: &'a [ServiceStatus], service: &str) -> &'a ServiceStatus {
    all.iter().find(|s| s.service == service).unwrap_or_else(|| panic!("no row for {service}: {all:?}"))
}

#[test]
fn every_live_service_reports_its_version_and_a_round_trip() {
    let settings = Settings { database_url: common::postgres_url(), ..common::settings() };
    let all = run(check_services(&settings));
    assert_eq!(all.len(), 4);
    for s in &all {
        assert!(s.reachable, "{} should be up at {}: {}", s.service, s.url, s.note);
        assert!(s.version.as_deref().is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())), "{s:?}");
        let latency = s.latency_ms.expect("a reachable service has a latency");
        assert!(latency > 0.0 && latency < PROBE_TIMEOUT.as_secs_f64() * 1e3, "{s:?}");
    }
    assert_eq!(status(&all, "PostgreSQL").variable, "DATABASE_URL");
}

#[test]
fn the_embedded_sqlite_database_is_checked_too() {
    let dir = std::env::temp_dir().join(format!("helpers-sqlite-check-{}", std::process::id()));
    let settings = Settings::from_lookup(|var| (var == "M8_OUT_DIR").then(|| dir.display().to_string())).unwrap();
    let all = run(check_services(&settings));
    let sqlite = status(&all, "SQLite");
    assert!(sqlite.reachable, "{sqlite:?}");
    assert!(sqlite.version.as_deref().unwrap_or_default().starts_with('3'), "{sqlite:?}");
    assert!(dir.join("module8.db").exists());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dead_services_are_named_masked_and_told_how_to_start_within_the_bound() {
    let started = Instant::now();
    let all = run(check_services(&common::dead_settings()));
    let took = started.elapsed();
    assert!(took < PROBE_TIMEOUT + Duration::from_secs(2), "the check took {took:?}");
    for (service, variable, compose) in [
        ("PostgreSQL", "DATABASE_URL", "postgres"),
        ("MongoDB", "MONGODB_URI", "mongo"),
        ("Redis", "REDIS_URL", "redis"),
        ("RabbitMQ", "AMQP_ADDR", "rabbitmq"),
    ] {
        let s = status(&all, service);
        assert!(!s.reachable, "{s:?}");
        assert!(s.url.contains(":***@127.0.0.1:1"), "{s:?}");
        assert!(s.note.contains(variable) && s.note.contains(&format!("docker compose up -d {compose}")), "{s:?}");
        assert!(s.version.is_none() && s.latency_ms.is_none());
    }
    let shown = format!("{all:?}{}", ServiceStatus::frame(&all).unwrap());
    for secret in ["pg-secret-1", "mongo-secret-2", "redis-secret-3", "amqp-secret-4"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[test]
fn settings_from_the_environment_never_show_a_password() {
    let settings = common::dead_settings();
    let shown = format!("{settings:?} {} {}", settings.database_url, settings.amqp_addr);
    assert!(!shown.contains("pg-secret-1") && !shown.contains("amqp-secret-4"), "{shown}");
    assert!(shown.contains("postgres://app:***@127.0.0.1:1/module8"), "{shown}");
}

/// Every part of `secret` with three or more characters that `text` holds.
fn leaked(text: &str, secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    let mut found = Vec::new();
    for i in 0..chars.len() {
        for j in i + 3..=chars.len() {
            let part: String = chars[i..j].iter().collect();
            if text.contains(&part) && !found.contains(&part) {
                found.push(part);
            }
        }
    }
    found
}

/// A password holding raw URL delimiters (`?`, `#`, `/`, `@`) makes the drivers cut the URL in
/// the middle of it and quote a piece (`invalid server address u:S3c`): no part of it longer
/// than two characters may reach an error or the service check — MongoDB (`Mongo::connect`,
/// `SyncMongo`) and PostgreSQL (`Db::connect`, `SyncDb`).
#[test]
fn no_part_of_a_password_with_url_delimiters_reaches_an_error() {
    for password in ["S3c?ret#pw/x", "p@ss/w0rd?x#y", "zz%3Fqq?kk#ww/vv", "S3c?ret"] {
        let settings = Settings::from_lookup(|var| match var {
            "MONGODB_URI" => Some(format!("mongodb://u:{password}@127.0.0.1:27017/module8_leak?directConnection=true")),
            "DATABASE_URL" => Some(format!("postgres://postgres:{password}@127.0.0.1:5432/test")),
            _ => None,
        })
        .unwrap();
        let mut said = Vec::new();
        match run(helpers::mongo::Mongo::connect(&settings.mongodb_uri, None)) {
            Ok(_) => said.push(format!("Mongo::connect succeeded with {password:?}")),
            Err(e) => said.push(format!("{e} | {e:?}")),
        }
        match helpers::mongo::SyncMongo::new(&settings).server() {
            Ok(_) => said.push(format!("SyncMongo::server succeeded with {password:?}")),
            Err(e) => said.push(format!("{e} | {e:?}")),
        }
        match run(helpers::sql::Db::connect(&settings.database_url, None)) {
            Ok(_) => said.push(format!("Db::connect succeeded with {password:?}")),
            Err(e) => said.push(format!("{e} | {e:?}")),
        }
        match helpers::sql::SyncDb::new(&settings).scalar("SELECT 1", &[]) {
            Ok(_) => said.push(format!("SyncDb succeeded with {password:?}")),
            Err(e) => said.push(format!("{e} | {e:?}")),
        }
        let all = run(check_services(&settings));
        for s in &all {
            said.push(format!("{s:?}"));
        }
        let text = said.join("\n");
        assert!(leaked(&text, password).is_empty(), "{password:?}: {:?} leaked in\n{text}", leaked(&text, password));
    }
}

/// The rule for the tests' PostgreSQL lives twice: in the crate and in `scripts/common.sh`, which
/// needs it before anything is compiled. Both answer the same on the same environments.
#[test]
fn the_scripts_and_the_crate_pick_the_same_test_postgres() {
    let common = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/common.sh");
    let cases: [&[(&str, &str)]; 6] = [
        &[],
        &[("TEST_POSTGRES_URL", "postgres://u@db.example:5433/t")],
        &[("DATABASE_URL", "postgresql://v@127.0.0.1:5432/x")],
        &[("DATABASE_URL", "sqlite://out/module8.db")],
        &[("M8_SERVICES", "docker")],
        &[("M8_SERVICES", "docker"), ("DATABASE_URL", "postgres://w@h/y"), ("TEST_POSTGRES_URL", " ")],
    ];
    for env in cases {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("source '{}' && test_postgres_url", common.display()))
            .env_remove("TEST_POSTGRES_URL")
            .env_remove("DATABASE_URL")
            .env_remove("M8_SERVICES")
            .envs(env.iter().copied())
            .output()
            .expect("bash runs");
        let scripts = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let crate_says = helpers::config::test_postgres_url(|var| env.iter().find(|(k, _)| *k == var).map(|(_, v)| v.to_string()));
        assert_eq!(scripts, crate_says.expose(), "{env:?}");
    }
}


/// A server that answers and refuses the login is a setting to fix, not a server to start: the
/// error names the variable, the password is masked, and no "start it" hint misleads.
#[test]
fn a_refused_login_names_the_setting_not_how_to_start_the_server() {
    let settings = common::settings();
    let host = |url: &helpers::ServiceUrl, port: u16| url.host_ports(port).first().map(|(h, p)| format!("{h}:{p}")).unwrap();
    let amqp = helpers::ServiceUrl::new(format!("amqp://guest:wrong-pass-3@{}/%2f", host(&settings.amqp_addr, 5672)));
    let redis = helpers::ServiceUrl::new(format!("redis://:wrong-pass-4@{}/0", host(&settings.redis_url, 6379)));
    let started = Instant::now();
    let errors = run(async {
        let amqp_err = match helpers::queue::Broker::connect(&amqp, helpers::queue::Topology::unique("tauth")).await {
            Ok(_) => panic!("a wrong password was accepted by RabbitMQ"),
            Err(e) => e,
        };
        let redis_err = helpers::cache::RedisCache::new(&redis, "tauth").unwrap().get::<i32>("k").await.unwrap_err();
        [(amqp_err, "AMQP_ADDR", "wrong-pass-3"), (redis_err, "REDIS_URL", "wrong-pass-4")]
    });
    for (err, var, password) in errors {
        let text = err.to_string();
        assert!(matches!(&err, helpers::Error::Config { var: v, .. } if *v == var), "{text}");
        assert!(text.contains("refused the login") && text.contains(&format!("check the user and password in {var}")), "{text}");
        assert!(!text.contains(password) && !text.contains("services.sh"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[test]
fn the_store_matrix_measures_all_four_stores_and_leaves_nothing_behind() {
    let settings = Settings { database_url: common::postgres_url(), ..common::settings() };
    let (rows, skipped) = helpers::stores::measure(&settings, 20, 200).unwrap();
    assert!(skipped.is_empty(), "{skipped:?}");
    let stores: Vec<&str> = rows.iter().map(|r| r.store.as_str()).collect();
    assert_eq!(stores, ["PostgreSQL", "MongoDB", "Redis", "RabbitMQ"]);
    for r in &rows {
        assert!(r.write_ms > 0.0 && r.read_ms > 0.0 && r.batch_per_s > 0.0, "{r:?}");
        assert!(r.write_ms < 1_000.0 && r.read_ms < 1_000.0, "{r:?}");
    }
    let pg = &rows[0];
    assert!(pg.durability.contains("synchronous_commit = ") && pg.durability.contains("fsync = "), "{pg:?}");
    // This machine's Redis keeps nothing on disk (DEVELOPERS.md), and the row must say so.
    assert!(rows[2].durability.contains("appendonly no"), "{:?}", rows[2]);
    // Nothing of the run is left: no table, no key.
    let db = helpers::sql::SyncDb::new(&settings);
    let tables = db.scalar("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'm8_matrix_%'", &[]).unwrap();
    assert_eq!(tables, 0);
    let keys = helpers::cache::SyncRedis::new(&settings).scan("module8:m8_matrix_*").unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[test]
fn a_store_that_does_not_answer_is_named_and_the_others_are_still_measured() {
    let mut settings = Settings { database_url: common::postgres_url(), ..common::settings() };
    settings.redis_url = helpers::ServiceUrl::new("redis://127.0.0.1:1");
    let (rows, skipped) = helpers::stores::measure(&settings, 5, 20).unwrap();
    assert_eq!(rows.iter().map(|r| r.store.as_str()).collect::<Vec<_>>(), ["PostgreSQL", "MongoDB", "RabbitMQ"]);
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].starts_with("Redis: ") && skipped[0].contains("127.0.0.1:1"), "{skipped:?}");
}
