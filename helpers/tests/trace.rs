//! The helpers' log (helpers::trace), in a test binary of its own: a log printer is global to
//! a process, and tests running beside it would race for tracing's per-call-site cache.

use std::sync::{Arc, Mutex};

use helpers::sql::SyncDb;
use helpers::{ServiceUrl, Settings};
use tracing_subscriber::layer::SubscriberExt as _;

struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_statement_is_logged_with_its_rows_but_not_its_values() {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || Sink(sink.clone()))
        .with_ansi(false)
        .finish()
        .with("helpers=info".parse::<tracing_subscriber::filter::Targets>().unwrap());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut settings = Settings::from_lookup(|_| None).unwrap();
    let path = std::env::temp_dir().join(format!("helpers-trace-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    settings.database_url = ServiceUrl::new(format!("sqlite://{}?mode=rwc", path.display()));
    let db = SyncDb::new(&settings);
    db.execute("INSERT INTO countries (id, code, name, continent) VALUES ($1, $2, $3, $4)", &[8.into(), "NO".into(), "Norway".into(), "Europe".into()])
        .unwrap();
    db.query("SELECT name FROM countries WHERE code = $1", &["NO".into()]).unwrap();
    assert!(db.query("SELECT nothing FROM nowhere", &[]).is_err());
    let _ = std::fs::remove_file(&path);

    let log = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("helpers::sql")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines[0].contains("INFO") && lines[0].contains("INSERT INTO countries") && lines[0].contains("rows=1") && lines[0].contains("params=4"), "{log}");
    assert!(lines[1].contains("SELECT name FROM countries WHERE code = $1") && lines[1].contains("rows=1"), "{log}");
    assert!(lines[2].contains("WARN") && lines[2].contains("nowhere") && lines[2].contains("error="), "{log}");
    assert!(!log.contains("Norway"), "a bound value reached the log: {log}");
}
