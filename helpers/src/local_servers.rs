//! The project's own servers beyond one of each kind — a PostgreSQL primary and replica, TLS
//! listeners, a Redis Cluster, a RabbitMQ cluster — started and stopped by `scripts/beyond.sh` on ports of their own
//! (docs/beyond-one-server.md). The shared servers are never touched.

use std::time::Duration;

use crate::error::{Error, Result};

/// The script that starts and stops the project's own servers beyond one of each kind.
pub const BEYOND_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/beyond.sh");

/// How long one call of the script may take (the PostgreSQL pair: initdb, a base backup, two
/// starts, ~5 s here; the Redis Cluster: six starts and its first syncs, ~2 s; the RabbitMQ
/// cluster: three Erlang nodes booting and forming it, 20–40 s, bounded at 75 s by the script).
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `scripts/beyond.sh <args>`, bounded by [`START_TIMEOUT`]: what it printed (its standard
/// output, then what it said on standard error), or an error with what it said.
pub async fn beyond_script(args: &[&str]) -> Result<String> {
    beyond_script_with(args, &[]).await
}

/// [`beyond_script`] with variables of its own (`M8_BEYOND_DIR`, a port).
pub async fn beyond_script_with(args: &[&str], env: &[(&str, String)]) -> Result<String> {
    let what = format!("scripts/beyond.sh {}", args.join(" "));
    let child = tokio::process::Command::new("bash").arg(BEYOND_SCRIPT).args(args).envs(env.iter().map(|(k, v)| (*k, v.as_str()))).kill_on_drop(true).output();
    let out = crate::runtime::within(&what, START_TIMEOUT, child).await?.map_err(|e| Error::io("running", BEYOND_SCRIPT, e))?;
    let said = String::from_utf8_lossy(&out.stderr).lines().filter(|l| !l.trim().is_empty()).map(|l| l.replace("\u{1b}[1m", "").replace("\u{1b}[0m", "")).collect::<Vec<_>>().join("\n");
    if !out.status.success() {
        return Err(Error::InvalidInput(format!("{what} failed: {said}")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned() + &said)
}

/// The directory the script keeps its files in (`M8_BEYOND_DIR`, else `/tmp/m8-beyond`).
pub fn beyond_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var("M8_BEYOND_DIR").unwrap_or_else(|_| "/tmp/m8-beyond".into()))
}

/// Servers the script starts under one name (`redis-cluster`, `rabbit-cluster`) from a first
/// port of their own, with `up`, `down`, `kill PORT` and `url`: the calls every such cluster
/// makes, in one place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// The script's word for them (`redis-cluster`).
    pub what: &'static str,
    /// The variable that moves their first port (`M8_REDIS_CLUSTER_PORT`).
    pub port_variable: &'static str,
    /// Their first port.
    pub first_port: u16,
    /// The script's folder (`M8_BEYOND_DIR`).
    pub dir: std::path::PathBuf,
}

impl Scripted {
    /// `what` on the port `port_variable` names, else `default_port`, under [`beyond_dir`].
    pub fn from_env(what: &'static str, port_variable: &'static str, default_port: u16) -> Scripted {
        let first_port = std::env::var(port_variable).ok().and_then(|p| p.parse().ok()).unwrap_or(default_port);
        Scripted { what, port_variable, first_port, dir: beyond_dir() }
    }

    /// `scripts/beyond.sh <what> <args>` with this folder and first port.
    pub async fn script(&self, args: &[&str]) -> Result<String> {
        let mut all = vec![self.what];
        all.extend(args);
        beyond_script_with(&all, &[("M8_BEYOND_DIR", self.dir.display().to_string()), (self.port_variable, self.first_port.to_string())]).await
    }

    /// Starts them (or finds them running) and returns the URL the script prints. A start that
    /// fails or is cut short by the bound can leave servers running: they are stopped by pid
    /// before the error is returned.
    pub async fn up(&self) -> Result<crate::config::ServiceUrl> {
        if let Err(e) = self.script(&["up"]).await {
            let _ = self.script(&["down"]).await;
            return Err(e);
        }
        let printed = self.script(&["url"]).await?;
        let url = printed.lines().find_map(|l| l.strip_prefix("URL=")).ok_or_else(|| Error::InvalidInput(format!("scripts/beyond.sh {} url printed no URL=", self.what)))?;
        Ok(crate::config::ServiceUrl::new(url.trim()))
    }
}
