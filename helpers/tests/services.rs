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
