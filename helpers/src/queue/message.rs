//! The messages of the lesson: typed, serialised as JSON, with their metadata in AMQP
//! properties (content type, message id, timestamp, type, persistent delivery) and headers
//! (schema version, publish time in µs, attempt).
//!
//! [`decode`] is the gate every consumer passes a delivery through: it either yields a
//! [`Message`] or says, in one sentence, why the delivery cannot be processed (malformed JSON,
//! an unknown type, a schema from the future), so the consumer can dead-letter it with that
//! reason and carry on.

use std::sync::atomic::{AtomicU64, Ordering};

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use serde::{Deserialize, Serialize};

use super::topology::text;

/// The schema version this code writes and the newest it reads.
pub const SCHEMA_VERSION: u32 = 1;
/// The content type of every message.
pub const CONTENT_TYPE: &str = "application/json";
/// Header: schema version of the body.
pub const H_SCHEMA: &str = "x-schema-version";
/// Header: publish time, microseconds since the Unix epoch (latency is measured from it).
pub const H_PUBLISHED_US: &str = "x-published-us";
/// Header: which delivery attempt this is (1 for the first).
pub const H_ATTEMPT: &str = "x-attempt";
/// Header: the last error a handler gave for a retry.
pub const H_LAST_ERROR: &str = "x-last-error";

/// A user signed up or changed their data (`data_processing`, key `user.signup`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserData {
    /// Login name.
    pub username: String,
    /// E-mail address as entered.
    pub email: String,
    /// Sign-up time (RFC 3339).
    pub registration_date: String,
    /// Country, if the form had one.
    #[serde(default)]
    pub country: Option<String>,
}

/// Something to tell a user (`notifications`, key `notification.<channel>.<kind>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Address to send to.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub content: String,
    /// `email` or `sms`.
    pub channel: String,
}

/// Something happened (`analytics`, fanned out to every analytics queue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyticsEvent {
    /// What happened, e.g. `user_signup`.
    pub event_type: String,
    /// Who did it.
    pub user_id: i64,
    /// Any further properties.
    #[serde(default)]
    pub properties: serde_json::Value,
}

/// A message of the lesson. Serialised as `{"type": "user_data", …fields}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// See [`UserData`].
    UserData(UserData),
    /// See [`Notification`].
    Notification(Notification),
    /// See [`AnalyticsEvent`].
    Analytics(AnalyticsEvent),
}

/// The type names [`Message`] knows.
pub const MESSAGE_TYPES: [&str; 3] = ["user_data", "notification", "analytics"];

impl Message {
    /// The type name (`user_data`, `notification`, `analytics`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::UserData(_) => "user_data",
            Message::Notification(_) => "notification",
            Message::Analytics(_) => "analytics",
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("messages are plain data and always serialise")
    }

    /// The body plus properties for publishing: persistent, JSON, a fresh message id, the
    /// current time, the schema version, and `priority` if given.
    pub fn envelope(&self, priority: Option<u8>) -> (Vec<u8>, BasicProperties) {
        let props = properties(self.type_name(), 1, priority);
        (self.to_json(), props)
    }
}

/// Properties of a message of type `kind` on its `attempt`-th delivery.
pub fn properties(kind: &str, attempt: u32, priority: Option<u8>) -> BasicProperties {
    let now_us = now_us();
    let mut headers = FieldTable::default();
    headers.insert(H_SCHEMA.into(), AMQPValue::LongUInt(SCHEMA_VERSION));
    headers.insert(H_PUBLISHED_US.into(), AMQPValue::LongLongInt(now_us));
    headers.insert(H_ATTEMPT.into(), AMQPValue::LongUInt(attempt));
    let mut props = BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(2)
        .with_message_id(next_message_id().into())
        .with_timestamp((now_us / 1_000_000) as u64)
        .with_type(kind.into())
        .with_headers(headers);
    if let Some(p) = priority {
        props = props.with_priority(p);
    }
    props
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A message id unique within this process and very likely across processes:
/// `<pid>-<start µs>-<counter>`.
pub fn next_message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(now_us);
    format!("{:x}-{:x}-{}", std::process::id(), start, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Reads an integer header, whatever integer type the sender used.
pub fn header_i64(headers: Option<&FieldTable>, key: &str) -> Option<i64> {
    match headers?.inner().get(key)? {
        AMQPValue::ShortShortInt(v) => Some(*v as i64),
        AMQPValue::ShortShortUInt(v) => Some(*v as i64),
        AMQPValue::ShortInt(v) => Some(*v as i64),
        AMQPValue::ShortUInt(v) => Some(*v as i64),
        AMQPValue::LongInt(v) => Some(*v as i64),
        AMQPValue::LongUInt(v) => Some(*v as i64),
        AMQPValue::LongLongInt(v) => Some(*v),
        _ => None,
    }
}

/// Reads a string header.
pub fn header_str(headers: Option<&FieldTable>, key: &str) -> Option<String> {
    match headers?.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Copies `props` with headers changed by `edit` (for retries and dead letters).
pub fn with_headers(props: &BasicProperties, edit: impl FnOnce(&mut FieldTable)) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    edit(&mut headers);
    props.clone().with_headers(headers)
}

/// Bytes a header table takes on the wire (AMQP field-table encoding, length prefix included).
pub fn headers_len(headers: &FieldTable) -> usize {
    use amq_protocol::frame::WriteContext;
    amq_protocol::types::generation::gen_field_table(headers)(WriteContext::from(Vec::new()))
        .map_or(usize::MAX, |written| written.position as usize)
}

/// Bytes the content-header frame of a message with `props` takes on the wire: the frame's own
/// bytes (8), the header's fixed fields (class, weight, body size: 12) and the properties
/// (flags, short strings, the header table). It must not exceed the connection's `frame_max`.
pub fn header_frame_len(props: &BasicProperties) -> usize {
    use amq_protocol::frame::WriteContext;
    amq_protocol::protocol::basic::gen_properties(props)(WriteContext::from(Vec::new()))
        .map_or(usize::MAX, |written| 8 + 12 + written.position as usize)
}

/// Room left for headers in a content-header frame of `frame_max` bytes: the frame's own
/// bytes (8), the header's fixed fields (14) and, at most, the other properties (message id,
/// content type, … are short strings of ≤ 255 bytes each; 2 KB covers them).
pub fn header_budget(frame_max: u32) -> usize {
    (frame_max as usize).saturating_sub(8 + 14 + 2_048)
}

/// The properties of a copy of a delivery (a retry, a dead letter) with our headers added by
/// `extra`, unless they would not fit in one frame of `frame_max` bytes: a message near the
/// limit was accepted by the broker, but a copy that outgrows the frame would make it close
/// the connection and leave the message stuck. Then the copy keeps the original's headers
/// and only `key` = `reason`, cut to the room left (or nothing, if none is left).
pub fn copy_properties(props: &BasicProperties, frame_max: u32, key: &str, reason: &str, extra: impl FnOnce(&mut FieldTable)) -> BasicProperties {
    let full = with_headers(props, extra);
    let budget = header_budget(frame_max);
    if full.headers().as_ref().map_or(0, headers_len) <= budget {
        return full;
    }
    let original = props.headers().as_ref().map_or(4, headers_len);
    // A long-string entry costs 1 + key + 1 + 4 bytes besides its text.
    let room = budget.saturating_sub(original + 6 + key.len());
    if room < 16 {
        return props.clone();
    }
    let mut cut = reason.len().min(room);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    with_headers(props, |h| set_str(h, key, &reason[..cut]))
}

/// Sets a string header.
pub fn set_str(headers: &mut FieldTable, key: &str, value: &str) {
    headers.insert(key.into(), text(value));
}

/// Why a delivery could not be turned into a [`Message`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON without a `type` we know.
    #[error("unknown message type {0} (known: user_data, notification, analytics)")]
    UnknownType(String),
    /// The body has a known type but the fields do not fit it.
    #[error("invalid {kind} message: {reason}")]
    InvalidFields {
        /// The type it claimed.
        kind: String,
        /// What serde said.
        reason: String,
    },
    /// The content type is not JSON.
    #[error("content type {0:?} is not {CONTENT_TYPE}")]
    ContentType(String),
    /// Written by a newer schema than this code reads.
    #[error("schema version {0} is newer than {SCHEMA_VERSION}, the newest this consumer reads")]
    SchemaTooNew(i64),
}

/// Turns a delivery's body and properties into a [`Message`], or says why not.
pub fn decode(body: &[u8], props: &BasicProperties) -> Result<Message, Unusable> {
    if let Some(ct) = props.content_type() {
        if ct.as_str() != CONTENT_TYPE {
            return Err(Unusable::ContentType(ct.as_str().to_string()));
        }
    }
    if let Some(v) = header_i64(props.headers().as_ref(), H_SCHEMA) {
        if v > SCHEMA_VERSION as i64 {
            return Err(Unusable::SchemaTooNew(v));
        }
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| Unusable::MalformedJson(e.to_string()))?;
    let kind = match value.get("type") {
        Some(serde_json::Value::String(s)) if MESSAGE_TYPES.contains(&s.as_str()) => s.clone(),
        Some(other) => return Err(Unusable::UnknownType(other.to_string())),
        None => return Err(Unusable::UnknownType("(none: the body has no \"type\")".into())),
    };
    serde_json::from_value(value).map_err(|e| Unusable::InvalidFields { kind, reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_that_would_outgrow_the_frame_keeps_a_cut_reason_and_nothing_else_of_ours() {
        let frame_max = 131_072;
        let small = properties("user_data", 1, None);
        let copy = copy_properties(&small, frame_max, "x-death-reason", "bad e-mail", |h| {
            set_str(h, "x-death-reason", "bad e-mail");
            set_str(h, "x-original-queue", "user_data");
        });
        let headers = copy.headers().clone().unwrap();
        assert!(headers.inner().contains_key("x-original-queue") && headers.inner().contains_key("x-death-reason"));

        let filler = "x".repeat(frame_max as usize - 3_000);
        let big = with_headers(&small, |h| set_str(h, "x-filler", &filler));
        let reason = "é".repeat(3_000); // two bytes each: the cut must fall on a character boundary
        let copy = copy_properties(&big, frame_max, "x-death-reason", &reason, |h| {
            set_str(h, "x-death-reason", &reason);
            set_str(h, "x-original-queue", "user_data");
        });
        let headers = copy.headers().clone().unwrap();
        assert!(headers_len(&headers) <= header_budget(frame_max), "the copy fits in one frame");
        assert!(!headers.inner().contains_key("x-original-queue"), "our other headers are dropped");
        let AMQPValue::LongString(cut) = &headers.inner()["x-death-reason"] else { panic!("reason kept as text") };
        let cut = String::from_utf8(cut.as_bytes().to_vec()).expect("cut on a character boundary");
        assert!(cut.len() > 100 && cut.len() < reason.len() && reason.starts_with(&cut), "{}", cut.len());

        // No room left at all: the copy is the original, unchanged.
        let full = with_headers(&small, |h| set_str(h, "x-filler", &"x".repeat(header_budget(frame_max) - 40)));
        let copy = copy_properties(&full, frame_max, "x-death-reason", &reason, |h| set_str(h, "x-death-reason", &reason));
        assert_eq!(copy.headers(), full.headers());
    }

    fn user() -> Message {
        Message::UserData(UserData { username: "ada".into(), email: "ada@example.com".into(), registration_date: "2026-01-01T00:00:00Z".into(), country: None })
    }

    #[test]
    fn a_message_survives_the_round_trip_with_its_metadata() {
        let (body, props) = user().envelope(Some(7));
        assert_eq!(decode(&body, &props).unwrap(), user());
        assert_eq!(props.content_type().as_ref().unwrap().as_str(), CONTENT_TYPE);
        assert_eq!(props.delivery_mode(), &Some(2));
        assert_eq!(props.priority(), &Some(7));
        assert_eq!(props.kind().as_ref().unwrap().as_str(), "user_data");
        assert_eq!(header_i64(props.headers().as_ref(), H_SCHEMA), Some(1));
        assert_eq!(header_i64(props.headers().as_ref(), H_ATTEMPT), Some(1));
        assert!(String::from_utf8(body).unwrap().starts_with(r#"{"type":"user_data","#));
    }

    #[test]
    fn message_ids_differ() {
        let (_, a) = user().envelope(None);
        let (_, b) = user().envelope(None);
        assert_ne!(a.message_id(), b.message_id());
    }

    #[test]
    fn unusable_deliveries_say_why() {
        let props = properties("x", 1, None);
        let why = |body: &str| decode(body.as_bytes(), &props).unwrap_err().to_string();
        assert!(why("{not json").starts_with("malformed JSON"), "{}", why("{not json"));
        assert!(why(r#"{"type":"refund","amount":3}"#).contains(r#"unknown message type "refund""#));
        assert!(why(r#"{"amount":3}"#).contains("no \"type\""));
        let w = why(r#"{"type":"notification","recipient":"a@b.c"}"#);
        assert!(w.starts_with("invalid notification message: missing field"), "{w}");
        let xml = properties("x", 1, None).with_content_type("text/xml".into());
        assert!(decode(b"<a/>", &xml).unwrap_err().to_string().contains("text/xml"));
        let future = with_headers(&props, |h| {
            h.insert(H_SCHEMA.into(), AMQPValue::LongUInt(9));
        });
        assert_eq!(decode(&user().to_json(), &future).unwrap_err(), Unusable::SchemaTooNew(9));
    }
}
