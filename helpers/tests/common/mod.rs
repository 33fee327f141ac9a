//! Shared by the integration tests: where the real services are.
#![allow(dead_code)]

use helpers::{ServiceUrl, Settings};

/// The settings the tests run against: the environment (and `.env`), as the notebooks see it.
pub fn settings() -> Settings {
    Settings::from_env().expect("the service URLs in the environment must be valid")
}

/// A PostgreSQL URL for tests ([`Settings::test_postgres_url`]).
pub fn postgres_url() -> ServiceUrl {
    settings().test_postgres_url()
}

/// Settings whose every URL points at a closed local port, with passwords that must never
/// be shown.
pub fn dead_settings() -> Settings {
    Settings {
        database_url: ServiceUrl::new("postgres://app:pg-secret-1@127.0.0.1:1/module8"),
        mongodb_uri: ServiceUrl::new("mongodb://root:mongo-secret-2@127.0.0.1:1/?directConnection=true"),
        redis_url: ServiceUrl::new("redis://:redis-secret-3@127.0.0.1:1/0"),
        amqp_addr: ServiceUrl::new("amqp://guest:amqp-secret-4@127.0.0.1:1/%2f"),
        out_dir: std::env::temp_dir().join("helpers-dead-settings"),
        ..Settings::default()
    }
}
