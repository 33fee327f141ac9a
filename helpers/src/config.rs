//! Service URLs from the environment (and a `.env` file), with documented defaults.
//!
//! | variable | default | used by |
//! |---|---|---|
//! | `DATABASE_URL` | `sqlite://<project>/out/module8.db?mode=rwc` (an embedded file) | module 1 |
//! | `MONGODB_URI` | `mongodb://127.0.0.1:27017` | module 2 |
//! | `REDIS_URL` | `redis://127.0.0.1:6379` | module 3 |
//! | `AMQP_ADDR` | `amqp://guest:guest@127.0.0.1:5672/%2f` | module 4 |
//! | `M8_OUT_DIR` | `<project>/out` | figures, exports, the bench report |
//!
//! A value set in the process environment wins over `.env`; `.env` is looked for in the
//! current directory and its parents (so a notebook in `notebooks/` finds the project's).
//! Every URL is a [`ServiceUrl`], which shows itself masked: `postgres://app:***@host/db`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Default for `MONGODB_URI`.
pub const DEFAULT_MONGODB_URI: &str = "mongodb://127.0.0.1:27017";
/// Default for `REDIS_URL`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default for `AMQP_ADDR` (RabbitMQ's out-of-the-box user, local connections only).
pub const DEFAULT_AMQP_ADDR: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A connection URL that never shows its secrets: `Display` and `Debug` print it masked.
/// Use [`ServiceUrl::expose`] only to hand it to a client library.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// Wraps a URL as given.
    pub fn new(raw: impl Into<String>) -> Self {
        ServiceUrl(raw.into())
    }

    /// The URL with its password and secret query parameters, for a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be shown: passwords replaced by `***`.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }

    /// The scheme, lower-cased (`postgres`, `sqlite`, `mongodb+srv`, …).
    pub fn scheme(&self) -> String {
        self.0.split(':').next().unwrap_or_default().to_ascii_lowercase()
    }

    /// `host:port` pairs of the URL's authority (several for a MongoDB replica set), with the
    /// given default port where none is written. Empty for a file URL such as SQLite's.
    pub fn host_ports(&self, default_port: u16) -> Vec<(String, u16)> {
        if self.scheme() == "sqlite" {
            return Vec::new();
        }
        let Some((_, rest)) = self.0.split_once("://") else { return Vec::new() };
        let (_, after) = split_userinfo(rest);
        let hosts = after.split(['/', '?', '#']).next().unwrap_or_default();
        hosts.split(',').filter(|h| !h.is_empty()).map(|h| split_host_port(h, default_port)).collect()
    }

    /// The same URL with its hosts (what follows the user-info, up to the path) replaced by
    /// `hosts`, e.g. `127.0.0.1:40123` to go through a local relay; user-info, path and query
    /// are kept as they are.
    ///
    /// ```
    /// use helpers::ServiceUrl;
    /// let url = ServiceUrl::new("amqp://app:p?a#s/s@mq:5672/%2f");
    /// assert_eq!(url.with_hosts("127.0.0.1:40123").expose(), "amqp://app:p?a#s/s@127.0.0.1:40123/%2f");
    /// ```
    pub fn with_hosts(&self, hosts: &str) -> ServiceUrl {
        let Some((scheme, rest)) = self.0.split_once("://") else { return self.clone() };
        let (userinfo, after) = split_userinfo(rest);
        let tail = after.find(['/', '?', '#']).map_or("", |i| &after[i..]);
        ServiceUrl(match userinfo {
            Some(user) => format!("{scheme}://{user}@{hosts}{tail}"),
            None => format!("{scheme}://{hosts}{tail}"),
        })
    }
}

fn split_host_port(h: &str, default_port: u16) -> (String, u16) {
    let (host, port) = match h.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (v6, None),
        },
        None => match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        },
    };
    (host.to_string(), port.and_then(|p| p.parse().ok()).unwrap_or(default_port))
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceUrl({:?})", self.masked())
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: &[&str] =
    &["password", "pass", "pwd", "secret", "token", "sslpassword", "api_key", "apikey", "authsecret"];

/// Replaces the password of a URL (and the values of secret query parameters) with `***`.
///
/// Works on URLs that the `url` crate cannot parse too: several hosts
/// (`mongodb://u:p@h1,h2/db`), `sqlite:` paths, and passwords holding any character unescaped
/// (`/`, `?`, `#`, `@`, `:`) or percent-encoded: the user-info ends at the last `@` (see `split_userinfo`).
///
/// ```
/// use helpers::mask_url;
/// assert_eq!(mask_url("postgres://app:s3cret@db:5432/shop"), "postgres://app:***@db:5432/shop");
/// assert_eq!(mask_url("amqp://app:p?a#s/s@mq:5672/%2f"), "amqp://app:***@mq:5672/%2f");
/// assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
pub fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return mask_after_hosts(raw) };
    let (userinfo, after) = split_userinfo(rest);
    let mut out = String::with_capacity(raw.len());
    out.push_str(scheme);
    out.push_str("://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _password)) => {
                out.push_str(user);
                out.push_str(":***");
            }
            None => out.push_str(userinfo),
        }
        out.push('@');
    }
    out.push_str(&mask_after_hosts(after));
    out
}

/// Splits what follows `scheme://` into the user-info (`user:password`, if any) and the rest
/// (hosts, path, query).
///
/// The user-info ends at the **last** `@` of the URL: a host never contains one, while a
/// password may hold any character unescaped, `@`, `/`, `?` and `#` included. A URL whose path
/// or query holds an `@` (`…/db?application_name=a@b`) is therefore split too late: masking
/// then hides more than the password, never less, and the hosts read from it are wrong, so
/// the connection attempt names the problem.
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    }
}

/// Masks the secret query parameters of what follows the user-info.
fn mask_after_hosts(after: &str) -> String {
    match after.find(['?', '#']) {
        Some(i) => {
            let (head, query) = after.split_at(i);
            format!("{head}{}", mask_query(query))
        }
        None => after.to_string(),
    }
}

fn mask_query(query: &str) -> String {
    let Some(lead) = query.chars().next() else { return String::new() };
    let body = &query[1..];
    let parts: Vec<String> = body
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{lead}{}", parts.join("&"))
}

/// Where the service URLs and output folder come from. Cheap to clone; shows masked.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite:` (default, an embedded file) or `postgres://`.
    pub database_url: ServiceUrl,
    /// `MONGODB_URI`: `mongodb://` or `mongodb+srv://`.
    pub mongodb_uri: ServiceUrl,
    /// `REDIS_URL`: `redis://`, `rediss://` or `redis+unix://`.
    pub redis_url: ServiceUrl,
    /// `AMQP_ADDR`: `amqp://` or `amqps://`.
    pub amqp_addr: ServiceUrl,
    /// `M8_OUT_DIR`: where figures, exports and reports are written.
    pub out_dir: PathBuf,
}

impl Default for Settings {
    /// The documented defaults, ignoring the environment.
    fn default() -> Self {
        let root = project_root();
        let out_dir = root.join("out");
        Settings {
            database_url: ServiceUrl::new(default_database_url(&out_dir)),
            mongodb_uri: ServiceUrl::new(DEFAULT_MONGODB_URI),
            redis_url: ServiceUrl::new(DEFAULT_REDIS_URL),
            amqp_addr: ServiceUrl::new(DEFAULT_AMQP_ADDR),
            out_dir,
        }
    }
}

impl Settings {
    /// Reads the settings from the environment, after loading `.env` if there is one.
    /// Fails with an error naming the variable when a value has the wrong scheme.
    ///
    /// ```no_run
    /// let settings = helpers::Settings::from_env()?;
    /// println!("{}", settings.database_url); // masked
    /// # Ok::<(), helpers::Error>(())
    /// ```
    pub fn from_env() -> Result<Self> {
        let _ = dotenvy::dotenv();
        // RUST_LOG (from the environment or .env) turns on the helpers' log: crate::trace.
        crate::trace::init();
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Builds settings from any variable lookup (the environment, a map in a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let defaults = Settings::default();
        let out_dir = match lookup("M8_OUT_DIR").filter(|v| !v.trim().is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => defaults.out_dir.clone(),
        };
        let database_default = if lookup("M8_OUT_DIR").is_some() {
            ServiceUrl::new(default_database_url(&out_dir))
        } else {
            defaults.database_url
        };
        Ok(Settings {
            database_url: read_url(&lookup, "DATABASE_URL", &["sqlite", "postgres", "postgresql"], database_default)?,
            mongodb_uri: read_url(&lookup, "MONGODB_URI", &["mongodb", "mongodb+srv"], defaults.mongodb_uri)?,
            redis_url: read_url(&lookup, "REDIS_URL", &["redis", "rediss", "redis+unix", "unix"], defaults.redis_url)?,
            amqp_addr: read_url(&lookup, "AMQP_ADDR", &["amqp", "amqps"], defaults.amqp_addr)?,
            out_dir,
        })
    }

    /// `out_dir/figures`, where every figure is written as PNG and SVG.
    pub fn figures_dir(&self) -> PathBuf {
        self.out_dir.join("figures")
    }

    /// The PostgreSQL that the tests, the bench and the notebook runner's `postgres` variant
    /// use, by [`test_postgres_url`]'s rule over the environment.
    pub fn test_postgres_url(&self) -> ServiceUrl {
        test_postgres_url(|var| match var {
            "DATABASE_URL" => Some(self.database_url.expose().to_string()),
            other => std::env::var(other).ok(),
        })
    }
}

/// The rule for the PostgreSQL of the tests, the bench and the runner's `postgres` variant:
/// `TEST_POSTGRES_URL`, else `DATABASE_URL` when that is PostgreSQL, else the compose file's
/// database with `M8_SERVICES=docker`, else [`DEFAULT_TEST_POSTGRES_URL`] (the local server of
/// every development and CI machine). `scripts/common.sh` (`test_postgres_url`) must apply the
/// same rule before anything is compiled (it starts the servers); `tests/services.rs` runs
/// both on the same environments and compares.
pub fn test_postgres_url(lookup: impl Fn(&str) -> Option<String>) -> ServiceUrl {
    let set = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
    if let Some(url) = set("TEST_POSTGRES_URL") {
        return ServiceUrl::new(url);
    }
    if let Some(url) = set("DATABASE_URL").filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://")) {
        return ServiceUrl::new(url);
    }
    if set("M8_SERVICES").as_deref() == Some("docker") {
        return ServiceUrl::new(COMPOSE_POSTGRES_URL);
    }
    ServiceUrl::new(DEFAULT_TEST_POSTGRES_URL)
}

/// The PostgreSQL of `docker-compose.yml` (`M8_SERVICES=docker`).
pub const COMPOSE_POSTGRES_URL: &str = "postgres://app:app@127.0.0.1:5432/module8";

/// The variable that lets seeds and bulk loads replace data this module did not write
/// (`M8_ALLOW_RESET=1`). Without it they only replace data in the module's own places (see
/// [`is_module_name`]), in places that hold nothing, or where they wrote before.
pub const ALLOW_RESET_VAR: &str = "M8_ALLOW_RESET";

/// The table (SQL) and collection (MongoDB) a seed or bulk load writes beside its data: where it
/// exists, the data is the module's, and the next seed may replace it.
pub const OWNER_MARKER: &str = "module8_seeded";

/// Whether [`ALLOW_RESET_VAR`] is set to `1`, `true` or `yes`.
pub fn reset_allowed() -> bool {
    allows_reset(std::env::var(ALLOW_RESET_VAR).ok().as_deref())
}

fn allows_reset(value: Option<&str>) -> bool {
    matches!(value.map(|v| v.trim().to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes"))
}

/// Whether a schema, database or file stem is the module's own: `module8`, or `module8_…` /
/// `module8-…` (the bench's scratch places).
pub fn is_module_name(name: &str) -> bool {
    name == "module8" || name.strip_prefix("module8").is_some_and(|rest| rest.starts_with(['_', '-']))
}

/// The PostgreSQL database the tests and the bench use when no URL names one.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn read_url(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    schemes: &[&str],
    default: ServiceUrl,
) -> Result<ServiceUrl> {
    let Some(value) = lookup(var) else { return Ok(default) };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(Error::Config { var, reason: "it is set but empty; unset it to use the default".into() });
    }
    let url = ServiceUrl::new(value);
    let scheme = url.scheme();
    if !url.expose().contains(':') || !schemes.contains(&scheme.as_str()) {
        return Err(Error::Config {
            var,
            reason: format!(
                "`{}` does not start with {}",
                url.masked(),
                schemes.iter().map(|s| format!("{s}:")).collect::<Vec<_>>().join(" or ")
            ),
        });
    }
    Ok(url)
}

fn default_database_url(out_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", out_dir.join("module8.db").display())
}

/// The project's root: the nearest ancestor of the current directory that holds
/// `helpers/Cargo.toml` (so notebooks in `notebooks/` and tests in `helpers/` agree),
/// else the current directory.
pub fn project_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join("helpers").join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

#[cfg(test)]
mod reset_tests {
    use super::{allows_reset, is_module_name};

    #[test]
    fn only_an_explicit_yes_allows_a_reset() {
        for yes in ["1", "true", "YES", " yes "] {
            assert!(allows_reset(Some(yes)), "{yes}");
        }
        for no in [None, Some(""), Some("0"), Some("false"), Some("no"), Some("please")] {
            assert!(!allows_reset(no), "{no:?}");
        }
    }

    #[test]
    fn the_module_owns_module8_and_its_scratch_places_only() {
        for own in ["module8", "module8_bench", "module8-bench", "module8_bench_geo"] {
            assert!(is_module_name(own), "{own}");
        }
        for theirs in ["public", "test", "module80", "module8x", "my_module8", "Module8", ""] {
            assert!(!is_module_name(theirs), "{theirs}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_password_is_replaced_by_stars() {
        assert_eq!(mask_url("postgres://app:s3cret@db:5432/shop"), "postgres://app:***@db:5432/shop");
        assert_eq!(mask_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn a_password_with_slashes_and_ats_is_masked_whole() {
        let masked = mask_url("postgres://app:p/a@ss@db/x");
        assert_eq!(masked, "postgres://app:***@db/x");
        assert!(!masked.contains("p/a"));
    }

    #[test]
    fn a_password_with_query_and_fragment_characters_is_masked_whole() {
        for (url, masked) in [
            ("postgres://app:pa?ss@db:5432/shop", "postgres://app:***@db:5432/shop"),
            ("postgres://app:pa#ss@db/shop?sslmode=require", "postgres://app:***@db/shop?sslmode=require"),
            ("amqp://app:a:b/c?d#e@f@mq:5672/%2f", "amqp://app:***@mq:5672/%2f"),
            ("redis://:%40%3A%2F@cache:6379/0", "redis://:***@cache:6379/0"),
        ] {
            assert_eq!(mask_url(url), masked, "{url}");
        }
    }

    #[test]
    fn an_at_sign_in_the_query_hides_more_never_less() {
        // The user-info ends at the last '@' (a password may hold one): here that is in the
        // query, so the host is hidden too. The password is not shown either way.
        let masked = mask_url("postgres://app:s3cret@db/shop?application_name=a@b");
        assert_eq!(masked, "postgres://app:***@b");
        assert!(!masked.contains("s3cret"));
    }

    #[test]
    fn hosts_are_read_after_a_password_holding_url_characters() {
        let url = ServiceUrl::new("postgres://app:p/a?s#s@db.internal:6543/shop");
        assert_eq!(url.host_ports(5432), vec![("db.internal".to_string(), 6543)]);
    }

    proptest::proptest! {
        /// Whatever a password holds, the masked URL is the URL with the password replaced:
        /// nothing of the password is left.
        #[test]
        fn no_password_survives_masking(
            scheme in proptest::sample::select(vec!["postgres", "postgresql", "mongodb", "redis", "rediss", "amqp", "amqps"]),
            user in "[a-z][a-z0-9_.-]{0,8}",
            password in r"[^\x00]{1,24}",
            hosts in "[a-z][a-z0-9.-]{0,10}(:[0-9]{1,5})?(,[a-z][a-z0-9.-]{0,10}(:[0-9]{1,5})?){0,2}",
            path in "(/[a-zA-Z0-9_%.-]{0,10})?",
            query in r"(\?[a-z]{1,6}=[a-zA-Z0-9]{0,6}(&[a-z]{1,6}=[a-zA-Z0-9]{0,6}){0,2})?",
        ) {
            let url = format!("{scheme}://{user}:{password}@{hosts}{path}{query}");
            let masked = mask_url(&url);
            let query_masked = mask_after_hosts(&query);
            proptest::prop_assert_eq!(masked, format!("{scheme}://{user}:***@{hosts}{path}{query_masked}"));
            let shown = format!("{:?}", ServiceUrl::new(url.clone()));
            let secret = format!(":{}@", password);
            proptest::prop_assert!(!shown.contains(&secret), "{} shows {}", shown, secret);
        }
    }

    #[test]
    fn every_host_of_a_replica_set_survives_masking() {
        assert_eq!(
            mask_url("mongodb://root:hunter2@h1:27017,h2:27018/app?replicaSet=rs0"),
            "mongodb://root:***@h1:27017,h2:27018/app?replicaSet=rs0"
        );
    }

    #[test]
    fn secret_query_parameters_are_masked() {
        assert_eq!(
            mask_url("postgres://db/x?user=a&password=b&sslmode=require"),
            "postgres://db/x?user=a&password=***&sslmode=require"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in ["redis://127.0.0.1:6379", "sqlite://out/m.db?mode=rwc", "mongodb://u@h/db", "sqlite::memory:"] {
            assert_eq!(mask_url(url), url);
        }
    }

    #[test]
    fn service_url_never_shows_its_password() {
        let url = ServiceUrl::new("redis://:topsecret@cache:6379/0");
        assert!(!format!("{url}").contains("topsecret"));
        assert!(!format!("{url:?}").contains("topsecret"));
        assert_eq!(url.expose(), "redis://:topsecret@cache:6379/0");
    }

    #[test]
    fn host_ports_lists_every_host_with_default_ports() {
        let url = ServiceUrl::new("mongodb://u:p@h1,h2:27018/db");
        assert_eq!(url.host_ports(27017), vec![("h1".into(), 27017), ("h2".into(), 27018)]);
        assert!(ServiceUrl::new("sqlite://x.db").host_ports(0).is_empty());
        assert_eq!(ServiceUrl::new("redis://[::1]:6380").host_ports(6379), vec![("::1".into(), 6380)]);
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn unset_variables_fall_back_to_the_documented_defaults() {
        let s = Settings::from_lookup(lookup(&[])).unwrap();
        assert_eq!(s.redis_url.expose(), DEFAULT_REDIS_URL);
        assert_eq!(s.mongodb_uri.expose(), DEFAULT_MONGODB_URI);
        assert_eq!(s.amqp_addr.expose(), DEFAULT_AMQP_ADDR);
        assert!(s.database_url.expose().starts_with("sqlite://"));
    }

    #[test]
    fn a_url_with_the_wrong_scheme_names_the_variable_and_hides_the_password() {
        let err = Settings::from_lookup(lookup(&[("REDIS_URL", "http://u:pw123@x")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("REDIS_URL"), "{msg}");
        assert!(msg.contains("redis:"), "{msg}");
        assert!(!msg.contains("pw123"), "{msg}");
    }

    #[test]
    fn an_empty_value_is_refused() {
        let err = Settings::from_lookup(lookup(&[("DATABASE_URL", " ")])).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"));
    }

    #[test]
    fn out_dir_moves_the_default_sqlite_file_with_it() {
        let s = Settings::from_lookup(lookup(&[("M8_OUT_DIR", "/tmp/m8")])).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite:///tmp/m8/module8.db?mode=rwc");
        assert_eq!(s.figures_dir(), PathBuf::from("/tmp/m8/figures"));
    }
}
