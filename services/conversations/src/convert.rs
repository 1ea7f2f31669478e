//! Stored rows to protobuf messages: the gRPC answers and the events' payloads carry the same shapes, so
//! both edges convert here, below them.

use chrono::{DateTime, Utc};
use junqo_proto::conversations::v1 as pb;
use prost_types::Timestamp;

use crate::store::blocks::BlockRow;
use crate::store::reports::ReportRow;
use crate::store::{ConversationRow, MessageRow, ReceiptRow};

pub fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn from_timestamp(at: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

pub fn receipt(row: &ReceiptRow) -> pb::ReadReceipt {
    pb::ReadReceipt {
        id: row.id.to_string(),
        message_id: row.message_id.to_string(),
        user_id: row.user_id.to_string(),
        read_at: Some(timestamp(row.read_at)),
    }
}

/// A message with the receipts among `receipts` that belong to it.
pub fn message(row: &MessageRow, receipts: &[ReceiptRow]) -> pb::Message {
    pb::Message {
        id: row.id.to_string(),
        sender_id: row.sender_id.to_string(),
        conversation_id: row.conversation_id.to_string(),
        content: row.content.clone(),
        seq: row.seq,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        read_status: receipts
            .iter()
            .filter(|r| r.message_id == row.id)
            .map(receipt)
            .collect(),
    }
}

pub fn conversation(row: ConversationRow) -> pb::Conversation {
    let last_message = row.last_message();
    pb::Conversation {
        id: row.id.to_string(),
        participant_ids: row
            .participant_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        title: row.own_title.or(row.shared_title),
        offer_id: row.offer_id.map(|id| id.to_string()),
        application_id: row.application_id.map(|id| id.to_string()),
        last_message: last_message.as_ref().map(|m| message(m, &[])),
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        last_read_seq: row.last_read_seq,
        unread_count: row.unread_count,
    }
}

pub fn block(row: &BlockRow) -> pb::Block {
    pb::Block {
        user_id: row.blocker_id.to_string(),
        blocked_user_id: row.blocked_id.to_string(),
        created_at: Some(timestamp(row.created_at)),
    }
}

pub fn report(row: &ReportRow) -> pb::Report {
    pb::Report {
        id: row.id.to_string(),
        message_id: row.message_id.to_string(),
        reporter_id: row.reporter_id.to_string(),
        reason: row.reason.clone(),
        status: row.status.clone(),
        created_at: Some(timestamp(row.created_at)),
        message_content: row.message_content.clone(),
        message_sender_id: row.message_sender_id.to_string(),
        conversation_id: row.conversation_id.to_string(),
        updated_at: Some(timestamp(row.updated_at)),
    }
}
