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

    // The security events, through the same printer (one global subscriber per process).
    security_events_name_who_and_what_but_never_a_password(&buffer);
}

/// Sign-ups and logins on the real PostgreSQL and Redis: the table holds hashes, the limiter
/// refuses the sixth attempt before any hash, and every event is logged without a password.
fn security_events_name_who_and_what_but_never_a_password(buffer: &Arc<Mutex<Vec<u8>>>) {
    use helpers::security::SyncAccounts;
    let settings = Settings { database_url: Settings::from_env().unwrap().test_postgres_url(), ..Settings::from_env().unwrap() };
    let accounts = SyncAccounts::new(&settings, &format!("test_accounts_{}", std::process::id())).unwrap();
    buffer.lock().unwrap().clear();
    let ada = accounts.sign_up("ada", "Ada@Example.com", "correct horse battery").unwrap();
    assert!(ada.password_hash.starts_with("$argon2id$") && ada.email == "ada@example.com", "{ada:?}");
    assert_eq!(accounts.stored_hash("ada").unwrap().as_deref(), Some(ada.password_hash.as_str()));
    let short = accounts.sign_up("eve", "eve@example.com", "hunter2").unwrap_err().to_string();
    assert!(short.contains("7 characters") && !short.contains("hunter2"), "{short}");
    let taken = accounts.sign_up("ada", "other@example.com", "another long password").unwrap_err().to_string();
    assert!(taken.contains("already has an account"), "{taken}");
    assert_eq!(accounts.stored_hash("eve").unwrap(), None, "a refused sign-up stored nothing");

    assert_eq!(accounts.log_in("ada", "correct horse battery", "10.0.0.1").unwrap().outcome, "ok");
    assert_eq!(accounts.log_in("nobody", "whatever-long", "10.0.0.2").unwrap().outcome, "no such user");
    let guesses: Vec<String> = (0..6).map(|i| accounts.log_in("ada", &format!("guess-number-{i}"), "10.0.0.3").unwrap().outcome).collect();
    // ada has had one attempt in this window already: four wrong guesses, then refused.
    assert_eq!(guesses, ["wrong password", "wrong password", "wrong password", "wrong password", "refused: rate limit", "refused: rate limit"]);
    let refused = accounts.log_in("ada", "correct horse battery", "10.0.0.1").unwrap();
    assert_eq!(refused.outcome, "refused: rate limit", "the right password is refused too while the window lasts");

    let log = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
    let events: Vec<&str> = log.lines().filter(|l| l.contains("helpers::security")).collect();
    let count = |e: &str| events.iter().filter(|l| l.contains(&format!("event=\"{e}\"")) || l.contains(&format!("event={e}"))).count();
    assert_eq!((count("sign_up"), count("sign_up_refused"), count("login_ok"), count("login_failed"), count("login_refused")), (1, 2, 1, 5, 3), "{log}");
    for secret in ["correct horse", "hunter2", "guess-number", "another long password", "whatever-long"] {
        assert!(!log.contains(secret), "a password reached the log: {log}");
    }
    assert!(accounts.remove(&[]).unwrap().contains("rate-limit counter"));
    assert_eq!(helpers::cache::SyncRedis::new(&settings).scan(&format!("module8:login:{}:*", accounts.table())).unwrap(), Vec::<String>::new());
}
