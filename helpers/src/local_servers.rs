//! The project's own servers beyond one of each kind — a PostgreSQL primary and replica, TLS
//! listeners, a Redis Cluster — started and stopped by `scripts/beyond.sh` on ports of their own
//! (docs/beyond-one-server.md). The shared servers are never touched.

use std::time::Duration;

use crate::error::{Error, Result};

/// The script that starts and stops the project's own servers beyond one of each kind.
pub const BEYOND_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/beyond.sh");

/// How long one call of the script may take (the PostgreSQL pair: initdb, a base backup, two
/// starts, ~5 s here; the Redis Cluster: six starts and its first syncs, ~2 s).
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
