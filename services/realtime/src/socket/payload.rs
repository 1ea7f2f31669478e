//! Event payloads, checked with the original's sentences. A payload is a JSON object; a missing one is
//! refused, anything else that is not an object reads as an empty object (as the original did).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use socketioxide::ParserError;
use uuid::Uuid;

use crate::error::SocketError;

/// An event argument as JSON. Binary attachments (which serde_json's own `Value` refuses) read as arrays
/// of byte values, so a payload that carries one is still understood.
pub struct Json(pub Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value or binary attachment")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(v.iter().map(|b| Value::from(*b)).collect()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Array(v.into_iter().map(Value::from).collect()))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some((key, Json(value))) = map.next_entry::<String, Json>()? {
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

pub struct Payload {
    fields: Map<String, Value>,
    broken: Vec<String>,
}

/// The content limit is the conversations service's; checked there too, this only spares a round trip.
const MAX_CONTENT_CHARS: usize = 10_000;

impl Payload {
    pub fn parse(raw: Result<Json, ParserError>) -> Result<Self, SocketError> {
        match raw.map(|Json(value)| value) {
            Ok(Value::Object(fields)) => Ok(Self {
                fields,
                broken: Vec::new(),
            }),
            Ok(Value::Null) | Err(_) => Err(SocketError::bad_request(
                "Validation failed: Payload cannot be null or undefined",
            )),
            Ok(_) => Ok(Self {
                fields: Map::new(),
                broken: Vec::new(),
            }),
        }
    }

    /// A required id: `label` names it in the sentences ("Conversation ID", "Message ID").
    pub fn id(&mut self, field: &str, label: &str) -> Uuid {
        match self.fields.get(field) {
            Some(Value::String(text)) if !text.is_empty() => text.parse().unwrap_or_else(|_| {
                self.broken.push(format!("{label} must be a valid UUID"));
                Uuid::nil()
            }),
            _ => {
                self.broken.push(format!("{label} must be a valid UUID"));
                self.broken.push(format!("{label} is required"));
                Uuid::nil()
            }
        }
    }

    pub fn content(&mut self) -> String {
        match self.fields.get("content") {
            Some(Value::String(text)) if text.trim().is_empty() => {
                self.broken.push("Content is required".into());
                String::new()
            }
            Some(Value::String(text)) if text.chars().count() > MAX_CONTENT_CHARS => {
                self.broken.push(format!(
                    "Content must be at most {MAX_CONTENT_CHARS} characters long"
                ));
                String::new()
            }
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => {
                self.broken.push("Content must be a string".into());
                self.broken.push("Content is required".into());
                String::new()
            }
            Some(_) => {
                self.broken.push("Content must be a string".into());
                String::new()
            }
        }
    }

    /// An optional string, at most `max` characters.
    pub fn optional_text(&mut self, field: &str, label: &str, max: usize) -> Option<String> {
        match self.fields.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.chars().count() <= max => Some(text.clone()),
            Some(Value::String(_)) => {
                self.broken
                    .push(format!("{label} must be at most {max} characters long"));
                None
            }
            Some(_) => {
                self.broken.push(format!("{label} must be a string"));
                None
            }
        }
    }

    /// An optional integer between `min` and `max`.
    pub fn integer(&mut self, field: &str, label: &str, min: i64, max: Option<i64>) -> Option<i64> {
        let value = self.fields.get(field)?;
        if value.is_null() {
            return None;
        }
        let Some(number) = value.as_i64() else {
            self.broken.push(format!("{label} must be an integer"));
            return None;
        };
        if number < min {
            self.broken.push(format!("{label} must be at least {min}"));
            return None;
        }
        if let Some(max) = max.filter(|max| number > *max) {
            self.broken.push(format!("{label} must not exceed {max}"));
            return None;
        }
        Some(number)
    }

    /// An optional date string.
    pub fn date(&mut self, field: &str, label: &str) -> Option<prost_types::Timestamp> {
        let value = self.fields.get(field)?;
        if value.is_null() {
            return None;
        }
        let parsed = value
            .as_str()
            .and_then(|text| chrono::DateTime::parse_from_rfc3339(text.trim()).ok())
            .and_then(|at| {
                let at = at.to_utc();
                Some(prost_types::Timestamp {
                    seconds: at.timestamp(),
                    nanos: i32::try_from(at.timestamp_subsec_nanos()).ok()?,
                })
            });
        if parsed.is_none() {
            self.broken
                .push(format!("{label} must be a valid date string"));
        }
        parsed
    }

    /// Fails with every broken rule, in the order they were found.
    pub fn finish(self) -> Result<(), SocketError> {
        if self.broken.is_empty() {
            Ok(())
        } else {
            Err(SocketError::validation(&self.broken))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Payload {
        Payload::parse(Ok(Json(value))).expect("an object")
    }

    #[test]
    fn a_missing_payload_is_refused() {
        let error = Payload::parse(Ok(Json(Value::Null)))
            .err()
            .expect("refused");
        assert_eq!(
            error.message,
            "Validation failed: Payload cannot be null or undefined"
        );
    }

    #[test]
    fn every_broken_rule_is_listed() {
        let mut payload = parse(json!({"content": 42, "limit": 500}));
        payload.id("conversationId", "Conversation ID");
        payload.content();
        payload.integer("limit", "Limit", 1, Some(100));
        let error = payload.finish().expect_err("invalid");
        assert_eq!(
            error.message,
            "Validation failed: Conversation ID must be a valid UUID, Conversation ID is required, \
             Content must be a string, Limit must not exceed 100"
        );
        assert_eq!(error.status, 400);
    }

    #[test]
    fn valid_fields_pass() {
        let id = Uuid::new_v4();
        let mut payload = parse(
            json!({"conversationId": id.to_string(), "content": "hi", "before": "2026-01-01T00:00:00.000Z"}),
        );
        assert_eq!(payload.id("conversationId", "Conversation ID"), id);
        assert_eq!(payload.content(), "hi");
        assert!(payload.date("before", "Before").is_some());
        assert!(payload.finish().is_ok());
    }
}
