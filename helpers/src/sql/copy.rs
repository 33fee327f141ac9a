//! PostgreSQL results into a DataFrame at the server's pace: `COPY (query) TO STDOUT (FORMAT
//! binary)`, decoded column by column straight into Polars builders.
//!
//! The row-by-row path ([`super::query`]) asks sqlx for one `PgRow` per row and turns each
//! value into a cell before the column is built: two allocations and a type switch per value.
//! Here the server streams its binary COPY format — per row a field count, per field a length
//! and the value's bytes, big-endian — and each field is appended to its column's builder as
//! it arrives. The column types come from the statement's own description (a `Parse` of it,
//! before anything runs), so nothing waits for the first row to learn them.
//!
//! `COPY` takes no parameters: the values of `$1`, `$2`, … are written into the statement as
//! typed literals (`$m8$text$m8$::text`, `42::int8`, …) by [`inline_params`], which knows
//! PostgreSQL's strings, quoted names, comments and dollar quotes, so a `$1` inside them stays
//! as it is. Dollar quoting has no escapes at all: a value can never end its literal early.
//!
//! What this path does not know — a column type without a decoder here (`numeric`, arrays,
//! …), a statement that is not a query, a server whose text is not UTF-8 — goes the
//! row-by-row way, which names the problem if there is one. The type rules are those of
//! [`super::query::query_frame`]: every integer type is `i64`, every float `f64`,
//! `timestamptz` is its UTC time, a column of nulls only is text, and no rows give a frame
//! with no columns.

use chrono::NaiveDateTime;
use futures_util::TryStreamExt as _;
use polars::prelude::*;
use sqlx::{Column as _, Statement as _, TypeInfo as _};

use crate::error::{Error, Result};

/// The COPY binary signature, then the flags and the header extension's length.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Microseconds from 1970-01-01 (Polars' epoch) to 2000-01-01 (PostgreSQL's).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Days from 1970-01-01 to 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

/// The column types this path decodes, by PostgreSQL's name for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
    Json,
    Jsonb,
    Timestamp,
    TimestampTz,
    Date,
}

impl Kind {
    /// The kind of a column whose type sqlx names `name` (`INT8`, `TEXT`, …), if decoded here.
    pub(super) fn of(name: &str) -> Option<Kind> {
        Some(match name {
            "BOOL" => Kind::Bool,
            "INT2" => Kind::Int2,
            "INT4" => Kind::Int4,
            "INT8" => Kind::Int8,
            "FLOAT4" => Kind::Float4,
            "FLOAT8" => Kind::Float8,
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => Kind::Text,
            "JSON" => Kind::Json,
            "JSONB" => Kind::Jsonb,
            "TIMESTAMP" => Kind::Timestamp,
            "TIMESTAMPTZ" => Kind::TimestampTz,
            "DATE" => Kind::Date,
            _ => return None,
        })
    }
}

/// One column being filled.
enum Builder {
    Bool(BooleanChunkedBuilder),
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Text(StringChunkedBuilder),
    /// Microseconds since 1970.
    DateTime(PrimitiveChunkedBuilder<Int64Type>),
    /// Days since 1970.
    Date(PrimitiveChunkedBuilder<Int32Type>),
}

/// A column: its name, kind, builder, and whether any value was not null.
struct Col {
    name: String,
    kind: Kind,
    builder: Builder,
    any_value: bool,
    len: usize,
}

impl Col {
    fn new(name: &str, kind: Kind, capacity: usize) -> Col {
        let n: PlSmallStr = name.into();
        let builder = match kind {
            Kind::Bool => Builder::Bool(BooleanChunkedBuilder::new(n, capacity)),
            Kind::Int2 | Kind::Int4 | Kind::Int8 => Builder::Int(PrimitiveChunkedBuilder::new(n, capacity)),
            Kind::Float4 | Kind::Float8 => Builder::Float(PrimitiveChunkedBuilder::new(n, capacity)),
            Kind::Text | Kind::Json | Kind::Jsonb => Builder::Text(StringChunkedBuilder::new(n, capacity)),
            Kind::Timestamp | Kind::TimestampTz => Builder::DateTime(PrimitiveChunkedBuilder::new(n, capacity)),
            Kind::Date => Builder::Date(PrimitiveChunkedBuilder::new(n, capacity)),
        };
        Col { name: name.to_string(), kind, builder, any_value: false, len: 0 }
    }

    fn push_null(&mut self) {
        self.len += 1;
        match &mut self.builder {
            Builder::Bool(b) => b.append_null(),
            Builder::Int(b) | Builder::DateTime(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    /// Appends one value from its binary form.
    fn push(&mut self, v: &[u8]) -> Result<()> {
        self.any_value = true;
        self.len += 1;
        let bad = |what: &str| Error::Codec {
            what: format!("column `{}` ({:?})", self.name, self.kind),
            reason: format!("{what} in PostgreSQL's binary COPY data; CAST it to TEXT in the query"),
        };
        match (&mut self.builder, self.kind) {
            (Builder::Bool(b), _) => b.append_value(*v.first().ok_or_else(|| bad("an empty boolean"))? != 0),
            (Builder::Int(b), Kind::Int2) => b.append_value(i16::from_be_bytes(fixed(v).ok_or_else(|| bad("a short int2"))?) as i64),
            (Builder::Int(b), Kind::Int4) => b.append_value(i32::from_be_bytes(fixed(v).ok_or_else(|| bad("a short int4"))?) as i64),
            (Builder::Int(b), _) => b.append_value(i64::from_be_bytes(fixed(v).ok_or_else(|| bad("a short int8"))?)),
            (Builder::Float(b), Kind::Float4) => b.append_value(f32::from_be_bytes(fixed(v).ok_or_else(|| bad("a short float4"))?) as f64),
            (Builder::Float(b), _) => b.append_value(f64::from_be_bytes(fixed(v).ok_or_else(|| bad("a short float8"))?)),
            (Builder::Text(b), Kind::Text) => b.append_value(std::str::from_utf8(v).map_err(|_| bad("text that is not UTF-8"))?),
            (Builder::Text(b), kind) => {
                // JSON as query_frame shows it: parsed, then written compactly.
                let body = if kind == Kind::Jsonb { v.split_first().filter(|(version, _)| **version == 1).map(|(_, rest)| rest).ok_or_else(|| bad("a jsonb of an unknown version"))? } else { v };
                let parsed: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("JSON that does not parse"))?;
                b.append_value(parsed.to_string());
            }
            (Builder::DateTime(b), _) => {
                let us = i64::from_be_bytes(fixed(v).ok_or_else(|| bad("a short timestamp"))?);
                if us == i64::MAX || us == i64::MIN {
                    return Err(bad("an infinite timestamp"));
                }
                b.append_value(us.checked_add(PG_EPOCH_US).ok_or_else(|| bad("a timestamp out of range"))?);
            }
            (Builder::Date(b), _) => {
                let days = i32::from_be_bytes(fixed(v).ok_or_else(|| bad("a short date"))?);
                if days == i32::MAX || days == i32::MIN {
                    return Err(bad("an infinite date"));
                }
                b.append_value(days.checked_add(PG_EPOCH_DAYS).ok_or_else(|| bad("a date out of range"))?);
            }
        }
        Ok(())
    }

    /// The finished column, typed as `query_frame` types it.
    fn finish(self) -> Result<Column> {
        if !self.any_value {
            // Only nulls: text, as the row-by-row path makes it.
            return Ok(Column::full_null(self.name.as_str().into(), self.len, &DataType::String));
        }
        Ok(match self.builder {
            Builder::Bool(b) => b.finish().into_column(),
            Builder::Int(b) => b.finish().into_column(),
            Builder::Float(b) => b.finish().into_column(),
            Builder::Text(b) => b.finish().into_column(),
            Builder::DateTime(b) => b.finish().into_series().cast(&DataType::Datetime(TimeUnit::Microseconds, None))?.cast(&datetime_type())?.into_column(),
            Builder::Date(b) => b.finish().into_series().cast(&DataType::Date)?.into_column(),
        })
    }
}

/// The type `Column::new` gives a column of `NaiveDateTime`s — the row-by-row path's.
fn datetime_type() -> DataType {
    static TYPE: std::sync::OnceLock<DataType> = std::sync::OnceLock::new();
    TYPE.get_or_init(|| Column::new("t".into(), [NaiveDateTime::default()]).dtype().clone()).clone()
}

fn fixed<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    v.try_into().ok()
}

/// Reads the binary COPY stream: the header once, then row after row into the columns.
struct Decoder {
    cols: Vec<Col>,
    header_done: bool,
    rows: usize,
    ended: bool,
    /// Where each field of the row being read starts, and its length (-1: NULL).
    spans: Vec<(usize, i32)>,
}

impl Decoder {
    fn new(columns: &[(String, Kind)]) -> Decoder {
        Decoder { cols: columns.iter().map(|(n, k)| Col::new(n, *k, 1024)).collect(), header_done: false, rows: 0, ended: false, spans: Vec::with_capacity(columns.len()) }
    }
}

/// What the decoder made of the bytes it was given.
enum Progress {
    /// It needs more bytes (it used `usize` of them).
    More(usize),
    /// It reached `max_rows` and the stream holds another row (it used `usize` bytes).
    Full,
    /// The trailer came: every row is in.
    End,
}

impl Decoder {
    fn feed(&mut self, buf: &[u8], max_rows: usize) -> Result<Progress> {
        let protocol = |what: &str| Error::Codec { what: "PostgreSQL's binary COPY stream".into(), reason: what.to_string() };
        let mut at = 0;
        if !self.header_done {
            if buf.len() < SIGNATURE.len() + 8 {
                return Ok(Progress::More(0));
            }
            if &buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(protocol("it does not start with the PGCOPY signature"));
            }
            let ext = u32::from_be_bytes(buf[SIGNATURE.len() + 4..SIGNATURE.len() + 8].try_into().expect("4 bytes")) as usize;
            let end = SIGNATURE.len() + 8 + ext;
            if buf.len() < end {
                return Ok(Progress::More(0));
            }
            at = end;
            self.header_done = true;
        }
        loop {
            let Some(count) = buf.get(at..at + 2) else { return Ok(Progress::More(at)) };
            let count = i16::from_be_bytes([count[0], count[1]]);
            if count == -1 {
                self.ended = true;
                return Ok(Progress::End);
            }
            if count as usize != self.cols.len() {
                return Err(protocol(&format!("a row of {count} fields where the statement describes {}", self.cols.len())));
            }
            if self.rows == max_rows {
                return Ok(Progress::Full);
            }
            // The whole row first, so that a row is never half in the columns.
            let mut p = at + 2;
            self.spans.clear();
            for _ in 0..self.cols.len() {
                let Some(len) = buf.get(p..p + 4) else { return Ok(Progress::More(at)) };
                let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                p += 4;
                self.spans.push((p, len));
                if len > 0 {
                    p += len as usize;
                    if p > buf.len() {
                        return Ok(Progress::More(at));
                    }
                }
            }
            for (col, &(start, len)) in self.cols.iter_mut().zip(&self.spans) {
                if len < 0 { col.push_null() } else { col.push(&buf[start..start + len as usize])? }
            }
            self.rows += 1;
            at = p;
        }
    }
}

/// The columns of `sql` as PostgreSQL describes them, when every one of them is decoded here.
pub(super) async fn describe(conn: &mut sqlx_postgres::PgConnection, sql: &str) -> std::result::Result<Option<Vec<(String, Kind)>>, sqlx::Error> {
    use sqlx::Executor as _;
    let statement = conn.prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql.to_string()))).await?;
    let columns: Vec<(String, Option<Kind>)> = statement.columns().iter().map(|c| (c.name().to_string(), Kind::of(c.type_info().name()))).collect();
    if columns.is_empty() || columns.iter().any(|(_, k)| k.is_none()) {
        return Ok(None);
    }
    Ok(Some(columns.into_iter().map(|(n, k)| (n, k.expect("checked"))).collect()))
}

/// What [`fetch`] brought back.
pub(super) struct Copied {
    /// The frame (no columns when there were no rows, as `query_frame` gives it).
    pub frame: DataFrame,
    /// Whether the result had more than `max_rows` rows (the rest was never decoded).
    pub cut: bool,
}

/// `COPY (sql) TO STDOUT (FORMAT binary)` on `conn`, decoded into `columns` (from
/// [`describe`]); at most `max_rows` rows. A cut result leaves the connection in the middle of
/// the stream: the caller closes it (which stops the server's work at once).
pub(super) async fn fetch(conn: &mut sqlx_postgres::PgConnection, sql: &str, columns: &[(String, Kind)], max_rows: usize) -> std::result::Result<Copied, sqlx::Error> {
    let statement = format!("COPY ({}\n) TO STDOUT (FORMAT binary)", sql.trim().trim_end_matches(';'));
    let mut stream = conn.copy_out_raw(&statement).await?;
    let mut decoder = Decoder::new(columns);
    let mut pending: Vec<u8> = Vec::new();
    let mut cut = false;
    let codec = |e: Error| sqlx::Error::Decode(Box::new(e));
    while let Some(chunk) = stream.try_next().await? {
        let progress = if pending.is_empty() {
            // The usual case: one CopyData message holds whole rows.
            let progress = decoder.feed(&chunk, max_rows).map_err(codec)?;
            if let Progress::More(used) = progress {
                pending.extend_from_slice(&chunk[used..]);
            }
            progress
        } else {
            pending.extend_from_slice(&chunk);
            let progress = decoder.feed(&pending, max_rows).map_err(codec)?;
            if let Progress::More(used) = progress {
                pending.drain(..used);
            }
            progress
        };
        match progress {
            Progress::More(_) => {}
            Progress::Full => {
                cut = true;
                break;
            }
            Progress::End => {}
        }
    }
    drop(stream);
    if !cut && !decoder.ended {
        return Err(sqlx::Error::Decode(Box::new(Error::Codec { what: "PostgreSQL's binary COPY stream".into(), reason: "it ended before its trailer".into() })));
    }
    let frame = if decoder.rows == 0 {
        DataFrame::empty()
    } else {
        let columns = decoder.cols.into_iter().map(Col::finish).collect::<Result<Vec<_>>>().map_err(codec)?;
        DataFrame::new_infer_height(columns).map_err(|e| codec(e.into()))?
    };
    Ok(Copied { frame, cut })
}

/// Whether `sql` is a statement `COPY (…) TO` can take: a `SELECT`, `WITH`, `VALUES` or `TABLE`.
pub(super) fn is_query(sql: &str) -> bool {
    let first_word = sql.trim_start().split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or_default().to_ascii_uppercase();
    matches!(first_word.as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE")
}

/// Reads a query through binary `COPY` when it can: `None` for a statement that is not a
/// query, holds a column type without a decoder here, or whose placeholders the scanner does
/// not follow — the caller reads those row by row. `literals` are the parameters as typed
/// literals (`query::literals`).
pub(super) async fn read(conn: &mut sqlx_postgres::PgConnection, sql: &str, literals: &[String], max_rows: usize) -> std::result::Result<Option<Copied>, sqlx::Error> {
    if !is_query(sql) {
        return Ok(None);
    }
    let Some(inlined) = inline_params(sql, literals) else { return Ok(None) };
    // The inlined text is described, not `sql`: sqlx keeps a described statement in its cache
    // under its text, with the parameter types the server inferred (`g > $1` → int4); a later
    // row-by-row run of `sql` on this connection would bind an i64 to it ("incorrect binary data
    // format in bind parameter 1", seen once when both ran on one pooled connection).
    let Some(columns) = describe(conn, &inlined).await? else { return Ok(None) };
    match fetch(conn, &inlined, &columns, max_rows).await {
        // COPY refuses some queries a plain SELECT runs (e.g. `SELECT … FOR UPDATE`).
        Err(e) if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "0A000") => Ok(None),
        other => other.map(Some),
    }
}

/// `sql` with `$1`, `$2`, … replaced by `literals` (the parameters written as typed SQL
/// literals, `query::literals`), or `None` when the text holds something this scanner does not
/// follow (an unterminated string or comment, a placeholder without a value): the caller then
/// binds them the ordinary way.
pub(super) fn inline_params(sql: &str, literals: &[String]) -> Option<String> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16 * literals.len());
    let (mut i, mut copied) = (0, 0);
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                // E'…' strings take backslash escapes.
                let escapes = q == b'\'' && i > 0 && (b[i - 1] == b'E' || b[i - 1] == b'e') && (i < 2 || !is_ident(b[i - 2]));
                i += 1;
                loop {
                    let c = *b.get(i)?;
                    if escapes && c == b'\\' {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    if c == q {
                        if b.get(i) == Some(&q) {
                            i += 1; // a doubled quote
                            continue;
                        }
                        break;
                    }
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                loop {
                    if b.get(i..i + 2)? == b"/*" {
                        depth += 1;
                        i += 2;
                    } else if b.get(i..i + 2)? == b"*/" {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if i > 0 && is_ident(b[i - 1]) => i += 1, // part of a name (`a$1`)
            b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n: usize = sql[start + 1..i].parse().ok()?;
                let value = literals.get(n.checked_sub(1)?)?;
                out.push_str(&sql[copied..start]);
                out.push_str(value);
                copied = i;
            }
            b'$' => {
                // A dollar quote: $$…$$ or $tag$…$tag$ (a tag never starts with a digit).
                let mut j = i + 1;
                while j < b.len() && is_ident(b[j]) {
                    j += 1;
                }
                if b.get(j) != Some(&b'$') {
                    i += 1;
                    continue;
                }
                let tag = &sql[i..=j];
                let body = j + 1;
                i = sql[body..].find(tag)? + body + tag.len();
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_typed_literals_and_strings_comments_and_quotes_are_left_alone() {
        let params = ["(7::int8)".to_string(), "($m8_1$O'Brien $m8$ x$m8_1$::text)".into(), "(NULL::text)".into()];
        let sql = "SELECT '$1', \"a$1\", $$ $2 $$, $q$ $1 $q$, E'\\' $1', a$1 /* $1 /* $2 */ */ FROM t -- $3\nWHERE x = $1 AND y = $2 AND z IS $3 AND w = $10";
        assert_eq!(inline_params(sql, &params), None, "$10 has no value");
        let sql = sql.replace("$10", "$1");
        let out = inline_params(&sql, &params).unwrap();
        assert_eq!(
            out,
            "SELECT '$1', \"a$1\", $$ $2 $$, $q$ $1 $q$, E'\\' $1', a$1 /* $1 /* $2 */ */ FROM t -- $3\nWHERE x = (7::int8) AND y = ($m8_1$O'Brien $m8$ x$m8_1$::text) AND z IS (NULL::text) AND w = (7::int8)"
        );
        assert_eq!(inline_params("SELECT 'unterminated $1", &params), None);
        assert_eq!(inline_params("SELECT 1 /* open", &params), None);
    }

    /// A stream cut anywhere — even inside the header or a value — decodes to the same rows.
    #[test]
    fn rows_split_across_messages_decode_whole() {
        let mut data = SIGNATURE.to_vec();
        data.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        let row = |id: i64, name: Option<&str>| {
            let mut r = vec![0, 2];
            r.extend(8i32.to_be_bytes());
            r.extend(id.to_be_bytes());
            match name {
                Some(n) => {
                    r.extend((n.len() as i32).to_be_bytes());
                    r.extend(n.as_bytes());
                }
                None => r.extend((-1i32).to_be_bytes()),
            }
            r
        };
        for (id, name) in [(1, Some("Ada")), (2, None), (3, Some("Grace"))] {
            data.extend(row(id, name));
        }
        data.extend((-1i16).to_be_bytes());
        let columns = [("id".to_string(), Kind::Int8), ("name".to_string(), Kind::Text)];
        for cut in 1..data.len() {
            let mut d = Decoder::new(&columns);
            let mut pending = Vec::new();
            for chunk in [&data[..cut], &data[cut..]] {
                pending.extend_from_slice(chunk);
                match d.feed(&pending, usize::MAX).unwrap() {
                    Progress::More(used) => {
                        pending.drain(..used);
                    }
                    Progress::End => break,
                    Progress::Full => unreachable!(),
                }
            }
            assert!(d.ended && d.rows == 3, "cut at {cut}");
            let cols: Vec<Column> = d.cols.into_iter().map(|c| c.finish().unwrap()).collect();
            let df = DataFrame::new_infer_height(cols).unwrap();
            assert_eq!(df.column("id").unwrap().i64().unwrap().into_no_null_iter().collect::<Vec<_>>(), [1, 2, 3], "cut at {cut}");
            assert_eq!(df.column("name").unwrap().str().unwrap().iter().collect::<Vec<_>>(), [Some("Ada"), None, Some("Grace")], "cut at {cut}");
        }
        // A cap stops before the row past it.
        let mut d = Decoder::new(&columns);
        assert!(matches!(d.feed(&data, 2).unwrap(), Progress::Full) && d.rows == 2);
    }
}
