//! [`SyncRedis`]: the cache lessons from a notebook cell — plain values in, rows out.
//!
//! Each method is sync and non-generic: it connects, runs one lesson on a runtime of its
//! own and closes, so a cell compiles a call, not a Redis client (see `sql::SyncDb` for
//! why). The code a lesson is about is shown with `helpers::source!(…)`.

use std::time::Duration;

use super::{Latency, Phase, TierCount};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::runtime::{run, within};

/// Redis at `REDIS_URL` and the cache lessons, for notebook cells. Holds only the settings.
///
/// ```no_run
/// use helpers::prelude::*;
/// let redis = cache::SyncRedis::new(&Settings::from_env()?);
/// println!("{}", redis.command(&["SET", "module8:greeting", "hello", "EX", "60"])?);
/// println!("{}", redis.command(&["GET", "module8:greeting"])?);
/// # Ok::<(), helpers::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SyncRedis {
    settings: Settings,
}

impl SyncRedis {
    /// Redis at `settings.redis_url` (nothing is opened yet).
    pub fn new(settings: &Settings) -> SyncRedis {
        SyncRedis { settings: settings.clone() }
    }

    /// Sends one command (`["SET", "module8:k", "v", "EX", "60"]`) and returns Redis's reply as
    /// `redis-cli` would print it. Bounded: 5 s.
    ///
    /// What a learner types here reaches a Redis that other programs may share, so only the
    /// commands on keys, values and their expiry are sent, and only on keys under
    /// [`COMMAND_KEY_PREFIX`] (`module8:`). Anything else — `FLUSHALL`, `FLUSHDB`, `KEYS`, a `SCAN`
    /// without `MATCH module8:…`, `CONFIG`, `SHUTDOWN`, `DEBUG`, `SWAPDB`, `MIGRATE`, a script,
    /// a key of another application — is [`Error::NotAllowed`], refused before connecting.
    pub fn command(&self, args: &[&str]) -> Result<String> {
        self.send(args).map(|reply| show(&reply))
    }

    /// `GET key`: the value as text, or `None` on a miss. The key must start with
    /// [`COMMAND_KEY_PREFIX`], as for [`SyncRedis::command`].
    pub fn get(&self, key: &str) -> Result<Option<String>> {
        match self.send(&["GET", key])? {
            redis::Value::Nil => Ok(None),
            redis::Value::BulkString(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            other => Err(Error::Codec { what: format!("the reply to GET {key}"), reason: format!("expected a string or nil, got {}", show(&other)) }),
        }
    }

    /// `SET key value PX <ttl in ms>`: stores `value`, to expire after `ttl`.
    pub fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<()> {
        self.send(&["SET", key, value, "PX", &ttl.as_millis().max(1).to_string()]).map(drop)
    }

    /// `INCR key`: the counter after adding one (a key that did not exist starts at 0). The
    /// key must start with [`COMMAND_KEY_PREFIX`].
    pub fn incr(&self, key: &str) -> Result<i64> {
        match self.send(&["INCR", key])? {
            redis::Value::Int(n) => Ok(n),
            other => Err(Error::Codec { what: format!("the reply to INCR {key}"), reason: format!("expected an integer, got {}", show(&other)) }),
        }
    }

    /// `DEL key …`: how many of `keys` existed (and are gone now). Takes `&[&str]` or
    /// `&[String]` (what [`SyncRedis::scan`] returns).
    pub fn del(&self, keys: &[impl AsRef<str>]) -> Result<i64> {
        // A generic method is compiled in the notebook cell, where only the crate's public
        // items can be reached: it hands over to the non-generic one at once.
        self.del_keys(&keys.iter().map(AsRef::as_ref).collect::<Vec<&str>>())
    }

    /// [`SyncRedis::del`] for `&[&str]`.
    pub fn del_keys(&self, keys: &[&str]) -> Result<i64> {
        let mut args = vec!["DEL"];
        args.extend(keys);
        if keys.is_empty() {
            return Ok(0);
        }
        match self.send(&args)? {
            redis::Value::Int(n) => Ok(n),
            other => Err(Error::Codec { what: "the reply to DEL".into(), reason: format!("expected an integer, got {}", show(&other)) }),
        }
    }

    /// Every key that `pattern` matches, found the way a cache is invalidated by pattern:
    /// `SCAN <cursor> MATCH pattern COUNT 1000` on one connection until the cursor is back at
    /// 0 — never `KEYS`, which blocks Redis while it walks everything. Bounded: 5 s in all.
    pub fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        allowed(&["SCAN", "0", "MATCH", pattern])?;
        let url = self.settings.redis_url.clone();
        logged(&["SCAN", "…", "MATCH", pattern], || {
            run(within(format!("SCAN … MATCH {pattern}"), Duration::from_secs(5), async move {
                let mut conn = connect(&url).await?;
                // On a cluster, every master in turn (`redis_cache::scan_keys`).
                Ok::<_, Error>(super::redis_cache::scan_keys(&mut conn, pattern, 1000).await?)
            }))?
        })
    }

    /// Checks `args` ([`allowed`]), connects, sends them, and logs what was sent.
    fn send(&self, args: &[&str]) -> Result<redis::Value> {
        allowed(args)?;
        let (name, rest) = args.split_first().ok_or_else(|| Error::InvalidInput("a Redis command needs a name".into()))?;
        let url = self.settings.redis_url.clone();
        logged(args, || {
            run(async move {
                let mut conn = connect(&url).await?;
                let mut cmd = redis::cmd(name);
                for a in rest {
                    cmd.arg(*a);
                }
                Ok::<_, Error>(within(format!("Redis {name}"), Duration::from_secs(5), cmd.query_async(&mut conn)).await??)
            })
        })
    }

    /// `concurrent` simultaneous misses of one key whose computation takes `work`: how many
    /// computations ran (see [`super::stampede`]).
    pub fn stampede(&self, concurrent: usize, work: Duration) -> Result<usize> {
        run(super::stampede(&self.settings, concurrent, work))
    }

    /// The tiered cache read by two processes (see [`super::tiered_reads`]).
    pub fn tiered_reads(&self, keys: usize, rounds: usize) -> Result<(Vec<TierCount>, Vec<Latency>)> {
        run(super::tiered_reads(&self.settings, keys, rounds))
    }

    /// Cached recommendations and predictions for `user_ids` (see [`super::cached_recommendations`]).
    #[cfg(feature = "sql")]
    pub fn cached_recommendations(&self, user_ids: &[i64]) -> Result<Vec<super::CachedRead>> {
        run(super::cached_recommendations(&self.settings, user_ids))
    }

    /// Trending items per category and product details through cache-aside (see
    /// [`super::cached_catalog`]).
    #[cfg(feature = "sql")]
    pub fn cached_catalog(&self, categories: &[&str], product_ids: &[i64]) -> Result<Vec<super::CachedRead>> {
        run(super::cached_catalog(&self.settings, categories, product_ids))
    }

    /// A precomputed aggregate going stale and fresh again (see [`super::stale_and_fresh`]).
    #[cfg(feature = "sql")]
    pub fn stale_and_fresh(&self) -> Result<Vec<super::StaleCheck>> {
        run(super::stale_and_fresh(&self.settings))
    }

    /// Reads through a link to Redis that is cut and restored (see [`super::degradation`]).
    pub fn degradation(&self, reads: usize) -> Result<Vec<Phase>> {
        run(super::degradation(&self.settings, reads))
    }

    /// p50 / p95 / p99 of every tier (see [`super::measure_latencies`]).
    pub fn latencies(&self, samples: usize) -> Result<Vec<Latency>> {
        run(super::measure_latencies(&self.settings, samples))
    }
}

/// A connection to Redis (or a Redis Cluster) at `url` for one call (5 s to connect).
async fn connect(url: &crate::config::ServiceUrl) -> Result<super::redis_cache::Conn> {
    super::redis_cache::connect(url, Duration::from_secs(5)).await
}

/// Runs `call`, logging the command it sends (values masked, see `trace::redis_args`), its time
/// and its outcome.
fn logged<T>(args: &[&str], call: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let out = call();
    let (shown, ms) = (crate::trace::redis_args(args), started.elapsed().as_secs_f64() * 1e3);
    match &out {
        Ok(_) => tracing::info!(target: "helpers::cache", ms, "{shown}"),
        Err(e) => tracing::warn!(target: "helpers::cache", ms, error = %e, "{shown}"),
    }
    out
}

/// Every key a [`SyncRedis::command`] names must start with this: the module's namespace, which
/// the helpers' own caches (`module8:<namespace>:`) and the exercises (`module8:exercise:…`) use.
pub const COMMAND_KEY_PREFIX: &str = "module8:";

/// Where an allowed command names its keys.
#[derive(Clone, Copy)]
enum Keys {
    /// No key (`PING`).
    None,
    /// The first argument (`GET k`, `SET k v EX 60`, `HSET k f v`).
    First,
    /// Every argument (`DEL k1 k2`, `MGET k1 k2`).
    All,
    /// Every other argument, from the first (`MSET k1 v1 k2 v2`).
    Pairs,
    /// `SCAN cursor MATCH module8:… [COUNT n]`: the pattern must stay in the namespace.
    Scan,
}

/// The commands [`SyncRedis::command`] sends, and where their keys are.
fn keys_of(name: &str) -> Option<Keys> {
    Some(match name {
        "PING" | "ECHO" | "TIME" => Keys::None,
        "GET" | "SET" | "SETNX" | "SETEX" | "PSETEX" | "GETSET" | "GETDEL" | "GETEX" | "APPEND" | "STRLEN" | "GETRANGE" | "SETRANGE"
        | "INCR" | "DECR" | "INCRBY" | "DECRBY" | "INCRBYFLOAT" | "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" | "EXPIRETIME"
        | "PERSIST" | "TTL" | "PTTL" | "TYPE" | "HGET" | "HSET" | "HSETNX" | "HMSET" | "HMGET" | "HGETALL" | "HDEL" | "HINCRBY"
        | "HINCRBYFLOAT" | "HKEYS" | "HVALS" | "HLEN" | "HEXISTS" | "LPUSH" | "RPUSH" | "LPOP" | "RPOP" | "LRANGE" | "LLEN"
        | "LINDEX" | "LSET" | "LREM" | "LTRIM" | "SADD" | "SREM" | "SMEMBERS" | "SISMEMBER" | "SCARD" | "SPOP" | "SRANDMEMBER"
        | "ZADD" | "ZRANGE" | "ZREVRANGE" | "ZRANGEBYSCORE" | "ZSCORE" | "ZINCRBY" | "ZREM" | "ZCARD" | "ZRANK" | "ZREVRANK"
        | "ZCOUNT" | "PFADD" | "XADD" | "XLEN" | "XRANGE" => Keys::First,
        "MGET" | "DEL" | "UNLINK" | "EXISTS" | "TOUCH" | "PFCOUNT" => Keys::All,
        "MSET" | "MSETNX" => Keys::Pairs,
        "SCAN" => Keys::Scan,
        _ => return None,
    })
}

/// Why a command that is not sent is refused, in words.
fn why_refused(name: &str) -> &'static str {
    match name {
        "FLUSHALL" => "it deletes every key of every database on this Redis, not only the exercise's",
        "FLUSHDB" => "it deletes every key of the database, not only the exercise's",
        "KEYS" => "it walks every key of the server in one go and blocks every other client meanwhile",
        "SWAPDB" | "MOVE" | "COPY" | "RENAME" | "RENAMENX" | "MIGRATE" | "RESTORE" => "it moves keys to where other programs read them",
        "CONFIG" | "SHUTDOWN" | "DEBUG" | "SAVE" | "BGSAVE" | "BGREWRITEAOF" | "REPLICAOF" | "SLAVEOF" | "FAILOVER" | "ACL" | "MODULE"
        | "CLIENT" | "CLUSTER" | "MONITOR" | "SYNC" | "PSYNC" | "SELECT" | "RESET" | "LATENCY" | "MEMORY" | "SLOWLOG" => {
            "it administers the server that other programs share"
        }
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "SCRIPT" | "FUNCTION" | "FCALL" | "FCALL_RO" => {
            "a script can reach any key, and its keys cannot be checked here"
        }
        _ => "the exercises only read and write keys, values and their expiry",
    }
}

/// Checks a raw command before it is sent (see [`SyncRedis::command`]).
fn allowed(args: &[&str]) -> Result<()> {
    let Some((name, rest)) = args.split_first() else { return Ok(()) };
    let upper = name.to_ascii_uppercase();
    let how = format!(
        "Use keys under `{COMMAND_KEY_PREFIX}` (e.g. `{COMMAND_KEY_PREFIX}nb03:greeting`) with GET, SET … EX, DEL, EXPIRE, TTL, MGET, HSET, INCR, or SCAN 0 MATCH {COMMAND_KEY_PREFIX}*; run anything else in redis-cli against a Redis of your own"
    );
    let Some(keys) = keys_of(&upper) else {
        return Err(Error::NotAllowed { what: format!("the Redis command `{upper}`"), reason: why_refused(&upper).into(), how });
    };
    let keys: Vec<&str> = match keys {
        Keys::None => Vec::new(),
        Keys::First => rest.first().copied().into_iter().collect(),
        Keys::All => rest.to_vec(),
        Keys::Pairs => rest.iter().step_by(2).copied().collect(),
        Keys::Scan => {
            let pattern = rest.iter().position(|a| a.eq_ignore_ascii_case("MATCH")).and_then(|i| rest.get(i + 1));
            match pattern {
                Some(p) if p.starts_with(COMMAND_KEY_PREFIX) => Vec::new(),
                _ => {
                    return Err(Error::NotAllowed {
                        what: format!("`{}`", args.join(" ")),
                        reason: format!("a SCAN without `MATCH {COMMAND_KEY_PREFIX}…` walks the keys of every program on this Redis"),
                        how,
                    });
                }
            }
        }
    };
    match keys.iter().find(|k| !k.starts_with(COMMAND_KEY_PREFIX)) {
        Some(key) => Err(Error::NotAllowed {
            what: format!("the key `{key}` in `{upper}`"),
            reason: format!("keys outside `{COMMAND_KEY_PREFIX}` may belong to other programs on this Redis"),
            how: format!("Name it `{COMMAND_KEY_PREFIX}{key}` instead"),
        }),
        None => Ok(()),
    }
}

/// A reply as `redis-cli` shows it.
fn show(value: &redis::Value) -> String {
    use redis::Value as V;
    match value {
        V::Nil => "(nil)".into(),
        V::Int(i) => format!("(integer) {i}"),
        V::BulkString(bytes) => format!("\"{}\"", String::from_utf8_lossy(bytes)),
        V::SimpleString(s) => s.clone(),
        V::Okay => "OK".into(),
        V::Array(items) | V::Set(items) => {
            if items.is_empty() {
                "(empty array)".into()
            } else {
                items.iter().enumerate().map(|(i, v)| format!("{}) {}", i + 1, show(v))).collect::<Vec<_>>().join("\n")
            }
        }
        V::Double(d) => format!("(double) {d}"),
        V::Boolean(b) => format!("(boolean) {b}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_on_keys_of_the_namespace_are_sent_and_the_rest_refused_with_a_reason() {
        for ok in [
            &["PING"][..],
            &["set", "module8:nb03:greeting", "hello", "EX", "60"],
            &["DEL", "module8:a", "module8:b"],
            &["MSET", "module8:a", "1", "module8:b", "2"],
            &["SCAN", "0", "MATCH", "module8:nb03:*", "COUNT", "100"],
        ] {
            assert!(allowed(ok).is_ok(), "{ok:?}: {:?}", allowed(ok));
        }
        for (refused, says) in [
            (&["FLUSHALL"][..], "every key of every database"),
            (&["flushdb"], "every key of the database"),
            (&["KEYS", "*"], "blocks every other client"),
            (&["CONFIG", "SET", "maxmemory", "1"], "administers the server"),
            (&["SHUTDOWN", "NOSAVE"], "administers the server"),
            (&["EVAL", "return redis.call('FLUSHALL')", "0"], "script"),
            (&["SCAN", "0"], "SCAN without"),
            (&["SCAN", "0", "MATCH", "*"], "SCAN without"),
            (&["SCAN", "0", "MATCH", "module8*"], "SCAN without"),
            (&["SET", "session:42", "x"], "other programs"),
            (&["DEL", "module8:a", "users"], "other programs"),
            (&["MSET", "module8:a", "1", "b", "2"], "other programs"),
        ] {
            let err = allowed(refused).unwrap_err();
            assert!(matches!(err, Error::NotAllowed { .. }) && err.to_string().contains(says), "{refused:?}: {err}");
            assert!(err.to_string().contains("module8:"), "says what to do: {err}");
        }
    }
}
