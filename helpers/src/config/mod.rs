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

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Default for `MONGODB_URI`.
pub const DEFAULT_MONGODB_URI: &str = "mongodb://127.0.0.1:27017";
/// Default for `REDIS_URL`.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Default for `AMQP_ADDR` (RabbitMQ's out-of-the-box user, local connections only).
pub const DEFAULT_AMQP_ADDR: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

mod url;
pub use url::{ServiceUrl, how_to_start, mask_url, variable_of};
pub(crate) use url::scrub;

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
    /// `DATABASE_SCHEMA`: the PostgreSQL schema the module's tables live in (default
    /// [`DEFAULT_SCHEMA`]); a plain name, checked when the settings are read.
    pub database_schema: String,
    /// `MONGODB_DATABASE`: the MongoDB database, unless the URL names one (see
    /// [`Settings::mongodb_database_name`]).
    pub mongodb_database: Option<String>,
    /// `M8_OUT_DIR`: where figures, exports and reports are written.
    pub out_dir: PathBuf,
}

/// The PostgreSQL schema the tables live in unless `DATABASE_SCHEMA` says otherwise.
pub const DEFAULT_SCHEMA: &str = "module8";

/// The MongoDB database used unless the URL or `MONGODB_DATABASE` names another.
pub const DEFAULT_MONGODB_DATABASE: &str = "module8";

/// Refuses a PostgreSQL schema name that is not plain (letters, digits, `_`): it is written
/// into `search_path`, so nothing else may get through.
pub fn check_schema(schema: &str) -> Result<()> {
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Config { var: "DATABASE_SCHEMA", reason: format!("`{schema}` is not a plain schema name (letters, digits, _)") });
    }
    Ok(())
}

/// The setting naming the PEM file of the certificate authority that TLS servers' certificates
/// are verified against (a company's own CA, or `scripts/beyond.sh ca`'s local one).
pub const CA_FILE_VAR: &str = "M8_CA_FILE";

/// Refuses an `M8_CA_FILE` that is not a readable PEM file holding a certificate, before any
/// connection is tried with it.
pub fn check_ca_file(path: &str) -> Result<PathBuf> {
    let refused = |reason: String| Error::Config { var: CA_FILE_VAR, reason };
    let text = std::fs::read_to_string(path).map_err(|e| refused(format!("`{path}` cannot be read: {e}")))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(refused(format!("`{path}` holds no PEM certificate (no `-----BEGIN CERTIFICATE-----` line)")));
    }
    Ok(PathBuf::from(path))
}

/// Refuses a MongoDB database name the server would refuse (empty, or holding `/ \ . " $` or a
/// space).
pub fn check_mongodb_database(name: &str) -> Result<()> {
    if name.is_empty() || name.contains(['/', '\\', '.', ' ', '"', '$']) {
        return Err(Error::Config { var: "MONGODB_DATABASE", reason: format!("`{name}` is not a valid database name") });
    }
    Ok(())
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
            database_schema: DEFAULT_SCHEMA.into(),
            mongodb_database: None,
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
        let set = |var: &str| lookup(var).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let out_dir = match lookup("M8_OUT_DIR").filter(|v| !v.trim().is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => defaults.out_dir.clone(),
        };
        let database_default = if lookup("M8_OUT_DIR").is_some() {
            ServiceUrl::new(default_database_url(&out_dir))
        } else {
            defaults.database_url
        };
        // M8_CA_FILE: the CA every URL's TLS server certificate is verified against.
        let ca = set(CA_FILE_VAR).map(|path| check_ca_file(&path)).transpose()?;
        let with_ca = |url: ServiceUrl| match &ca {
            Some(path) => url.with_ca_file(path),
            None => url,
        };
        Ok(Settings {
            database_url: with_ca(read_url(&lookup, "DATABASE_URL", &["sqlite", "postgres", "postgresql"], database_default)?),
            mongodb_uri: with_ca(read_url(&lookup, "MONGODB_URI", &["mongodb", "mongodb+srv"], defaults.mongodb_uri)?),
            redis_url: with_ca(read_url(&lookup, "REDIS_URL", &["redis", "rediss", "redis+unix", "unix"], defaults.redis_url)?),
            amqp_addr: with_ca(read_url(&lookup, "AMQP_ADDR", &["amqp", "amqps"], defaults.amqp_addr)?),
            database_schema: match set("DATABASE_SCHEMA") {
                Some(schema) => check_schema(&schema).map(|()| schema)?,
                None => defaults.database_schema,
            },
            mongodb_database: set("MONGODB_DATABASE").map(|name| check_mongodb_database(&name).map(|()| name)).transpose()?,
            out_dir,
        })
    }

    /// The MongoDB database the notebooks work in: the one the URL names
    /// (`mongodb://host/<db>`), else `MONGODB_DATABASE`, else [`DEFAULT_MONGODB_DATABASE`].
    pub fn mongodb_database_name(&self) -> String {
        self.mongodb_uri.path_database().or_else(|| self.mongodb_database.clone()).unwrap_or_else(|| DEFAULT_MONGODB_DATABASE.into())
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
    fn the_schema_and_the_mongodb_database_are_settings_checked_when_read() {
        let s = Settings::from_lookup(lookup(&[])).unwrap();
        assert_eq!((s.database_schema.as_str(), s.mongodb_database_name()), (DEFAULT_SCHEMA, DEFAULT_MONGODB_DATABASE.to_string()));
        let s = Settings::from_lookup(lookup(&[("DATABASE_SCHEMA", "shop_2"), ("MONGODB_DATABASE", " analytics ")])).unwrap();
        assert_eq!((s.database_schema.as_str(), s.mongodb_database_name()), ("shop_2", "analytics".to_string()));
        // The URL's database wins over MONGODB_DATABASE; a blank value is the default.
        let s = Settings::from_lookup(lookup(&[("MONGODB_URI", "mongodb://u:p@h/shop"), ("MONGODB_DATABASE", "analytics"), ("DATABASE_SCHEMA", " ")])).unwrap();
        assert_eq!((s.database_schema.as_str(), s.mongodb_database_name()), (DEFAULT_SCHEMA, "shop".to_string()));
        for (var, value) in [("DATABASE_SCHEMA", "x; DROP TABLE users"), ("DATABASE_SCHEMA", "public.users"), ("MONGODB_DATABASE", "a.b"), ("MONGODB_DATABASE", "a/b")] {
            let err = Settings::from_lookup(lookup(&[(var, value)])).unwrap_err();
            assert!(matches!(&err, Error::Config { var: v, .. } if *v == var) && err.to_string().contains(value), "{var}={value}: {err}");
        }
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
