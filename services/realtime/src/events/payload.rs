//! Event payloads: what the client sent, read as JSON, and checked into values with the shared rules
//! (the original's sentences). A payload type implements [`Payload`]: it is built only when every rule
//! holds, otherwise the client hears every broken rule at once.
//!
//! A payload is a JSON object; a missing one is refused, and anything else that is not an object reads as
//! an empty object (as the original did).

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use socketioxide::ParserError;
use uuid::Uuid;
use validation::rules::{self, Raw};
use validation::{Checked, Violations};

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

/// What the client sent as an event's argument.
#[derive(Debug)]
pub enum Input {
    /// No argument, `null`, or one that could not be read.
    Missing,
    Object(Map<String, Value>),
}

impl From<Result<Json, ParserError>> for Input {
    fn from(raw: Result<Json, ParserError>) -> Self {
        match raw.map(|Json(value)| value) {
            Ok(Value::Object(fields)) => Self::Object(fields),
            Ok(Value::Null) | Err(_) => Self::Missing,
            Ok(_) => Self::Object(Map::new()),
        }
    }
}

impl Input {
    /// The payload's fields; a missing payload is refused with the original's sentence.
    pub fn fields(&self) -> Result<&Map<String, Value>, Violations> {
        match self {
            Self::Object(fields) => Ok(fields),
            Self::Missing => Err(Violations::one("Payload cannot be null or undefined")),
        }
    }

    /// The payload's fields, or none when it is missing (for events whose every field is optional).
    pub fn fields_or_none(&self) -> Option<&Map<String, Value>> {
        match self {
            Self::Object(fields) => Some(fields),
            Self::Missing => None,
        }
    }
}

/// An event's payload, checked.
pub trait Payload: Sized + Send + 'static {
    fn parse(input: &Input) -> Result<Self, Violations>;
}

/// A field as the rules read it.
pub fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Raw<'a> {
    Raw::json(fields.get(name))
}

/// A required id. An empty string counts as missing, as the original's "is required" rule has it.
pub fn id(fields: &Map<String, Value>, name: &str, label: &str) -> Checked<Uuid> {
    match field(fields, name) {
        Raw::Text("") => rules::uuid(Raw::Absent, label),
        raw => rules::uuid(raw, label),
    }
}

/// `{conversationId}`: joinRoom, leaveRoom, startTyping, stopTyping.
#[derive(Debug)]
pub struct InConversation {
    pub conversation: Uuid,
}

impl Payload for InConversation {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (conversation,) = validation::all((id(fields, "conversationId", "Conversation ID"),))?;
        Ok(Self { conversation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Input {
        Input::from(Ok(Json(value)))
    }

    #[test]
    fn a_missing_payload_is_refused() {
        for missing in [Input::from(Ok(Json(Value::Null))), Input::Missing] {
            assert_eq!(
                InConversation::parse(&missing)
                    .expect_err("refused")
                    .summary(),
                "Validation failed: Payload cannot be null or undefined"
            );
        }
    }

    #[test]
    fn a_payload_that_is_not_an_object_has_no_fields() {
        assert_eq!(
            InConversation::parse(&input(json!("text")))
                .expect_err("no id")
                .sentences(),
            [
                "Conversation ID must be a valid UUID",
                "Conversation ID is required"
            ]
        );
    }

    #[test]
    fn an_empty_id_is_missing_and_a_bad_one_is_invalid() {
        let empty = InConversation::parse(&input(json!({"conversationId": ""})));
        assert_eq!(
            empty.expect_err("empty").sentences(),
            [
                "Conversation ID must be a valid UUID",
                "Conversation ID is required"
            ]
        );
        let bad = InConversation::parse(&input(json!({"conversationId": 42})));
        assert_eq!(
            bad.expect_err("a number").sentences(),
            ["Conversation ID must be a valid UUID"]
        );
        let id = Uuid::new_v4();
        let good = InConversation::parse(&input(json!({"conversationId": id.to_string()})));
        assert_eq!(good.expect("valid").conversation, id);
    }

    #[test]
    fn binary_attachments_read_as_byte_arrays() {
        let bytes = serde::de::value::BytesDeserializer::<serde::de::value::Error>::new(&[1, 2]);
        let Json(value) = Json::deserialize(bytes).expect("bytes read");
        assert_eq!(value, json!([1, 2]));
    }
}
