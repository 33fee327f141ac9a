//! Showing the crate's own code in a lesson: `helpers::source!(sql::users::by_country)`.
//!
//! A lesson about a repository function, the consume loop's decision or the retry schedule
//! shows that code from the crate's source as compiled — never a copy pasted into the
//! notebook, which would drift. The text of every source file is embedded at compile time;
//! [`of`] finds an item (a function, method, struct, enum, const or macro) with its doc
//! comment and attributes, and [`Code`] shows it highlighted (a Markdown code block, which
//! JupyterLab and nbconvert's HTML and slides highlight) or as plain text.

use crate::display::{NotebookDisplay, emit};
use crate::error::{Error, Result};

/// Every source file of the crate, by its path under `helpers/src/` (the test
/// `every_source_file_is_embedded` keeps this list complete).
const FILES: &[(&str, &str)] = &[
    ("analytics/churn.rs", include_str!("analytics/churn.rs")),
    ("analytics/features.rs", include_str!("analytics/features.rs")),
    ("analytics/manager.rs", include_str!("analytics/manager.rs")),
    ("analytics/mod.rs", include_str!("analytics/mod.rs")),
    ("analytics/recommend.rs", include_str!("analytics/recommend.rs")),
    ("analytics/scaling.rs", include_str!("analytics/scaling.rs")),
    ("analytics/segments.rs", include_str!("analytics/segments.rs")),
    ("analytics/value.rs", include_str!("analytics/value.rs")),
    ("architecture.rs", include_str!("architecture.rs")),
    ("bin/bench/floors.rs", include_str!("bin/bench/floors.rs")),
    ("bin/bench/frames.rs", include_str!("bin/bench/frames.rs")),
    ("bin/bench/main.rs", include_str!("bin/bench/main.rs")),
    ("cache/cluster.rs", include_str!("cache/cluster.rs")),
    ("cache/exercises.rs", include_str!("cache/exercises.rs")),
    ("cache/lessons.rs", include_str!("cache/lessons.rs")),
    ("cache/memo.rs", include_str!("cache/memo.rs")),
    ("cache/mod.rs", include_str!("cache/mod.rs")),
    ("cache/redis_cache.rs", include_str!("cache/redis_cache.rs")),
    ("cache/sync.rs", include_str!("cache/sync.rs")),
    ("cache/tiered.rs", include_str!("cache/tiered.rs")),
    ("check.rs", include_str!("check.rs")),
    ("config/mod.rs", include_str!("config/mod.rs")),
    ("config/url.rs", include_str!("config/url.rs")),
    ("data/frames.rs", include_str!("data/frames.rs")),
    ("data/generate.rs", include_str!("data/generate.rs")),
    ("data/mod.rs", include_str!("data/mod.rs")),
    ("display/charts.rs", include_str!("display/charts.rs")),
    ("display/figure.rs", include_str!("display/figure.rs")),
    ("display/mod.rs", include_str!("display/mod.rs")),
    ("display/profile.rs", include_str!("display/profile.rs")),
    ("display/table.rs", include_str!("display/table.rs")),
    ("display/words.rs", include_str!("display/words.rs")),
    ("error.rs", include_str!("error.rs")),
    ("exercise.rs", include_str!("exercise.rs")),
    ("health.rs", include_str!("health.rs")),
    ("latency.rs", include_str!("latency.rs")),
    ("lib.rs", include_str!("lib.rs")),
    ("link.rs", include_str!("link.rs")),
    ("local_servers.rs", include_str!("local_servers.rs")),
    ("mongo/docs.rs", include_str!("mongo/docs.rs")),
    ("mongo/events.rs", include_str!("mongo/events.rs")),
    ("mongo/exercises.rs", include_str!("mongo/exercises.rs")),
    ("mongo/explain.rs", include_str!("mongo/explain.rs")),
    ("mongo/explore.rs", include_str!("mongo/explore.rs")),
    ("mongo/export.rs", include_str!("mongo/export.rs")),
    ("mongo/mod.rs", include_str!("mongo/mod.rs")),
    ("mongo/pipelines.rs", include_str!("mongo/pipelines.rs")),
    ("mongo/sandbox.rs", include_str!("mongo/sandbox.rs")),
    ("mongo/schema.rs", include_str!("mongo/schema.rs")),
    ("mongo/sync.rs", include_str!("mongo/sync.rs")),
    ("mongo/typed.rs", include_str!("mongo/typed.rs")),
    ("mongo/users.rs", include_str!("mongo/users.rs")),
    ("queue/broker.rs", include_str!("queue/broker.rs")),
    ("queue/chaos.rs", include_str!("queue/chaos.rs")),
    ("queue/cluster.rs", include_str!("queue/cluster.rs")),
    ("queue/consumer.rs", include_str!("queue/consumer.rs")),
    ("queue/dlq.rs", include_str!("queue/dlq.rs")),
    ("queue/exercises.rs", include_str!("queue/exercises.rs")),
    ("queue/lessons.rs", include_str!("queue/lessons.rs")),
    ("queue/measure.rs", include_str!("queue/measure.rs")),
    ("queue/message.rs", include_str!("queue/message.rs")),
    ("queue/mod.rs", include_str!("queue/mod.rs")),
    ("queue/pipeline.rs", include_str!("queue/pipeline.rs")),
    ("queue/producer.rs", include_str!("queue/producer.rs")),
    ("queue/sync.rs", include_str!("queue/sync.rs")),
    ("queue/topology.rs", include_str!("queue/topology.rs")),
    ("runtime.rs", include_str!("runtime.rs")),
    ("security.rs", include_str!("security.rs")),
    ("source.rs", include_str!("source.rs")),
    ("sql/analytics.rs", include_str!("sql/analytics.rs")),
    ("sql/cells.rs", include_str!("sql/cells.rs")),
    ("sql/copy.rs", include_str!("sql/copy.rs")),
    ("sql/countries.rs", include_str!("sql/countries.rs")),
    ("sql/exercises.rs", include_str!("sql/exercises.rs")),
    ("sql/explore.rs", include_str!("sql/explore.rs")),
    ("sql/export.rs", include_str!("sql/export.rs")),
    ("sql/loading.rs", include_str!("sql/loading.rs")),
    ("sql/mod.rs", include_str!("sql/mod.rs")),
    ("sql/pool.rs", include_str!("sql/pool.rs")),
    ("sql/query.rs", include_str!("sql/query.rs")),
    ("sql/replica.rs", include_str!("sql/replica.rs")),
    ("sql/sandbox.rs", include_str!("sql/sandbox.rs")),
    ("sql/seed.rs", include_str!("sql/seed.rs")),
    ("sql/sync.rs", include_str!("sql/sync.rs")),
    ("sql/tx.rs", include_str!("sql/tx.rs")),
    ("sql/users.rs", include_str!("sql/users.rs")),
    ("stores.rs", include_str!("stores.rs")),
    ("trace.rs", include_str!("trace.rs")),
    ("validate.rs", include_str!("validate.rs")),
];

/// An item of the crate's source, as compiled: where it is and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// The path that was asked for, e.g. `sql::users::by_country`.
    pub item: String,
    /// The file, relative to the repository root (`helpers/src/sql/users.rs`).
    pub file: String,
    /// The first line of the item (its doc comment), from 1.
    pub line: usize,
    /// The item's text with its doc comment and attributes, dedented.
    pub text: String,
}

impl Code {
    /// `helpers/src/sql/users.rs:36`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "// {}\n{}", self.location(), self.text)
    }
}

impl NotebookDisplay for Code {
    fn evcxr_display(&self) {
        // Four backticks: the code itself may contain three in a doc comment.
        emit("text/markdown", &format!("`{}` — {}\n\n````rust\n{}\n````", self.item, self.location(), self.text));
        emit("text/plain", &self.to_string());
    }
}

/// Shows an item of the helpers' own source: `helpers::source!(sql::users::by_country)`,
/// `helpers::source!(cache::RedisCache::get_or_compute)`. The path is the one you would
/// `use` (a module path, then a type for methods, then the item); the error names what was
/// not found.
#[macro_export]
macro_rules! source {
    ($($segment:ident)::+) => {
        $crate::source::of(stringify!($($segment)::+))
    };
}

/// Finds `path` (`module::…::item` or `module::…::Type::method`) in the crate's source.
pub fn of(path: &str) -> Result<Code> {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let segments: Vec<&str> = path.trim_start_matches("helpers::").split("::").collect();
    let (item, rest) = segments.split_last().ok_or_else(|| Error::InvalidInput("an empty path has no source".into()))?;
    // Leading lower-case segments are modules; a capitalised one before the item is the type
    // whose `impl` holds it.
    let modules: Vec<&str> = rest.iter().take_while(|s| s.starts_with(|c: char| c.is_ascii_lowercase())).copied().collect();
    let owner = rest.get(modules.len()).copied();
    let candidates: Vec<&(&str, &str)> = FILES.iter().filter(|(file, _)| module_path(file).starts_with(&modules)).collect();
    // First a definition inside `impl … owner` in any file of the module, then any definition.
    let mut found = None;
    for exact in [true, false] {
        for (file, text) in &candidates {
            if let Some((line, code)) = find_item(text, item, owner, exact) {
                found = Some(Code { item: path.clone(), file: format!("helpers/src/{file}"), line, text: code });
                break;
            }
        }
        if found.is_some() || owner.is_none() {
            break;
        }
    }
    found.ok_or_else(|| {
        Error::InvalidInput(format!(
            "no item `{item}`{} in the helpers' source under `{}`",
            owner.map(|o| format!(" in `impl {o}`")).unwrap_or_default(),
            if modules.is_empty() { "src/".to_string() } else { format!("src/{}", modules.join("/")) }
        ))
    })
}

/// `sql/users.rs` → `[sql, users]`; `sql/mod.rs` → `[sql]`; `lib.rs` → `[]`.
fn module_path(file: &str) -> Vec<&str> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<&str> = stem.split('/').collect();
    if matches!(parts.last(), Some(&"mod") | Some(&"lib")) {
        parts.pop();
    }
    parts
}

/// The item `name` in `text` — inside `impl … owner` when `owner` is given and `exact` — with
/// its first line (from 1) and its text with doc comments and attributes, dedented.
fn find_item(text: &str, name: &str, owner: Option<&str>, exact: bool) -> Option<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut current_impl: Option<(usize, String)> = None; // (indent, header)
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with("impl") && (trimmed.starts_with("impl ") || trimmed.starts_with("impl<")) {
            current_impl = Some((indent, trimmed.to_string()));
        } else if current_impl.as_ref().is_some_and(|(d, _)| indent <= *d)
            && !trimmed.is_empty()
            && !trimmed.starts_with(['}', '{'])
            && !trimmed.starts_with("where")
            && !trimmed.starts_with("//")
        {
            // Back at the impl's own indentation with something that is not its brace or
            // `where` clause: the impl has ended.
            current_impl = None;
        }
        if !defines(trimmed, name) {
            continue;
        }
        let in_owner = match (owner, &current_impl) {
            (Some(o), Some((_, header))) => header.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == o),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if in_owner || !exact {
            return Some(extract(&lines, i));
        }
    }
    None
}

/// Whether `line` starts the definition of `name`.
fn defines(line: &str, name: &str) -> bool {
    let mut rest = line;
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    for kw in ["fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "macro_rules! ", "mod "] {
        if let Some(after) = rest.strip_prefix(kw) {
            let ident: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            return ident == name;
        }
    }
    false
}

/// From the definition at `start`: back over its doc comment and attributes, forward to
/// the brace (or semicolon) that closes it.
fn extract(lines: &[&str], start: usize) -> (usize, String) {
    let mut first = start;
    while first > 0 {
        let above = lines[first - 1].trim_start();
        if above.starts_with("///") || above.starts_with("#[") {
            first -= 1;
        } else {
            break;
        }
    }
    let last = closing_line(lines, start);
    let block = &lines[first..=last];
    let indent = block.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let text = block.iter().map(|l| if l.len() >= indent { &l[indent..] } else { l.trim_start() }).collect::<Vec<_>>().join("\n");
    (first + 1, text)
}

/// The line where the item starting at `start` ends: braces counted outside strings,
/// characters and comments.
fn closing_line(lines: &[&str], start: usize) -> usize {
    let mut depth = 0i32;
    let mut opened = false;
    let mut in_string: Option<usize> = None; // Some(hashes) inside a (raw) string
    let mut raw = false;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let chars: Vec<char> = line.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            if let Some(hashes) = in_string {
                if raw {
                    if c == '"' && chars[j + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes {
                        in_string = None;
                        j += hashes;
                    }
                } else if c == '\\' {
                    j += 1;
                } else if c == '"' {
                    in_string = None;
                }
                j += 1;
                continue;
            }
            match c {
                '/' if chars.get(j + 1) == Some(&'/') => break,
                'r' if matches!(chars.get(j + 1), Some('"') | Some('#')) && (j == 0 || !chars[j - 1].is_alphanumeric()) => {
                    let hashes = chars[j + 1..].iter().take_while(|&&h| h == '#').count();
                    if chars.get(j + 1 + hashes) == Some(&'"') {
                        in_string = Some(hashes);
                        raw = true;
                        j += hashes + 2;
                        continue;
                    }
                }
                '"' => {
                    in_string = Some(0);
                    raw = false;
                }
                '\'' => {
                    // A character literal ('{', '\'', '\u{7b}'), not a lifetime.
                    if chars.get(j + 1) == Some(&'\\') {
                        if let Some(end) = chars[j + 2..].iter().position(|&x| x == '\'') {
                            j += end + 3;
                            continue;
                        }
                    } else if chars.get(j + 2) == Some(&'\'') {
                        j += 3;
                        continue;
                    }
                }
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => {
                    depth -= 1;
                    if opened && depth == 0 {
                        return i;
                    }
                }
                ';' if !opened && depth == 0 => return i,
                _ => {}
            }
            j += 1;
        }
    }
    lines.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    on_disk.push(path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<String> = FILES.iter().map(|(f, _)| f.to_string()).collect();
        assert_eq!(embedded, on_disk, "add new files to source::FILES (sorted)");
    }

    #[test]
    fn a_function_comes_with_its_doc_comment_and_ends_at_its_brace() {
        let code = of("sql::users::by_country").unwrap();
        assert_eq!(code.file, "helpers/src/sql/users.rs");
        assert!(code.text.starts_with("/// Users whose address is in `country`"), "{}", code.text);
        assert!(code.text.contains("WHERE co.name = $1 OR co.code = $1"), "{}", code.text);
        assert!(code.text.trim_end().ends_with('}'), "{}", code.text);
        assert!(!code.text.contains("pub async fn by_city"), "{}", code.text);
        let line = include_str!("sql/users.rs").lines().nth(code.line - 1).unwrap();
        assert!(line.starts_with("/// Users whose address"), "{line}");
    }

    #[test]
    fn a_method_is_found_inside_the_impl_of_its_type() {
        let code = of("config::ServiceUrl::masked").unwrap();
        assert!(code.text.contains("fn masked(&self)"), "{}", code.text);
        assert!(!code.text.starts_with(' '), "dedented: {}", code.text);
    }

    #[test]
    fn a_method_of_one_type_is_not_taken_for_another_types_method_of_the_same_name() {
        // `get` exists in `impl RedisCache` (redis_cache.rs, listed first) and `impl TieredCache`.
        let code = of("cache::TieredCache::get").unwrap();
        assert_eq!(code.file, "helpers/src/cache/tiered.rs", "{}", code.text);
    }

    #[test]
    fn braces_inside_strings_and_chars_do_not_end_the_item() {
        let lines = ["fn f() {", "    let s = \"}\";", "    let r = r#\"}\"#;", "    let c = '}';", "    g(s);", "}", "fn other() {}"];
        assert_eq!(closing_line(&lines, 0), 5);
    }

    #[test]
    fn an_unknown_item_is_named_in_the_error() {
        let err = of("sql::users::no_such_thing").unwrap_err().to_string();
        assert!(err.contains("no_such_thing") && err.contains("src/sql/users"), "{err}");
    }

    #[test]
    fn the_macro_takes_a_path() {
        let code = crate::source!(runtime::run).unwrap();
        assert!(code.text.contains("pub fn run<F>"), "{}", code.text);
    }
}
