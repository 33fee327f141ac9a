//! Running async code inside one notebook cell.
//!
//! evcxr compiles every cell into its own shared object with its own copy of Tokio, so a
//! runtime (or a pool, or a socket) made in one cell is not usable in the next. [`run`]
//! builds a small runtime, drives the future to completion and drops everything before the
//! cell ends; only the plain value it returns crosses into later cells.
//!
//! The notebooks load the helpers as one shared library (`helpers-dylib`), which every cell
//! links: there the helpers' own statics are one copy per kernel. [`run_kept`] uses that for
//! the few connections worth keeping between calls (PostgreSQL's, in [`crate::sql::SyncDb`]):
//! they live on one runtime of the process, never in a cell's own code.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use crate::error::{Error, Result};

/// Runs `fut` to completion on a fresh two-worker Tokio runtime and returns its output.
///
/// Safe to call where a runtime is already current (a `#[tokio::test]`, an evcxr cell in
/// async mode): the future then runs on a scoped thread of its own instead of nesting
/// `block_on`, which Tokio forbids.
///
/// ```
/// let n = helpers::run(async { 40 + 2 });
/// assert_eq!(n, 42);
/// ```
pub fn run<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope.spawn(|| block_on_fresh(fut)).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    } else {
        block_on_fresh(fut)
    }
}

fn block_on_fresh<F: Future>(fut: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("helpers-run")
        .build()
        .expect("building a Tokio runtime only fails when the OS refuses threads or timers");
    let out = runtime.block_on(fut);
    // Background tasks a client left behind must not keep the cell waiting.
    runtime.shutdown_timeout(Duration::from_millis(250));
    out
}

/// Runs `fut` to completion on the process's long-lived two-worker runtime, where connections
/// kept between calls live (a pool made on a runtime that is dropped afterwards, as [`run`]'s
/// is, cannot serve the next call). Like [`run`], safe where a runtime is already current.
pub(crate) fn run_kept<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope.spawn(|| kept_runtime().block_on(fut)).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    } else {
        kept_runtime().block_on(fut)
    }
}

fn kept_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("helpers-kept")
            .build()
            .expect("building a Tokio runtime only fails when the OS refuses threads or timers")
    })
}

/// Bounds `fut` by `after`; the error names `what` was being waited for.
///
/// Every wait on a service goes through this (or a client's own timeout), so that no
/// notebook cell can hang.
pub async fn within<F: Future>(what: impl Into<String>, after: Duration, fut: F) -> Result<F::Output> {
    tokio::time::timeout(after, fut).await.map_err(|_| Error::Timeout { what: what.into(), after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_returns_the_value_of_the_future() {
        let v = run(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            vec![1, 2, 3]
        });
        assert_eq!(v, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn run_works_inside_a_running_runtime() {
        let v = run(async { tokio::spawn(async { 7 }).await.unwrap() });
        assert_eq!(v, 7);
    }

    #[test]
    fn run_kept_keeps_its_runtime_between_calls() {
        // A task spawned in one call is still running in the next: the runtime stayed.
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let handle = run_kept(async move { tokio::spawn(async move { rx.await.unwrap_or(0) + 1 }) });
        run_kept(async move { tx.send(41).unwrap() });
        assert_eq!(run_kept(handle).unwrap(), 42);
    }

    #[tokio::test]
    async fn run_kept_works_inside_a_running_runtime() {
        assert_eq!(run_kept(async { tokio::spawn(async { 7 }).await.unwrap() }), 7);
    }

    #[test]
    fn within_names_what_timed_out() {
        let err = run(async {
            within("the slow thing", Duration::from_millis(10), tokio::time::sleep(Duration::from_secs(5))).await
        })
        .unwrap_err();
        assert!(err.to_string().contains("the slow thing"), "{err}");
    }
}
