//! The security checklist of the original, working: passwords stored only as **Argon2id**
//! hashes (the `argon2` crate, OWASP's parameters), a **rate limiter** on Redis in front of the
//! login, and **security events** — sign-ups, logins, refusals — logged through `tracing` under
//! the target `helpers::security`, never with a password in them.
//!
//! ```text
//! sign_up(username, email, password)
//!   validate::username / validate::email / password_rule   (refused with the reason, nothing stored)
//!   hash_password: Argon2id, a random 16-byte salt          → "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"
//!   INSERT INTO <table> (username, email, password_hash)    (a taken name or e-mail: refused, nothing stored)
//!   event sign_up
//! log_in(username, password, client)
//!   RateLimiter::hit(<username>)                            over the limit: refused before any hash is computed
//!   SELECT password_hash …; verify_password                 (an unknown name costs one hash too)
//!   event login_ok | login_failed | login_refused
//! ```
//!
//! [`SyncAccounts`] is the notebook's surface: a table of accounts of its own (the name given,
//! created when first used, dropped by [`SyncAccounts::remove`]) in the database
//! `DATABASE_URL` names, and the limiter's counters on the Redis `REDIS_URL` names.

use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;

use crate::cache::redis_cache::{self, Conn};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::frame_row;
use crate::runtime::{run, within};
use crate::sql::{Db, on_pool};

/// Fewest characters a password may have (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD: usize = 8;
/// Most characters a password may have: a bound on the work one login can ask for.
pub const MAX_PASSWORD: usize = 128;

/// Checks `password` against [`MIN_PASSWORD`]..=[`MAX_PASSWORD`] characters. The error names
/// the rule and the length, never the password.
///
/// ```
/// assert!(helpers::security::password_rule("correct horse").is_ok());
/// let err = helpers::security::password_rule("hunter2").unwrap_err().to_string();
/// assert!(err.contains("7 characters") && !err.contains("hunter2"), "{err}");
/// ```
pub fn password_rule(password: &str) -> Result<()> {
    let length = password.chars().count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        Ok(())
    } else {
        Err(Error::Invalid { field: "password".into(), reason: format!("the password has {length} characters ({MIN_PASSWORD}–{MAX_PASSWORD} allowed)") })
    }
}

/// `password` as an Argon2id hash in the PHC string format — algorithm, version, parameters,
/// salt and hash in one string, so that a later change of parameters still verifies the old
/// hashes. The parameters are the crate's defaults, OWASP's recommendation: 19 MiB of memory,
/// 2 passes, 1 lane. Each call draws a new 16-byte salt, so two accounts with the same
/// password store different hashes.
pub fn hash_password(password: &str) -> Result<String> {
    password_rule(password)?;
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| Error::InvalidInput(format!("the salt could not be encoded: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::InvalidInput(format!("the password could not be hashed: {e}")))
}

/// Whether `candidate` is the password `stored` (a PHC string from [`hash_password`]) was
/// made from, with the parameters written in `stored`. A string that is not a PHC hash is an
/// error, not a `false`.
///
/// ```
/// let stored = helpers::security::hash_password("correct horse").unwrap();
/// assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
/// assert!(helpers::security::verify_password(&stored, "correct horse").unwrap());
/// assert!(!helpers::security::verify_password(&stored, "correct horsE").unwrap());
/// ```
pub fn verify_password(stored: &str, candidate: &str) -> Result<bool> {
    let parsed = PasswordHash::new(stored).map_err(|e| Error::InvalidInput(format!("the stored password hash is not a PHC string: {e}")))?;
    Ok(Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok())
}

/// A **fixed-window** rate limiter on Redis: at most `limit` requests per `window` for each
/// client (a login name, an IP address), counted in one key per client that expires with its
/// window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimiter {
    prefix: String,
    limit: u32,
    window: Duration,
}

/// One request through a [`RateLimiter`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    /// Which request of its window this is (1 = the first).
    pub count: i64,
    /// Whether it is within the limit.
    pub allowed: bool,
    /// How long until the window ends and the count starts again, ms.
    pub resets_in_ms: i64,
}
frame_row!(Hit { count, allowed, resets_in_ms });

impl RateLimiter {
    /// `limit` requests (at least 1) per `window` (at least 1 ms) for each client, counted in
    /// the keys `<prefix><client>`.
    pub fn new(prefix: &str, limit: u32, window: Duration) -> Result<RateLimiter> {
        if limit == 0 || window.as_millis() == 0 {
            return Err(Error::InvalidInput(format!("a rate limit needs at least one request per window and a window of at least 1 ms (got {limit} per {window:?})")));
        }
        Ok(RateLimiter { prefix: prefix.to_string(), limit, window })
    }

    /// The Redis key that counts `client`'s requests.
    pub fn key(&self, client: &str) -> String {
        format!("{}{client}", self.prefix)
    }

    /// Counts one request of `client` and says whether it is allowed. One atomic round trip
    /// (`MULTI`): `SET key 0 PX <window> NX` starts a window when none is running, `INCR` counts
    /// (and keeps the key's expiry), `PTTL` reads what is left of the window. The window is
    /// set in the same transaction as the count, so a client that stops halfway never leaves a
    /// counter without an expiry; every Redis since 2.6 runs it.
    pub async fn hit(&self, conn: &mut Conn, client: &str) -> Result<Hit> {
        let key = self.key(client);
        let (count, left): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("SET").arg(&key).arg(0).arg("PX").arg(self.window.as_millis() as u64).arg("NX").ignore()
            .incr(&key, 1)
            .pttl(&key)
            .query_async(conn)
            .await
            .map_err(|e| Error::InvalidInput(format!("the rate limiter's Redis did not answer: {e}")))?;
        Ok(Hit { count, allowed: count <= i64::from(self.limit), resets_in_ms: left.max(0) })
    }
}

/// An account as the sign-up stored it: the hash, never the password.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignedUp {
    /// The login name, trimmed.
    pub username: String,
    /// The e-mail address, lower-cased.
    pub email: String,
    /// What the table holds instead of the password (PHC string).
    pub password_hash: String,
    /// Time spent hashing, ms.
    pub hash_ms: f64,
}
frame_row!(SignedUp { username, email, password_hash, hash_ms });

/// What one login attempt came to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Login {
    /// The name tried.
    pub username: String,
    /// Where the attempt came from (an address, a session).
    pub client: String,
    /// Which attempt of the rate window this was.
    pub attempt: i64,
    /// `ok`, `wrong password`, `no such user`, or `refused: rate limit`.
    pub outcome: String,
    /// Time the server spent on it, ms (hashing included).
    pub ms: f64,
}
frame_row!(Login { username, client, attempt, outcome, ms });

/// What a refused login has to wait, the limiter's window, at most.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Attempts per name per [`LOGIN_WINDOW`].
const LOGIN_LIMIT: u32 = 5;

/// The notebook's sign-up and login, on a table of accounts of its own.
#[derive(Clone, Debug)]
pub struct SyncAccounts {
    settings: Settings,
    table: String,
    limiter: RateLimiter,
}

impl SyncAccounts {
    /// Accounts in the table `table` (a lower-case SQL name: letters, digits, `_`; created when
    /// first used) of `DATABASE_URL`'s database; logins limited to 5 attempts per name per
    /// minute, counted on `REDIS_URL` under `module8:login:<table>:`.
    pub fn new(settings: &Settings, table: &str) -> Result<SyncAccounts> {
        let ok = !table.is_empty() && table.len() <= 63 && table.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') && table.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(Error::InvalidInput(format!("`{table}` is not a table name for the accounts: 1–63 lower-case letters, digits or `_`, not starting with a digit")));
        }
        let limiter = RateLimiter::new(&format!("module8:login:{table}:"), LOGIN_LIMIT, LOGIN_WINDOW)?;
        Ok(SyncAccounts { settings: settings.clone(), table: table.to_string(), limiter })
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The login's rate limiter (5 attempts per name per minute).
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    async fn open(&self) -> Result<Db> {
        let db = Db::open(&self.settings).await?;
        let create = format!("CREATE TABLE IF NOT EXISTS {} (username TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL)", self.table);
        on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(create.clone())).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(db)
    }

    /// Signs a user up: the name, e-mail and password checked (refused with the reason,
    /// nothing stored), the password hashed ([`hash_password`]) and only the hash stored. A
    /// name or e-mail already taken is refused and stores nothing. Logs `sign_up` (the name;
    /// no e-mail, no password) at `info`, or `sign_up_refused` with the reason at `warn`.
    pub fn sign_up(&self, username: &str, email: &str, password: &str) -> Result<SignedUp> {
        let checked = crate::validate::username(username).and_then(|u| Ok((u, crate::validate::email(email)?))).and_then(|ue| password_rule(password).map(|()| ue));
        let (username, email) = checked.inspect_err(|e| tracing::warn!(target: "helpers::security", event = "sign_up_refused", username, reason = %e, "security event"))?;
        let started = Instant::now();
        let password_hash = hash_password(password)?;
        let hash_ms = started.elapsed().as_secs_f64() * 1e3;
        let insert = format!("INSERT INTO {} (username, email, password_hash) VALUES ($1, $2, $3)", self.table);
        let stored = run(async {
            let db = self.open().await?;
            let out = on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(insert.clone())).bind(&username).bind(&email).bind(&password_hash).execute(pool).await.map(|r| r.rows_affected()));
            db.close().await;
            out
        });
        match stored {
            Ok(_) => {
                tracing::info!(target: "helpers::security", event = "sign_up", username, "security event");
                Ok(SignedUp { username, email, password_hash, hash_ms })
            }
            Err(e) => {
                let taken = matches!(&e, Error::Constraint { rule, .. } if rule.contains("unique"));
                let reason = if taken { format!("the name `{username}` or the e-mail `{email}` already has an account; nothing was stored") } else { e.to_string() };
                tracing::warn!(target: "helpers::security", event = "sign_up_refused", username, reason, "security event");
                Err(if taken { Error::Invalid { field: "username".into(), reason } } else { e })
            }
        }
    }

    /// The stored hash of `username`, if there is such an account.
    pub fn stored_hash(&self, username: &str) -> Result<Option<String>> {
        run(self.hash_of(username))
    }

    async fn hash_of(&self, username: &str) -> Result<Option<String>> {
        let select = format!("SELECT password_hash FROM {} WHERE username = $1", self.table);
        let db = self.open().await?;
        let out = on_pool!(&db, |pool| sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(select.clone())).bind(username).fetch_optional(pool).await);
        db.close().await;
        out
    }

    /// One login attempt of `username` from `client`. The rate limiter counts it first: past 5
    /// attempts a minute for that name it is refused before any hash is computed. Otherwise the
    /// password is checked against the stored hash; a name with no account costs one hash too
    /// (against a constant hash made with the same parameters), so the time taken does not tell which names exist. Logs
    /// `login_ok` at `info`, `login_failed` and `login_refused` at `warn` — name, client and
    /// attempt, never the password.
    pub fn log_in(&self, username: &str, password: &str, client: &str) -> Result<Login> {
        let started = Instant::now();
        let redis_url = self.settings.redis_url.clone();
        let (attempt, stored) = run(async {
            let mut conn = redis_cache::connect(&redis_url, Duration::from_secs(2)).await?;
            let hit = within("the login's rate limit", Duration::from_secs(2), self.limiter.hit(&mut conn, username)).await??;
            if !hit.allowed {
                return Ok::<_, Error>((hit, None));
            }
            Ok((hit, Some(self.hash_of(username).await?)))
        })?;
        let outcome = match stored {
            None => "refused: rate limit",
            Some(Some(hash)) if verify_password(&hash, password)? => "ok",
            Some(Some(_)) => "wrong password",
            Some(None) => {
                let _ = verify_password(DUMMY_HASH, password);
                "no such user"
            }
        };
        let login = Login { username: username.into(), client: client.into(), attempt: attempt.count, outcome: outcome.into(), ms: started.elapsed().as_secs_f64() * 1e3 };
        match outcome {
            "ok" => tracing::info!(target: "helpers::security", event = "login_ok", username, client, attempt = attempt.count, "security event"),
            "refused: rate limit" => tracing::warn!(target: "helpers::security", event = "login_refused", username, client, attempt = attempt.count, retry_in_ms = attempt.resets_in_ms, "security event"),
            _ => tracing::warn!(target: "helpers::security", event = "login_failed", username, client, attempt = attempt.count, reason = outcome, "security event"),
        }
        Ok(login)
    }

    /// Removes the accounts table and the limiter's counters (and `also`'s, for a limiter of
    /// the lesson's own), and says what went.
    pub fn remove(&self, also: &[&RateLimiter]) -> Result<String> {
        let drop = format!("DROP TABLE IF EXISTS {}", self.table);
        let url = self.settings.redis_url.clone();
        let patterns: Vec<String> = std::iter::once(&self.limiter).chain(also.iter().copied()).map(|l| format!("{}*", l.prefix)).collect();
        run(async {
            let db = Db::open(&self.settings).await?;
            on_pool!(&db, |pool| sqlx::query(sqlx::AssertSqlSafe(drop.clone())).execute(pool).await.map(|r| r.rows_affected()))?;
            db.close().await;
            let mut conn = redis_cache::connect(&url, Duration::from_secs(2)).await?;
            let mut keys = Vec::new();
            for p in &patterns {
                keys.extend(redis_cache::scan_keys(&mut conn, p, 500).await.map_err(|e| Error::InvalidInput(format!("Redis SCAN {p}: {e}")))?);
            }
            for k in &keys {
                let _: i64 = redis::cmd("DEL").arg(k).query_async(&mut conn).await.map_err(|e| Error::InvalidInput(format!("Redis DEL: {e}")))?;
            }
            Ok(format!("dropped the table {} and {} rate-limit counter(s)", self.table, keys.len()))
        })
    }
}

/// `requests` requests of `client` through `limiter`, one after another as fast as Redis
/// answers (the Redis `settings.redis_url` names): what each was told.
pub fn burst(settings: &Settings, limiter: &RateLimiter, client: &str, requests: usize) -> Result<Vec<Hit>> {
    let url = settings.redis_url.clone();
    run(async {
        let mut conn = redis_cache::connect(&url, Duration::from_secs(2)).await?;
        let mut hits = Vec::with_capacity(requests);
        for _ in 0..requests {
            hits.push(within("a rate-limited request", Duration::from_secs(2), limiter.hit(&mut conn, client)).await??);
        }
        Ok(hits)
    })
}

/// A hash to check an unknown name's password against, so that "no such user" costs what
/// "wrong password" costs: made once (of a password no account has) with the same parameters
/// as [`hash_password`] — a constant, so that not even the first unknown name pays for making it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$D0Vfsi2xbWJvqFyCS1LIUQ$JEj70geoNe6eG4mmPhN0u3TZqr9yjVH6AKhGn/cGR/E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hashes_of_one_password_differ_and_both_verify() {
        let (a, b) = (hash_password("correct horse battery").unwrap(), hash_password("correct horse battery").unwrap());
        assert_ne!(a, b, "the salt must differ");
        assert!(verify_password(&a, "correct horse battery").unwrap() && verify_password(&b, "correct horse battery").unwrap());
        assert!(!a.contains("correct"));
    }

    #[test]
    fn the_unknown_names_hash_has_the_parameters_of_every_other() {
        assert!(verify_password(DUMMY_HASH, "no account has this password").unwrap());
        let real = hash_password("no account has this password").unwrap();
        assert_eq!(real.split('$').nth(3), DUMMY_HASH.split('$').nth(3), "m, t and p must be the same, so the time is the same");
    }

    #[test]
    fn a_stored_value_that_is_not_a_hash_is_an_error_not_a_mismatch() {
        let err = verify_password("plain-text-password", "plain-text-password").unwrap_err().to_string();
        assert!(err.contains("not a PHC string"), "{err}");
    }

    #[test]
    fn a_bad_table_name_and_a_zero_limit_are_refused_by_name() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        let err = SyncAccounts::new(&settings, "accounts; DROP TABLE users").unwrap_err().to_string();
        assert!(err.contains("not a table name"), "{err}");
        assert!(RateLimiter::new("k:", 0, Duration::from_secs(1)).unwrap_err().to_string().contains("at least one request"));
    }
}
