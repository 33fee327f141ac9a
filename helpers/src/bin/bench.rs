//! `cargo run --release -p helpers --bin bench -- <module>|all`
//!
//! Measures each module's figures on this machine, prints them as a markdown table and
//! writes them to `out/bench.json` (or `M8_OUT_DIR/bench.json`). Modules: `data` (more
//! join as they land). Every row is measured in this run.

use std::time::Instant;

use anyhow::{Context, bail};
use helpers::data::{World, WorldConfig};
use serde::Serialize;

#[derive(Serialize)]
struct Row {
    module: &'static str,
    case: String,
    value: f64,
    unit: &'static str,
    note: String,
}

const MODULES: &[&str] = &["data"];

fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let selected: Vec<&str> = match which.as_str() {
        "all" => MODULES.to_vec(),
        m if MODULES.contains(&m) => vec![m],
        other => bail!("unknown module `{other}`: use one of {} or `all`", MODULES.join(", ")),
    };
    let settings = helpers::Settings::from_env()?;
    let mut rows = Vec::new();
    for module in selected {
        match module {
            "data" => bench_data(&mut rows)?,
            _ => unreachable!("checked above"),
        }
    }

    println!("| module | case | value | unit | note |");
    println!("|---|---|---:|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} |", r.module, r.case, pretty(r.value), r.unit, r.note);
    }
    std::fs::create_dir_all(&settings.out_dir).with_context(|| format!("creating {}", settings.out_dir.display()))?;
    let path = settings.out_dir.join("bench.json");
    let report = serde_json::json!({
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), "os": std::env::consts::OS },
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "rows": rows,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn pretty(v: f64) -> String {
    if v >= 100.0 { format!("{:.0}", v) } else if v >= 1.0 { format!("{:.2}", v) } else { format!("{:.4}", v) }
}

/// Generator throughput at three sizes, and the cost of turning the world into DataFrames.
fn bench_data(rows: &mut Vec<Row>) -> anyhow::Result<()> {
    for users in [1_000usize, 10_000, 100_000] {
        let cfg = WorldConfig::with_users(users);
        let started = Instant::now();
        let world = World::generate(&cfg);
        let secs = started.elapsed().as_secs_f64();
        rows.push(Row {
            module: "data",
            case: format!("generate {users} users"),
            value: secs * 1e3,
            unit: "ms",
            note: format!("{} events, {} orders", world.events.len(), world.orders.len()),
        });
        rows.push(Row {
            module: "data",
            case: format!("events/s at {users} users"),
            value: world.events.len() as f64 / secs,
            unit: "events/s",
            note: String::new(),
        });
        if users == 100_000 {
            let started = Instant::now();
            let events = world.events_frame()?;
            let users_df = world.users_frame()?;
            rows.push(Row {
                module: "data",
                case: "events + users to DataFrames".into(),
                value: started.elapsed().as_secs_f64() * 1e3,
                unit: "ms",
                note: format!("{} + {} rows", events.height(), users_df.height()),
            });
        }
    }
    Ok(())
}
