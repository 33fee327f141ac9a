//! [`ServiceUrl`]: a connection URL that never shows its secrets, and everything that keeps a
//! password out of what is shown — masking a URL, scrubbing a client's error text — together
//! with the two errors every connector builds from a URL: a service that did not answer
//! ([`ServiceUrl::unreachable`]) and a setting that was refused ([`ServiceUrl::refused`]).

use std::fmt;

use crate::error::Error;

/// A connection URL that never shows its secrets: `Display` and `Debug` print it masked.
/// Use [`ServiceUrl::expose`] only to hand it to a client library.
///
/// It may carry the certificate authority to verify the server's TLS certificate against
/// (`M8_CA_FILE`, see [`ServiceUrl::with_ca_file`]); the URL's own options (`sslrootcert=`,
/// `tlsCAFile=`) win over it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String, Option<std::path::PathBuf>);

impl ServiceUrl {
    /// Wraps a URL as given.
    pub fn new(raw: impl Into<String>) -> Self {
        ServiceUrl(raw.into(), None)
    }

    /// The same URL, its TLS server certificate to be verified against the CA certificate(s)
    /// in the PEM file `ca_file` (the setting `M8_CA_FILE`). Applied by the PostgreSQL
    /// connector; see `docs/beyond-one-server.md` for the others.
    pub fn with_ca_file(mut self, ca_file: impl Into<std::path::PathBuf>) -> Self {
        self.1 = Some(ca_file.into());
        self
    }

    /// The CA file set by [`ServiceUrl::with_ca_file`], if any.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.1.as_deref()
    }

    /// The URL with its password and secret query parameters, for a client library only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as it may be shown: passwords replaced by `***`.
    pub fn masked(&self) -> String {
        mask_url(&self.0)
    }

    /// The scheme, lower-cased (`postgres`, `sqlite`, `mongodb+srv`, …).
    pub fn scheme(&self) -> String {
        self.0.split(':').next().unwrap_or_default().to_ascii_lowercase()
    }

    /// `host:port` pairs of the URL's authority (several for a MongoDB replica set), with the
    /// given default port where none is written. Empty for a file URL such as SQLite's.
    pub fn host_ports(&self, default_port: u16) -> Vec<(String, u16)> {
        if self.scheme() == "sqlite" {
            return Vec::new();
        }
        let Some((_, rest)) = self.0.split_once("://") else { return Vec::new() };
        let (_, after) = split_userinfo(rest);
        let hosts = after.split(['/', '?', '#']).next().unwrap_or_default();
        hosts.split(',').filter(|h| !h.is_empty()).map(|h| split_host_port(h, default_port)).collect()
    }

    /// The database a URL's path names (`mongodb://u:p@h1,h2/shop?replicaSet=rs0` → `shop`),
    /// if it names one.
    pub fn path_database(&self) -> Option<String> {
        let (_, rest) = self.0.split_once("://")?;
        let (_, after) = split_userinfo(rest);
        let path = after.split(['?', '#']).next()?.split_once('/')?.1;
        (!path.is_empty()).then(|| path.to_string())
    }

    /// The same URL with its hosts (what follows the user-info, up to the path) replaced by
    /// `hosts`, e.g. `127.0.0.1:40123` to go through a local relay; user-info, path and query
    /// are kept as they are.
    ///
    /// ```
    /// use helpers::ServiceUrl;
    /// let url = ServiceUrl::new("amqp://app:p?a#s/s@mq:5672/%2f");
    /// assert_eq!(url.with_hosts("127.0.0.1:40123").expose(), "amqp://app:p?a#s/s@127.0.0.1:40123/%2f");
    /// ```
    pub fn with_hosts(&self, hosts: &str) -> ServiceUrl {
        let Some((scheme, rest)) = self.0.split_once("://") else { return self.clone() };
        let (userinfo, after) = split_userinfo(rest);
        let tail = after.find(['/', '?', '#']).map_or("", |i| &after[i..]);
        let raw = match userinfo {
            Some(user) => format!("{scheme}://{user}@{hosts}{tail}"),
            None => format!("{scheme}://{hosts}{tail}"),
        };
        ServiceUrl(raw, self.1.clone())
    }
}

fn split_host_port(h: &str, default_port: u16) -> (String, u16) {
    let (host, port) = match h.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => (v6, None),
        },
        None => match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        },
    };
    (host.to_string(), port.and_then(|p| p.parse().ok()).unwrap_or(default_port))
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceUrl({:?})", self.masked())
    }
}

/// Query parameters whose values are secrets.
const SECRET_PARAMS: &[&str] =
    &["password", "pass", "pwd", "secret", "token", "sslpassword", "api_key", "apikey", "authsecret"];

/// Replaces the password of a URL (and the values of secret query parameters) with `***`.
///
/// Works on URLs that the `url` crate cannot parse too: several hosts
/// (`mongodb://u:p@h1,h2/db`), `sqlite:` paths, and passwords holding any character unescaped
/// (`/`, `?`, `#`, `@`, `:`) or percent-encoded: the user-info ends at the last `@` (see `split_userinfo`).
///
/// ```
/// use helpers::mask_url;
/// assert_eq!(mask_url("postgres://app:s3cret@db:5432/shop"), "postgres://app:***@db:5432/shop");
/// assert_eq!(mask_url("amqp://app:p?a#s/s@mq:5672/%2f"), "amqp://app:***@mq:5672/%2f");
/// assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
pub fn mask_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return mask_after_hosts(raw) };
    let (userinfo, after) = split_userinfo(rest);
    let mut out = String::with_capacity(raw.len());
    out.push_str(scheme);
    out.push_str("://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _password)) => {
                out.push_str(user);
                out.push_str(":***");
            }
            None => out.push_str(userinfo),
        }
        out.push('@');
    }
    out.push_str(&mask_after_hosts(after));
    out
}

/// Splits what follows `scheme://` into the user-info (`user:password`, if any) and the rest
/// (hosts, path, query).
///
/// The user-info ends at the **last** `@` of the URL: a host never contains one, while a
/// password may hold any character unescaped, `@`, `/`, `?` and `#` included. A URL whose path
/// or query holds an `@` (`…/db?application_name=a@b`) is therefore split too late: masking
/// then hides more than the password, never less, and the hosts read from it are wrong, so
/// the connection attempt names the problem.
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    }
}

/// Masks the secret query parameters of what follows the user-info.
fn mask_after_hosts(after: &str) -> String {
    match after.find(['?', '#']) {
        Some(i) => {
            let (head, query) = after.split_at(i);
            format!("{head}{}", mask_query(query))
        }
        None => after.to_string(),
    }
}

fn mask_query(query: &str) -> String {
    let Some(lead) = query.chars().next() else { return String::new() };
    let body = &query[1..];
    let parts: Vec<String> = body
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if SECRET_PARAMS.contains(&key.to_ascii_lowercase().as_str()) => {
                format!("{key}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{lead}{}", parts.join("&"))
}

/// `text` with `url` (as written, and its password, whole or in pieces) replaced by its
/// masked form: for a client's error message before it is shown.
pub(crate) fn scrub(text: &str, url: &ServiceUrl) -> String {
    let raw = url.expose();
    let masked = url.masked();
    let out = text.replace(raw, &masked);
    // Also remove the password if a client echoed only that part, or a piece of it — unless it
    // is the user name too (RabbitMQ's guest:guest): every masked URL shows that, it hides
    // nothing, and its pieces ("est") would be cut out of ordinary words.
    match password_of(raw) {
        Some((user, password)) if percent_decode(user) != percent_decode(password) => scrub_secret(&out, password),
        _ => out,
    }
}

/// The user name and password of a URL's user-info (which ends at the last `@`; see
/// `config::split_userinfo`).
fn password_of(raw: &str) -> Option<(&str, &str)> {
    let (_, rest) = raw.split_once("://")?;
    let (userinfo, _) = rest.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some((user, password))
}

/// Parts of a secret shorter than this are left in a text (they would match everywhere).
const SHORTEST_PART: usize = 3;

/// Replaces with `***` every run of `text` that is a part of `secret` at least
/// [`SHORTEST_PART`] characters long — of the secret as written, percent-decoded or
/// percent-encoded. A client that parsed a URL whose password holds a raw `?`, `#`, `/` or `@`
/// quotes only a piece of it (`invalid server address u:S3c`), cut at that character: the piece
/// goes too. A secret shorter than that is replaced where it appears whole. Hides more than the
/// secret, never less.
pub(crate) fn scrub_secret(text: &str, secret: &str) -> String {
    let decoded = percent_decode(secret);
    let encoded = percent_encode(&decoded);
    let forms: Vec<Vec<char>> = [secret, decoded.as_str(), encoded.as_str()].iter().map(|f| f.chars().collect()).collect();
    let text: Vec<char> = text.chars().collect();
    // The longest run starting at `at` that is a part of one of the forms.
    let longest_at = |at: usize| {
        let mut best = 0;
        for form in &forms {
            for start in 0..form.len() {
                let n = text[at..].iter().zip(&form[start..]).take_while(|(a, b)| a == b).count();
                best = best.max(n);
            }
        }
        best
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let n = longest_at(i);
        if n >= SHORTEST_PART {
            out.push_str("***");
            i += n;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    for form in [secret, decoded.as_str()] {
        if !form.is_empty() && form.chars().count() < SHORTEST_PART {
            out = out.replace(form, "***");
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The variable that names `service`'s URL (`PostgreSQL` and `SQLite`: `DATABASE_URL`).
pub fn variable_of(service: &str) -> &'static str {
    match service {
        "PostgreSQL" | "SQLite" => "DATABASE_URL",
        "MongoDB" => "MONGODB_URI",
        "Redis" => "REDIS_URL",
        _ => "AMQP_ADDR",
    }
}

/// One sentence on how to bring `service` up — the only place it is written, so every error
/// and the service check say the same.
pub fn how_to_start(service: &str) -> String {
    let compose = match service {
        "SQLite" => return "Check that the file's folder is writable, or set DATABASE_URL to another sqlite: path.".into(),
        "PostgreSQL" => "postgres",
        "MongoDB" => "mongo",
        "Redis" => "redis",
        _ => "rabbitmq",
    };
    format!(
        "Start it with `scripts/services.sh up` (local servers, SecantusDB for MongoDB) or `docker compose up -d {compose}`, or point {} at a running server.",
        variable_of(service)
    )
}

impl ServiceUrl {
    /// [`Error::Unreachable`]: `service` did not answer at this URL. The URL is shown masked,
    /// `reason` (a client's words) is scrubbed of the password, and the hint says how to start
    /// the service. Every connector builds its error here.
    ///
    /// A client that failed because the server's TLS certificate did not verify gets
    /// [`Error::Untrusted`] instead: the server answered, and starting it is not the remedy.
    pub fn unreachable(&self, service: &'static str, reason: impl fmt::Display) -> Error {
        let reason = scrub(&reason.to_string(), self);
        if is_certificate_failure(&reason) {
            let ca = match self.ca_file() {
                Some(path) => format!("the CA in `{}` (M8_CA_FILE)", path.display()),
                None => "the CA the URL names (e.g. `sslrootcert=`), or M8_CA_FILE, or the system's roots".to_string(),
            };
            let hint = format!("Check that {ca} signed the server's certificate, and that the URL's host is a name the certificate holds.");
            return Error::Untrusted { service, url: self.masked(), reason, hint };
        }
        // The server answered and refused the login: starting it is not the remedy either.
        if is_login_refusal(&reason) {
            let var = variable_of(service);
            return Error::Config { var, reason: format!("{service} at {} refused the login ({reason}); check the user and password in {var}", self.masked()) };
        }
        Error::Unreachable { service, url: self.masked(), reason, hint: how_to_start(service) }
    }

    /// [`Error::Config`]: the setting `variable` holding this URL was refused; `reason` is
    /// scrubbed of the password.
    pub fn refused(&self, variable: &'static str, reason: impl fmt::Display) -> Error {
        Error::Config { var: variable, reason: scrub(&reason.to_string(), self) }
    }
}

/// Whether a client's error text says a TLS certificate did not verify (rustls' and
/// OpenSSL's words).
fn is_certificate_failure(reason: &str) -> bool {
    ["invalid peer certificate", "certificate verify failed", "UnknownIssuer", "NotValidForName", "InvalidCertificate", "unable to get local issuer certificate"]
        .iter()
        .any(|words| reason.contains(words))
}

/// Whether a client's error text says the server refused the login (PostgreSQL's, Redis',
/// RabbitMQ's and MongoDB's words).
fn is_login_refusal(reason: &str) -> bool {
    ["password authentication failed", "Password authentication failed", "AuthenticationFailed", "WRONGPASS", "ACCESS_REFUSED", "Authentication failed"]
        .iter()
        .any(|words| reason.contains(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_replaced_by_stars() {
        assert_eq!(mask_url("postgres://app:s3cret@db:5432/shop"), "postgres://app:***@db:5432/shop");
        assert_eq!(mask_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
    }

    #[test]
    fn a_password_with_slashes_and_ats_is_masked_whole() {
        let masked = mask_url("postgres://app:p/a@ss@db/x");
        assert_eq!(masked, "postgres://app:***@db/x");
        assert!(!masked.contains("p/a"));
    }

    #[test]
    fn a_password_with_query_and_fragment_characters_is_masked_whole() {
        for (url, masked) in [
            ("postgres://app:pa?ss@db:5432/shop", "postgres://app:***@db:5432/shop"),
            ("postgres://app:pa#ss@db/shop?sslmode=require", "postgres://app:***@db/shop?sslmode=require"),
            ("amqp://app:a:b/c?d#e@f@mq:5672/%2f", "amqp://app:***@mq:5672/%2f"),
            ("redis://:%40%3A%2F@cache:6379/0", "redis://:***@cache:6379/0"),
        ] {
            assert_eq!(mask_url(url), masked, "{url}");
        }
    }

    #[test]
    fn an_at_sign_in_the_query_hides_more_never_less() {
        // The user-info ends at the last '@' (a password may hold one): here that is in the
        // query, so the host is hidden too. The password is not shown either way.
        let masked = mask_url("postgres://app:s3cret@db/shop?application_name=a@b");
        assert_eq!(masked, "postgres://app:***@b");
        assert!(!masked.contains("s3cret"));
    }

    #[test]
    fn hosts_are_read_after_a_password_holding_url_characters() {
        let url = ServiceUrl::new("postgres://app:p/a?s#s@db.internal:6543/shop");
        assert_eq!(url.host_ports(5432), vec![("db.internal".to_string(), 6543)]);
    }

    proptest::proptest! {
        /// Whatever a password holds, the masked URL is the URL with the password replaced:
        /// nothing of the password is left.
        #[test]
        fn no_password_survives_masking(
            scheme in proptest::sample::select(vec!["postgres", "postgresql", "mongodb", "redis", "rediss", "amqp", "amqps"]),
            user in "[a-z][a-z0-9_.-]{0,8}",
            password in r"[^\x00]{1,24}",
            hosts in "[a-z][a-z0-9.-]{0,10}(:[0-9]{1,5})?(,[a-z][a-z0-9.-]{0,10}(:[0-9]{1,5})?){0,2}",
            path in "(/[a-zA-Z0-9_%.-]{0,10})?",
            query in r"(\?[a-z]{1,6}=[a-zA-Z0-9]{0,6}(&[a-z]{1,6}=[a-zA-Z0-9]{0,6}){0,2})?",
        ) {
            let url = format!("{scheme}://{user}:{password}@{hosts}{path}{query}");
            let masked = mask_url(&url);
            let query_masked = mask_after_hosts(&query);
            proptest::prop_assert_eq!(masked, format!("{scheme}://{user}:***@{hosts}{path}{query_masked}"));
            let shown = format!("{:?}", ServiceUrl::new(url.clone()));
            let secret = format!(":{}@", password);
            proptest::prop_assert!(!shown.contains(&secret), "{} shows {}", shown, secret);
        }
    }

    #[test]
    fn every_host_of_a_replica_set_survives_masking() {
        assert_eq!(
            mask_url("mongodb://root:hunter2@h1:27017,h2:27018/app?replicaSet=rs0"),
            "mongodb://root:***@h1:27017,h2:27018/app?replicaSet=rs0"
        );
    }

    #[test]
    fn secret_query_parameters_are_masked() {
        assert_eq!(
            mask_url("postgres://db/x?user=a&password=b&sslmode=require"),
            "postgres://db/x?user=a&password=***&sslmode=require"
        );
    }

    #[test]
    fn urls_without_secrets_are_unchanged() {
        for url in ["redis://127.0.0.1:6379", "sqlite://out/m.db?mode=rwc", "mongodb://u@h/db", "sqlite::memory:"] {
            assert_eq!(mask_url(url), url);
        }
    }

    #[test]
    fn service_url_never_shows_its_password() {
        let url = ServiceUrl::new("redis://:topsecret@cache:6379/0");
        assert!(!format!("{url}").contains("topsecret"));
        assert!(!format!("{url:?}").contains("topsecret"));
        assert_eq!(url.expose(), "redis://:topsecret@cache:6379/0");
    }

    #[test]
    fn the_path_database_is_read_after_any_password() {
        assert_eq!(ServiceUrl::new("mongodb://u:p/a?s@h1,h2:27018/shop?replicaSet=rs0").path_database().as_deref(), Some("shop"));
        assert_eq!(ServiceUrl::new("mongodb://127.0.0.1:27017/").path_database(), None);
        assert_eq!(ServiceUrl::new("mongodb://127.0.0.1:27017/?directConnection=true").path_database(), None);
        assert_eq!(ServiceUrl::new("mongodb://127.0.0.1:27017").path_database(), None);
    }

    #[test]
    fn host_ports_lists_every_host_with_default_ports() {
        let url = ServiceUrl::new("mongodb://u:p@h1,h2:27018/db");
        assert_eq!(url.host_ports(27017), vec![("h1".into(), 27017), ("h2".into(), 27018)]);
        assert!(ServiceUrl::new("sqlite://x.db").host_ports(0).is_empty());
        assert_eq!(ServiceUrl::new("redis://[::1]:6380").host_ports(6379), vec![("::1".into(), 6380)]);
    }

    /// Every substring of `secret` with at least three characters that `text` holds.
    fn leaked(text: &str, secret: &str) -> Vec<String> {
        let chars: Vec<char> = secret.chars().collect();
        let mut found = Vec::new();
        for i in 0..chars.len() {
            for j in i + 3..=chars.len() {
                let part: String = chars[i..j].iter().collect();
                if text.contains(&part) {
                    found.push(part);
                }
            }
        }
        found
    }

    #[test]
    fn a_password_that_is_also_the_user_name_leaves_ordinary_words_alone() {
        let url = ServiceUrl::new("amqp://guest:guest@127.0.0.1:5672/%2f");
        let text = "amqp://guest:guest@127.0.0.1:5672/%2f refused the request of the test";
        assert_eq!(scrub(text, &url), "amqp://guest:***@127.0.0.1:5672/%2f refused the request of the test");
    }

    #[test]
    fn every_piece_of_a_password_cut_at_a_url_delimiter_is_scrubbed() {
        let url = ServiceUrl::new("mongodb://u:S3c?ret#pw/x@127.0.0.1:27017/db");
        for said in [
            "invalid server address u:S3c",
            "An invalid argument was provided: ret#pw/x@127.0.0.1:27017/db is not a valid host",
            "unknown option pw/x@127.0.0.1 in ret",
            "password S3c%3Fret%23pw%2Fx does not decode",
        ] {
            let out = scrub(said, &url);
            assert!(leaked(&out, "S3c?ret#pw/x").is_empty(), "{said:?} -> {out:?}: {:?}", leaked(&out, "S3c?ret#pw/x"));
            assert!(leaked(&out, "S3c%3Fret%23pw%2Fx").is_empty(), "{said:?} -> {out:?}");
        }
        // A percent-encoded password is scrubbed in its decoded form too.
        let encoded = ServiceUrl::new("postgres://app:p%40ss%2Fw0rd@db:5432/x");
        let out = scrub("bad password p@ss/w0rd for app", &encoded);
        assert!(!out.contains("p@ss") && !out.contains("w0rd"), "{out}");
        // Text that holds no piece of the password is left alone.
        assert_eq!(scrub("connection refused (os error 111)", &url), "connection refused (os error 111)");
    }

    proptest::proptest! {
        /// Whatever a password holds, and wherever a client cut it (at a delimiter or not), no
        /// part of it of three or more characters survives in the text around it.
        #[test]
        fn no_part_of_a_password_survives_scrubbing(
            password in r"[a-zA-Z0-9?#/@:%&=+ ._~-]{1,20}",
            start in 0usize..20,
            len in 3usize..20,
            before in "[a-z ]{0,12}",
            after in "[a-z ]{0,12}",
        ) {
            let chars: Vec<char> = password.chars().collect();
            let start = start.min(chars.len());
            let piece: String = chars[start..(start + len).min(chars.len())].iter().collect();
            let url = ServiceUrl::new(format!("mongodb://u:{password}@127.0.0.1:27017/db"));
            let out = scrub(&format!("{before}{piece}{after}"), &url);
            let left = leaked(&out, &password);
            proptest::prop_assert!(left.is_empty(), "{:?} -> {:?} leaves {:?}", piece, out, left);
        }
    }
}
