//! The rules every edge shares, with the original backend's sentences. `label` is the field as the
//! sentences name it ("Conversation ID", "Content", "Limit").
//!
//! Rules read a [`Raw`] field: absent (or null), a string, or some other JSON value. A service's own
//! rules (a user name, a title) are written the same way, returning [`Checked`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::{Broken, Checked};

/// One field as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw<'a> {
    /// Missing, or JSON `null`.
    Absent,
    Text(&'a str),
    /// A number, boolean, array or object where a string was expected.
    NotText,
}

impl<'a> Raw<'a> {
    /// A property of a JSON object.
    pub fn json(value: Option<&'a Value>) -> Self {
        match value {
            None | Some(Value::Null) => Self::Absent,
            Some(Value::String(text)) => Self::Text(text),
            Some(_) => Self::NotText,
        }
    }

    /// A protobuf string field, where empty means "not given".
    pub fn proto(text: &'a str) -> Self {
        if text.is_empty() {
            Self::Absent
        } else {
            Self::Text(text)
        }
    }
}

impl<'a> From<Option<&'a str>> for Raw<'a> {
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(Self::Absent, Self::Text)
    }
}

/// Postgres refuses NUL in text, and no client has a reason to send one.
pub fn no_nul(text: &str, label: &str) -> Checked<()> {
    if text.contains('\0') {
        Err(Broken::new(format!(
            "{label} must not contain null characters"
        )))
    } else {
        Ok(())
    }
}

/// A required UUID.
pub fn uuid<'a>(raw: impl Into<Raw<'a>>, label: &str) -> Checked<Uuid> {
    match raw.into() {
        Raw::Text(text) => text
            .parse()
            .map_err(|_| Broken::new(format!("{label} must be a valid UUID"))),
        Raw::NotText => Err(Broken::new(format!("{label} must be a valid UUID"))),
        Raw::Absent => Err(Broken::from_sentences([
            format!("{label} must be a valid UUID"),
            format!("{label} is required"),
        ])),
    }
}

/// An optional UUID: absent is fine, anything else must be one.
pub fn optional_uuid<'a>(raw: impl Into<Raw<'a>>, label: &str) -> Checked<Option<Uuid>> {
    match raw.into() {
        Raw::Absent => Ok(None),
        present => uuid(present, label).map(Some),
    }
}

/// Required text that is not blank, at most `max` characters, without NUL.
pub fn required_text<'a>(raw: impl Into<Raw<'a>>, label: &str, max: usize) -> Checked<String> {
    match raw.into() {
        Raw::Absent => Err(Broken::from_sentences([
            format!("{label} must be a string"),
            format!("{label} is required"),
        ])),
        Raw::NotText => Err(Broken::new(format!("{label} must be a string"))),
        Raw::Text(text) if text.trim().is_empty() => {
            Err(Broken::new(format!("{label} is required")))
        }
        Raw::Text(text) => bounded_text(text, label, 1, max),
    }
}

/// Optional text: absent is fine; present, it has `min..=max` characters and no NUL.
pub fn optional_text<'a>(
    raw: impl Into<Raw<'a>>,
    label: &str,
    min: usize,
    max: usize,
) -> Checked<Option<String>> {
    match raw.into() {
        Raw::Absent => Ok(None),
        Raw::NotText => Err(Broken::new(format!("{label} must be a string"))),
        Raw::Text(text) => bounded_text(text, label, min, max).map(Some),
    }
}

/// Text of `min..=max` characters without NUL; every broken rule is listed.
pub fn bounded_text(text: &str, label: &str, min: usize, max: usize) -> Checked<String> {
    let length = text.chars().count();
    let mut broken = Vec::new();
    if length > max {
        broken.push(format!("{label} must be at most {max} characters long"));
    }
    if length < min {
        broken.push(format!("{label} must be at least {min} characters long"));
    }
    if let Err(nul) = no_nul(text, label) {
        broken.extend(nul.0);
    }
    if broken.is_empty() {
        Ok(text.to_owned())
    } else {
        Err(Broken(broken))
    }
}

/// An optional whole number within `min..=max` (`max` open when `None`). `number` is what the client
/// sent, read as a number if it is one (a JSON number, or a query parameter's text); `present` says
/// whether it sent anything at all.
pub fn optional_integer(
    present: bool,
    number: Option<f64>,
    label: &str,
    min: i64,
    max: Option<i64>,
) -> Checked<Option<i64>> {
    if !present {
        return Ok(None);
    }
    let number = number.filter(|n| n.is_finite());
    let mut broken = Vec::new();
    match number {
        None => {
            broken.push(format!("{label} must be at least {min}"));
            broken.push(format!("{label} must be an integer"));
        }
        Some(n) => {
            if n < min as f64 {
                broken.push(format!("{label} must be at least {min}"));
            }
            if let Some(max) = max.filter(|max| n > *max as f64) {
                broken.push(format!("{label} must not exceed {max}"));
            }
            if n.fract() != 0.0 {
                broken.push(format!("{label} must be an integer"));
            }
        }
    }
    match number {
        Some(n) if broken.is_empty() => Ok(Some(n as i64)),
        _ => Err(Broken(broken)),
    }
}

/// [`optional_integer`] for a JSON property.
pub fn optional_json_integer(
    value: Option<&Value>,
    label: &str,
    min: i64,
    max: Option<i64>,
) -> Checked<Option<i64>> {
    let present = value.is_some_and(|v| !v.is_null());
    optional_integer(present, value.and_then(Value::as_f64), label, min, max)
}

/// An optional instant as an ISO-8601 / RFC 3339 string.
pub fn optional_date<'a>(raw: impl Into<Raw<'a>>, label: &str) -> Checked<Option<DateTime<Utc>>> {
    match raw.into() {
        Raw::Absent => Ok(None),
        Raw::Text(text) => DateTime::parse_from_rfc3339(text.trim())
            .map(|at| Some(at.to_utc()))
            .map_err(|_| Broken::new(format!("{label} must be a valid date string"))),
        Raw::NotText => Err(Broken::new(format!("{label} must be a valid date string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::all;
    use serde_json::json;

    #[test]
    fn a_missing_uuid_breaks_both_of_its_rules() {
        assert_eq!(
            uuid(Raw::Absent, "Conversation ID")
                .expect_err("missing")
                .sentences(),
            [
                "Conversation ID must be a valid UUID",
                "Conversation ID is required"
            ]
        );
        assert!(uuid(Some("not-a-uuid"), "Message ID").is_err());
        let id = Uuid::new_v4();
        assert_eq!(uuid(Some(id.to_string().as_str()), "X"), Ok(id));
        assert_eq!(optional_uuid(Raw::Absent, "Offer ID"), Ok(None));
    }

    #[test]
    fn text_rules_name_the_field() {
        assert_eq!(
            required_text(Raw::json(Some(&json!(42))), "Content", 10)
                .expect_err("a number")
                .sentences(),
            ["Content must be a string"]
        );
        assert_eq!(
            required_text(Some("  "), "Content", 10)
                .expect_err("blank")
                .sentences(),
            ["Content is required"]
        );
        assert_eq!(
            required_text(Some("a\u{0}b"), "Content", 10)
                .expect_err("NUL")
                .sentences(),
            ["Content must not contain null characters"]
        );
        assert_eq!(
            required_text(Some("é".repeat(11).as_str()), "Content", 10)
                .expect_err("long")
                .sentences(),
            ["Content must be at most 10 characters long"]
        );
        assert_eq!(
            required_text(Some("é".repeat(10).as_str()), "Content", 10),
            Ok("é".repeat(10))
        );
        assert_eq!(optional_text(Raw::Absent, "Title", 0, 50), Ok(None));
    }

    #[test]
    fn integers_list_every_broken_bound() {
        assert_eq!(
            optional_integer(true, Some(500.5), "Limit", 1, Some(100))
                .expect_err("too big and fractional")
                .sentences(),
            ["Limit must not exceed 100", "Limit must be an integer"]
        );
        assert_eq!(
            optional_integer(true, None, "Limit", 1, Some(100))
                .expect_err("not a number")
                .sentences(),
            ["Limit must be at least 1", "Limit must be an integer"]
        );
        assert_eq!(optional_integer(false, None, "Limit", 1, None), Ok(None));
        assert_eq!(
            optional_json_integer(Some(&json!(7)), "After sequence", 0, None),
            Ok(Some(7))
        );
    }

    #[test]
    fn dates_must_parse() {
        assert!(
            optional_date(Some("2026-01-01T00:00:00.000Z"), "Before").is_ok_and(|d| d.is_some())
        );
        assert_eq!(
            optional_date(Some("yesterday"), "Before")
                .expect_err("not a date")
                .sentences(),
            ["Before must be a valid date string"]
        );
    }

    #[test]
    fn a_request_reports_every_field_in_order() {
        let body = json!({"content": "", "limit": 0});
        let error = all((
            uuid(Raw::json(body.get("conversationId")), "Conversation ID"),
            required_text(Raw::json(body.get("content")), "Content", 10_000),
            optional_json_integer(body.get("limit"), "Limit", 1, Some(100)),
        ))
        .expect_err("three broken fields");
        assert_eq!(
            error.sentences(),
            [
                "Conversation ID must be a valid UUID",
                "Conversation ID is required",
                "Content is required",
                "Limit must be at least 1"
            ]
        );
    }
}
