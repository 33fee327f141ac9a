//! The service check: for each of the four services, is it reachable, which server version
//! answers, how long one round trip takes, at which (masked) URL, and — when it is down —
//! one sentence on how to start it.
//!
//! With a module's feature on, its service is checked with the real client (a connection,
//! a version query, a timed ping). With the feature off, the check still opens a TCP
//! connection to the URL's host and says which feature gives the full check.
//! Every probe is bounded by [`PROBE_TIMEOUT`]: a dead host never makes a cell hang.

use std::time::{Duration, Instant};

use polars::prelude::*;
use serde::Serialize;

use crate::config::{ServiceUrl, Settings, how_to_start, scrub};
use crate::error::Result;
use crate::runtime::within;

/// Bound of each service's whole probe (connect, version, round trip).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What the check found for one service.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceStatus {
    /// `PostgreSQL`, `SQLite`, `MongoDB`, `Redis` or `RabbitMQ`.
    pub service: String,
    /// The environment variable its URL comes from.
    pub variable: String,
    /// The URL, masked.
    pub url: String,
    /// Whether it answered.
    pub reachable: bool,
    /// The server's version, when the check could ask for it.
    pub version: Option<String>,
    /// One round trip (a ping or `SELECT 1`) in milliseconds, after connecting.
    pub latency_ms: Option<f64>,
    /// What went wrong and how to start it, or a note on the probe.
    pub note: String,
}

impl ServiceStatus {
    fn up(service: &str, variable: &str, url: &ServiceUrl, version: Option<String>, latency: Duration, note: &str) -> Self {
        ServiceStatus {
            service: service.into(),
            variable: variable.into(),
            url: url.masked(),
            reachable: true,
            version,
            latency_ms: Some(latency.as_secs_f64() * 1e3),
            note: note.into(),
        }
    }

    fn down(service: &str, variable: &str, url: &ServiceUrl, reason: impl std::fmt::Display) -> Self {
        ServiceStatus {
            service: service.into(),
            variable: variable.into(),
            url: url.masked(),
            reachable: false,
            version: None,
            latency_ms: None,
            // A client error can quote the URL it was given: never let the password through.
            note: format!("{}. {}", scrub(&reason.to_string(), url), how_to_start(service)),
        }
    }

    /// The statuses as a DataFrame: one row per service.
    pub fn frame(statuses: &[ServiceStatus]) -> Result<DataFrame> {
        Ok(DataFrame::new_infer_height(vec![
            Column::new("service".into(), statuses.iter().map(|s| s.service.as_str()).collect::<Vec<_>>()),
            Column::new("url".into(), statuses.iter().map(|s| s.url.as_str()).collect::<Vec<_>>()),
            Column::new("reachable".into(), statuses.iter().map(|s| s.reachable).collect::<Vec<_>>()),
            Column::new("version".into(), statuses.iter().map(|s| s.version.as_deref()).collect::<Vec<_>>()),
            Column::new("latency_ms".into(), statuses.iter().map(|s| s.latency_ms.map(|l| (l * 100.0).round() / 100.0)).collect::<Vec<_>>()),
            Column::new("note".into(), statuses.iter().map(|s| s.note.as_str()).collect::<Vec<_>>()),
        ])?)
    }
}


/// Checks all four services concurrently. Never fails: a service that does not answer is a
/// row with `reachable = false` and a note.
///
/// ```no_run
/// use helpers::prelude::*;
/// let statuses = run(check_services(&Settings::from_env()?));
/// for s in &statuses { println!("{} {} {}", s.service, s.url, s.reachable); }
/// # Ok::<(), helpers::Error>(())
/// ```
pub async fn check_services(settings: &Settings) -> Vec<ServiceStatus> {
    check_all(settings).await
}

/// [`check_services`] from a notebook cell: sync, the probes run (concurrently) on a runtime
/// of their own.
///
/// ```no_run
/// use helpers::prelude::*;
/// let statuses = ServiceStatus::check_all(&Settings::from_env()?);
/// # Ok::<(), helpers::Error>(())
/// ```
impl ServiceStatus {
    /// Probes the four services of `settings` (each bounded by the probe timeout).
    pub fn check_all(settings: &Settings) -> Vec<ServiceStatus> {
        crate::run(check_all(settings))
    }
}

async fn check_all(settings: &Settings) -> Vec<ServiceStatus> {
    let (sql, mongo, redis, amqp) = tokio::join!(
        bounded(check_sql(settings), "DATABASE_URL", &settings.database_url),
        bounded(check_mongo(&settings.mongodb_uri), "MONGODB_URI", &settings.mongodb_uri),
        bounded(check_redis(&settings.redis_url), "REDIS_URL", &settings.redis_url),
        bounded(check_amqp(&settings.amqp_addr), "AMQP_ADDR", &settings.amqp_addr),
    );
    vec![sql, mongo, redis, amqp]
}

async fn bounded(
    probe: impl std::future::Future<Output = ServiceStatus>,
    variable: &str,
    url: &ServiceUrl,
) -> ServiceStatus {
    match within("the probe", PROBE_TIMEOUT, probe).await {
        Ok(status) => status,
        Err(_) => ServiceStatus::down(
            service_name(variable, url),
            variable,
            url,
            format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        ),
    }
}

fn service_name(variable: &str, url: &ServiceUrl) -> &'static str {
    match variable {
        "DATABASE_URL" if url.scheme() == "sqlite" => "SQLite",
        "DATABASE_URL" => "PostgreSQL",
        "MONGODB_URI" => "MongoDB",
        "REDIS_URL" => "Redis",
        _ => "RabbitMQ",
    }
}

/// Opens (and closes) a TCP connection to the first host of `url`; returns the time it took.
pub async fn tcp_probe(url: &ServiceUrl, default_port: u16) -> std::result::Result<Duration, String> {
    let hosts = url.host_ports(default_port);
    let Some((host, port)) = hosts.first() else { return Err("the URL names no host".into()) };
    let started = Instant::now();
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), *port))).await {
        Ok(Ok(_stream)) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(format!("cannot connect to {host}:{port}: {e}")),
        Err(_) => Err(format!("cannot connect to {host}:{port}: no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

#[cfg_attr(feature = "sql", allow(dead_code))]
async fn tcp_only(service: &str, variable: &str, url: &ServiceUrl, port: u16, feature: &str) -> ServiceStatus {
    match tcp_probe(url, port).await {
        Ok(latency) => ServiceStatus::up(
            service,
            variable,
            url,
            None,
            latency,
            &format!("TCP connect only; load helpers with feature `{feature}` for the version and a real round trip"),
        ),
        Err(e) => ServiceStatus::down(service, variable, url, e),
    }
}

#[cfg(feature = "sql")]
async fn check_sql(settings: &Settings) -> ServiceStatus {
    use sqlx::Connection as _;
    let url = &settings.database_url;
    if url.scheme() == "sqlite" {
        if let Err(e) = std::fs::create_dir_all(&settings.out_dir) {
            return ServiceStatus::down("SQLite", "DATABASE_URL", url, format!("cannot create {}: {e}", settings.out_dir.display()));
        }
        let attempt = async {
            let mut conn = sqlx_sqlite::SqliteConnection::connect(url.expose()).await?;
            let version: String = sqlx::query_scalar("select sqlite_version()").fetch_one(&mut conn).await?;
            let started = Instant::now();
            let _: i64 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await?;
            let latency = started.elapsed();
            conn.close().await?;
            Ok::<_, sqlx::Error>((version, latency))
        };
        return match attempt.await {
            Ok((version, latency)) => ServiceStatus::up("SQLite", "DATABASE_URL", url, Some(version), latency, "embedded file database"),
            Err(e) => ServiceStatus::down("SQLite", "DATABASE_URL", url, e),
        };
    }
    let options = match crate::sql::postgres_options(url) {
        Ok(options) => options,
        Err(e) => return ServiceStatus::down("PostgreSQL", "DATABASE_URL", url, e),
    };
    let attempt = async {
        let mut conn = sqlx_postgres::PgConnection::connect_with(&options).await?;
        let version: String = sqlx::query_scalar("show server_version").fetch_one(&mut conn).await?;
        let started = Instant::now();
        let _: i32 = sqlx::query_scalar("select 1").fetch_one(&mut conn).await?;
        let latency = started.elapsed();
        conn.close().await?;
        Ok::<_, sqlx::Error>((version, latency))
    };
    match attempt.await {
        Ok((version, latency)) => ServiceStatus::up("PostgreSQL", "DATABASE_URL", url, Some(version), latency, ""),
        Err(e) => ServiceStatus::down("PostgreSQL", "DATABASE_URL", url, e),
    }
}

#[cfg(not(feature = "sql"))]
async fn check_sql(settings: &Settings) -> ServiceStatus {
    let url = &settings.database_url;
    if url.scheme() == "sqlite" {
        return ServiceStatus {
            service: "SQLite".into(),
            variable: "DATABASE_URL".into(),
            url: url.masked(),
            reachable: true,
            version: None,
            latency_ms: None,
            note: "embedded file database; load helpers with feature `sql` to open it".into(),
        };
    }
    tcp_only("PostgreSQL", "DATABASE_URL", url, 5432, "sql").await
}

#[cfg(feature = "mongo")]
async fn check_mongo(url: &ServiceUrl) -> ServiceStatus {
    use bson::doc;
    let attempt = async {
        let mut options = mongodb::options::ClientOptions::parse(url.expose()).await?;
        options.server_selection_timeout = Some(Duration::from_millis(2_500));
        options.connect_timeout = Some(Duration::from_millis(2_000));
        options.app_name = Some("module8-check".into());
        let client = mongodb::Client::with_options(options)?;
        let admin = client.database("admin");
        let info = admin.run_command(doc! { "buildInfo": 1 }).await?;
        let version = info.get_str("version").ok().map(str::to_string);
        let started = Instant::now();
        admin.run_command(doc! { "ping": 1 }).await?;
        let latency = started.elapsed();
        client.shutdown().await;
        Ok::<_, mongodb::error::Error>((version, latency))
    };
    match attempt.await {
        Ok((version, latency)) => ServiceStatus::up("MongoDB", "MONGODB_URI", url, version, latency, ""),
        Err(e) => ServiceStatus::down("MongoDB", "MONGODB_URI", url, first_line(&e.to_string())),
    }
}

#[cfg(not(feature = "mongo"))]
async fn check_mongo(url: &ServiceUrl) -> ServiceStatus {
    tcp_only("MongoDB", "MONGODB_URI", url, 27017, "mongo").await
}

#[cfg(feature = "cache")]
async fn check_redis(url: &ServiceUrl) -> ServiceStatus {
    use crate::cache::redis_cache;
    let attempt = async {
        let mut conn = redis_cache::connect(url, Duration::from_secs(2)).await?;
        // `INFO` to one node (on a cluster the client would ask every node and merge).
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server");
        let info: String = redis::from_redis_value(redis_cache::send_to_node(&mut conn, cmd, None).await?).map_err(redis::RedisError::from)?;
        let mut version = info.lines().find_map(|l| l.strip_prefix("redis_version:")).map(|v| v.trim().to_string());
        if let redis_cache::Conn::Cluster(c) = &mut conn {
            let masters = redis_cache::masters(c).await?;
            version = version.map(|v| format!("{v}, a cluster of {} masters", masters.len()));
        }
        let started = Instant::now();
        let _: redis::Value = redis::cmd("PING").query_async(&mut conn).await?;
        Ok::<_, crate::Error>((version, started.elapsed()))
    };
    match attempt.await {
        Ok((version, latency)) => ServiceStatus::up("Redis", "REDIS_URL", url, version, latency, ""),
        // `down` adds how to start it.
        Err(crate::Error::Unreachable { reason, .. }) => ServiceStatus::down("Redis", "REDIS_URL", url, reason),
        Err(e) => ServiceStatus::down("Redis", "REDIS_URL", url, e),
    }
}

#[cfg(not(feature = "cache"))]
async fn check_redis(url: &ServiceUrl) -> ServiceStatus {
    tcp_only("Redis", "REDIS_URL", url, 6379, "cache").await
}

/// A URL with several hosts is a cluster: every node is checked at once (each within the probe's
/// bound), and the row says how many answer; the round trip and version are the first live
/// node's.
#[cfg(feature = "queue")]
async fn check_amqp(url: &ServiceUrl) -> ServiceStatus {
    let hosts = url.host_ports(if url.scheme() == "amqps" { 5671 } else { 5672 });
    if hosts.len() <= 1 {
        return check_amqp_node(url).await;
    }
    let nodes: Vec<(String, ServiceUrl)> = hosts.iter().map(|(h, p)| (format!("{h}:{p}"), url.with_hosts(&format!("{h}:{p}")))).collect();
    let bound = PROBE_TIMEOUT.saturating_sub(Duration::from_millis(300));
    let checked = futures_util::future::join_all(nodes.iter().map(|(_, node)| tokio::time::timeout(bound, check_amqp_node(node)))).await;
    let down: Vec<String> = nodes.iter().zip(&checked).filter(|(_, c)| !c.as_ref().is_ok_and(|s| s.reachable)).map(|((name, _), _)| name.clone()).collect();
    match checked.into_iter().flatten().find(|s| s.reachable) {
        Some(first) => {
            let silent = if down.is_empty() { String::new() } else { format!("; not answering: {}", down.join(", ")) };
            ServiceStatus { url: url.masked(), note: format!("a cluster: {} of {} nodes answer{silent} (round trip = opening a channel on the first)", nodes.len() - down.len(), nodes.len()), ..first }
        }
        None => ServiceStatus::down("RabbitMQ", "AMQP_ADDR", url, format!("none of its {} nodes answered ({})", nodes.len(), down.join(", "))),
    }
}

#[cfg(feature = "queue")]
async fn check_amqp_node(url: &ServiceUrl) -> ServiceStatus {
    let attempt = async {
        let conn = lapin::Connection::connect(url.expose(), lapin::ConnectionProperties::default()).await?;
        let started = Instant::now();
        let channel = conn.create_channel().await?;
        let latency = started.elapsed();
        channel.close(200, "check done".into()).await?;
        conn.close(200, "check done".into()).await?;
        Ok::<_, lapin::Error>(latency)
    };
    match attempt.await {
        Ok(latency) => {
            let version = amqp_server_version(url).await;
            ServiceStatus::up("RabbitMQ", "AMQP_ADDR", url, version, latency, "round trip = opening a channel")
        }
        Err(e) => ServiceStatus::down("RabbitMQ", "AMQP_ADDR", url, e),
    }
}

/// Reads the broker's version from its `Connection.Start` frame (lapin does not expose the
/// server properties), then hangs up before authenticating.
#[cfg(feature = "queue")]
pub(crate) async fn amqp_server_version(url: &ServiceUrl) -> Option<String> {
    use amq_protocol::frame::{AMQPFrame, parsing::parse_frame};
    use amq_protocol::protocol::{AMQPClass, connection::AMQPMethod};
    use amq_protocol::types::AMQPValue;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if url.scheme() != "amqp" {
        return None; // TLS: not worth a second handshake just for the version
    }
    let (host, port) = url.host_ports(5672).into_iter().next()?;
    let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await.ok()?;
    stream.write_all(b"AMQP\x00\x00\x09\x01").await.ok()?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_frame(buf.as_slice()) {
            Ok((_, AMQPFrame::Method(_, AMQPClass::Connection(AMQPMethod::Start(start))))) => {
                return match start.server_properties.inner().get("version") {
                    Some(AMQPValue::LongString(v)) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    _ => None,
                };
            }
            Ok(_) => return None,
            Err(_) if buf.len() < 65_536 => continue, // incomplete frame: read more
            Err(_) => return None,
        }
    }
}

#[cfg(not(feature = "queue"))]
async fn check_amqp(url: &ServiceUrl) -> ServiceStatus {
    tcp_only("RabbitMQ", "AMQP_ADDR", url, 5672, "queue").await
}

#[cfg_attr(not(feature = "mongo"), allow(dead_code))]
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.len() > 300 { format!("{}…", &line[..line.char_indices().nth(300).map_or(line.len(), |(i, _)| i)]) } else { line.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_down_service_note_never_carries_the_password() {
        let url = ServiceUrl::new("postgres://app:hunter2@db.invalid:5432/x");
        let s = ServiceStatus::down("PostgreSQL", "DATABASE_URL", &url, "failed to connect to postgres://app:hunter2@db.invalid:5432/x (hunter2)");
        assert!(!s.note.contains("hunter2"), "{}", s.note);
        assert!(!s.url.contains("hunter2"));
        assert!(s.note.contains("docker compose up -d postgres"), "{}", s.note);
        assert!(s.note.contains("DATABASE_URL"));
    }

    #[test]
    fn the_frame_has_one_row_per_service() {
        let url = ServiceUrl::new("redis://127.0.0.1:1");
        let rows = vec![
            ServiceStatus::down("Redis", "REDIS_URL", &url, "refused"),
            ServiceStatus::up("Redis", "REDIS_URL", &url, Some("7".into()), Duration::from_micros(1500), ""),
        ];
        let df = ServiceStatus::frame(&rows).unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(df.column("latency_ms").unwrap().f64().unwrap().get(1), Some(1.5));
    }
}
