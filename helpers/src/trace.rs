//! Watching the helpers work: service calls emit [`tracing`] events under the target
//! `helpers::…`. At level `info`: each SQL statement written in a cell (its text, the number
//! of bound values, the rows, the time), each MongoDB `find` / `aggregate` / `count` (the
//! filter or pipeline as sent), each raw Redis command (as typed, `AUTH` masked; not its reply). At level `debug`, the traffic of the
//! lessons' loops: every cache command (name and key), every message published and every
//! consumer decision (ack, retry later, dead-letter). Nothing is printed unless asked:
//!
//! ```text
//! RUST_LOG=helpers=info                    # the calls written in cells
//! RUST_LOG=helpers=debug                   # and every cache command, message and decision
//! RUST_LOG=helpers::sql=info               # only SQL statements
//! RUST_LOG=helpers=info,sqlx::query=debug  # and sqlx's own log of every statement, repositories included
//! ```
//!
//! [`Settings::from_env`](crate::Settings::from_env) calls [`init`]: a program (the bench, a
//! service of your own, a kernel started with `RUST_LOG`) prints the log on stderr. In a
//! notebook, [`show`] turns it on from a cell — on stdout, under each cell — and off again
//! with `show("off")`. Values that could hold secrets are never logged: bound SQL values are
//! counted, not shown; URLs are masked; Redis `AUTH` arguments become `***`; cached values are
//! not logged, only their keys.

use std::sync::OnceLock;

use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::{Registry, reload};

use crate::error::{Error, Result};

/// The installed printer's filter, which [`show`] changes; `None` when another printer was
/// installed in this process before ours.
static PRINTER: OnceLock<Option<reload::Handle<Targets, Registry>>> = OnceLock::new();

fn install(filter: Targets, to_stdout: bool) -> Option<reload::Handle<Targets, Registry>> {
    let (filter, handle) = reload::Layer::new(filter);
    let writer = if to_stdout { BoxMakeWriter::new(std::io::stdout) } else { BoxMakeWriter::new(std::io::stderr) };
    let printer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false);
    tracing_subscriber::registry().with(filter).with(printer).try_init().ok().map(|_| handle)
}

/// Installs a log printer on stderr filtered by `RUST_LOG` (targets and levels, as
/// `helpers=info,sqlx::query=debug`; a value that does not parse shows nothing), once per process, when `RUST_LOG`
/// is set and not empty; otherwise does nothing. Returns whether our printer is installed.
pub fn init() -> bool {
    if std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty()) {
        let filter = std::env::var("RUST_LOG").ok().and_then(|v| v.parse::<Targets>().ok()).unwrap_or_default();
        PRINTER.get_or_init(|| install(filter, false)).is_some()
    } else {
        PRINTER.get().is_some_and(Option::is_some)
    }
}

/// Shows the log under each cell from now on, filtered by `filter` (`RUST_LOG` syntax:
/// `"helpers=info"`, `"helpers::sql=info,helpers::queue=debug"`; `"off"` stops it). The
/// first call installs a printer on stdout (where a notebook shows it) unless `RUST_LOG`
/// installed one on stderr already; later calls change its filter.
pub fn show(filter: &str) -> Result<()> {
    let filter: Targets = filter.parse().map_err(|e| Error::InvalidInput(format!("`{filter}` is not a log filter: {e}")))?;
    match PRINTER.get_or_init(|| install(Targets::new(), true)) {
        Some(handle) => handle.reload(filter).map_err(|e| Error::InvalidInput(format!("the log filter could not be changed: {e}"))),
        None => Err(Error::InvalidInput("another log printer was installed in this process before the helpers': its filter decides".into())),
    }
}

/// `args` of a Redis command as they may be logged: the arguments of `AUTH` (and of `HELLO …
/// AUTH user password`) replaced by `***`.
pub fn redis_args(args: &[&str]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut hide = 0usize;
    for (i, a) in args.iter().enumerate() {
        if hide > 0 {
            out.push("***".to_string());
            hide -= 1;
            continue;
        }
        out.push(a.to_string());
        if i == 0 && a.eq_ignore_ascii_case("AUTH") {
            hide = usize::MAX;
        } else if a.eq_ignore_ascii_case("AUTH") && args.first().is_some_and(|c| c.eq_ignore_ascii_case("HELLO")) {
            hide = 2;
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_that_does_not_parse_is_refused_by_name() {
        let err = show("helpers=loud").unwrap_err().to_string();
        assert!(err.contains("`helpers=loud` is not a log filter"), "{err}");
    }

    #[test]
    fn redis_passwords_never_reach_the_log() {
        assert_eq!(redis_args(&["AUTH", "s3cret"]), "AUTH ***");
        assert_eq!(redis_args(&["auth", "user", "s3cret"]), "auth *** ***");
        assert_eq!(redis_args(&["HELLO", "3", "AUTH", "user", "s3cret", "SETNAME", "x"]), "HELLO 3 AUTH *** *** SETNAME x");
        assert_eq!(redis_args(&["SET", "k", "v", "EX", "60"]), "SET k v EX 60");
    }
}
