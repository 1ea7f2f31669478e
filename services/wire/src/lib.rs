//! The JSON shapes that clients see both over REST (gateway) and over Socket.IO (realtime): a message
//! must look the same whichever way it arrives. Field names are the original backend's.

use junqo_proto::conversations::v1 as pb;
use prost_types::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

/// ISO-8601 UTC with milliseconds, as JavaScript's `Date.toISOString()` writes it. Message times are
/// unique per conversation at this precision, so a client paging with `before` misses nothing.
pub fn iso(at: Option<&Timestamp>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?))
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Now, in the same format.
pub fn now_iso() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
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
}
