//! The JSON shapes that clients see both over REST (gateway) and over Socket.IO (realtime): a message
//! must look the same whichever way it arrives. Field names are the original backend's.

use junqo_proto::conversations::v1 as pb;
use prost_types::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// ISO-8601 UTC with milliseconds, as JavaScript's `Date.toISOString()` writes it. Message times are
/// unique per conversation at this precision, so a client paging with `before` misses nothing.
pub fn iso(at: Option<&Timestamp>) -> String {
    let at = at
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or_default();
    iso_of(&at)
}

/// Now, in the same format.
pub fn now_iso() -> String {
    iso_of(&chrono::Utc::now())
}

/// The digits written one by one: a list of conversations writes two or four of these per row, and
/// chrono's `format` parses its pattern again on every call (a tenth of the gateway's time on that
/// route). Years outside 0-9999, which need a sign, are left to chrono.
fn iso_of(at: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let Ok(year) = u16::try_from(at.year()) else {
        return at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    };
    if year > 9999 {
        return at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    }
    // A leap second (nanosecond >= 1e9) shows as :60, as chrono writes it.
    let (second, nanos) = match at.nanosecond() {
        n if n >= 1_000_000_000 => (at.second() + 1, n - 1_000_000_000),
        n => (at.second(), n),
    };
    let mut text = String::with_capacity(24);
    let mut digits = |value: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
        }
        text.push(after);
    };
    digits(u32::from(year), 4, '-');
    digits(at.month(), 2, '-');
    digits(at.day(), 2, 'T');
    digits(at.hour(), 2, ':');
    digits(at.minute(), 2, ':');
    digits(second, 2, '.');
    digits(nanos / 1_000_000, 3, 'Z');
    text
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadStatusDto {
    pub id: String,
    pub message_id: String,
    pub user_id: String,
    pub read_at: String,
}

impl From<pb::ReadReceipt> for ReadStatusDto {
    fn from(receipt: pb::ReadReceipt) -> Self {
        Self {
            read_at: iso(receipt.read_at.as_ref()),
            id: receipt.id,
            message_id: receipt.message_id,
            user_id: receipt.user_id,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub id: String,
    /// Always the authenticated sender, never taken from a request.
    pub sender_id: String,
    pub conversation_id: String,
    pub content: String,
    pub read_status: Vec<ReadStatusDto>,
    pub created_at: String,
    pub updated_at: String,
    /// Position in the conversation, from 1: numbers are never reused or skipped when messages are
    /// written; a deleted message leaves its number unused.
    pub seq: i64,
}

impl From<pb::Message> for MessageDto {
    fn from(message: pb::Message) -> Self {
        Self {
            created_at: iso(message.created_at.as_ref()),
            updated_at: iso(message.updated_at.as_ref()),
            id: message.id,
            sender_id: message.sender_id,
            conversation_id: message.conversation_id,
            content: message.content,
            read_status: message.read_status.into_iter().map(Into::into).collect(),
            seq: message.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_like_javascript_dates() {
        let at = Timestamp {
            seconds: 1_795_680_943,
            nanos: 123_456_789,
        };
        assert_eq!(iso(Some(&at)), "2026-11-26T08:15:43.123Z");
    }

    #[test]
    fn written_digit_by_digit_as_chrono_writes_them() {
        let chrono = |at: &Timestamp| {
            chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0))
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        for (seconds, nanos) in [
            (0, 0),
            (-1, 999_999_999),
            (-62_135_596_800, 0),           // 0001-01-01
            (-62_167_219_200, 0),           // year 0
            (-62_167_219_201, 0),           // year -1: chrono's sign
            (253_402_300_799, 999_000_000), // 9999-12-31T23:59:59.999
            (253_402_300_800, 0),           // year 10000: chrono's sign
            (951_782_400, 1_000_000),       // 2000-02-29
            (1_795_680_959, 1_500_000_000), // a leap second
            (1_795_680_943, 9_999_999),
        ] {
            let at = Timestamp { seconds, nanos };
            assert_eq!(iso(Some(&at)), chrono(&at), "{seconds} {nanos}");
        }
        assert_eq!(iso(None), "1970-01-01T00:00:00.000Z");
        assert_eq!(now_iso().len(), 24);
    }
}
