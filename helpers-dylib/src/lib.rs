//! `helpers` as one Rust shared library, for the notebooks.
//!
//! Every notebook's first cell says
//! `:dep helpers = { path = "../helpers-dylib", package = "helpers-dylib" }`: the cells then
//! name `helpers::…` exactly as with the plain crate, but each cell links against this one
//! library (built once per machine, with polars, sqlx, tokio and the rest inside) instead of
//! copying into its own shared object the code it calls. Cells compile and link in a fraction
//! of the time, and every cell of a kernel shares one copy of each library (one Polars, one
//! tokio), so values made in one cell behave the same in the next.
//!
//! Nothing is defined here: this crate only re-exports `helpers`.
pub use helpers::*;
