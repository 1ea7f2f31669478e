//! Domain events: what a live client must learn about a change. Each is built here from the stored rows
//! into a [`NewEvent`], written to the outbox ([`crate::store::outbox`]) in the change's transaction, and
//! published by [`publisher`].

mod batch;
pub mod publisher;
pub mod user_deleted;

use chrono::Utc;
use junqo_proto::events::v1 as ev;
use prost::Message;
use uuid::Uuid;

use crate::convert;
use crate::store::outbox::NewEvent;
use crate::store::{MessageRow, ReceiptRow};

fn build(
    conversation_id: Uuid,
    payload: ev::event::Payload,
    traceparent: Option<&str>,
) -> NewEvent {
    let kind = payload.kind();
    let event_id = Uuid::new_v4();
    let event = ev::Event {
        event_id: event_id.to_string(),
        occurred_at: Some(convert::timestamp(Utc::now())),
        conversation_id: conversation_id.to_string(),
        // In the event itself: a batch carries events of many traces.
        traceparent: traceparent.unwrap_or_default().to_owned(),
        // Numbered by the outbox insert, which appends it (`store::outbox::with_event_seq`).
        event_seq: 0,
        payload: Some(payload),
    };
    NewEvent {
        event_id,
        conversation_id: Some(conversation_id),
        routing_key: broker::conversation_key(&conversation_id.to_string(), kind),
        payload: event.encode_to_vec(),
        traceparent: traceparent.map(str::to_owned),
    }
}

pub fn message_created(message: &MessageRow, traceparent: Option<&str>) -> NewEvent {
    let payload = ev::event::Payload::MessageCreated(ev::MessageCreated {
        message: Some(convert::message(message, &[])),
    });
    build(message.conversation_id, payload, traceparent)
}

pub fn message_updated(
    message: &MessageRow,
    receipts: &[ReceiptRow],
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::MessageUpdated(ev::MessageUpdated {
        message: Some(convert::message(message, receipts)),
    });
    build(message.conversation_id, payload, traceparent)
}

pub fn message_deleted(message: &MessageRow, by: Uuid, traceparent: Option<&str>) -> NewEvent {
    let payload = ev::event::Payload::MessageDeleted(ev::MessageDeleted {
        message_id: message.id.to_string(),
        sender_id: message.sender_id.to_string(),
        by_user_id: by.to_string(),
    });
    build(message.conversation_id, payload, traceparent)
}

pub fn message_read(
    conversation_id: Uuid,
    receipt: &ReceiptRow,
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::MessageRead(ev::MessageRead {
        message_id: receipt.message_id.to_string(),
        user_id: receipt.user_id.to_string(),
        read_at: Some(convert::timestamp(receipt.read_at)),
    });
    build(conversation_id, payload, traceparent)
}

/// A participant's read-up-to moved forward.
pub fn conversation_read(
    conversation_id: Uuid,
    user: Uuid,
    last_read_seq: i64,
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::ConversationRead(ev::ConversationRead {
        user_id: user.to_string(),
        last_read_seq,
        read_at: Some(convert::timestamp(Utc::now())),
    });
    build(conversation_id, payload, traceparent)
}

fn ids(users: &[Uuid]) -> Vec<String> {
    users.iter().map(Uuid::to_string).collect()
}

pub fn participants_added(
    conversation_id: Uuid,
    users: &[Uuid],
    by: Uuid,
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::ParticipantsAdded(ev::ParticipantsAdded {
        user_ids: ids(users),
        by_user_id: by.to_string(),
    });
    build(conversation_id, payload, traceparent)
}

pub fn participants_removed(
    conversation_id: Uuid,
    users: &[Uuid],
    by: Uuid,
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::ParticipantsRemoved(ev::ParticipantsRemoved {
        user_ids: ids(users),
        by_user_id: by.to_string(),
    });
    build(conversation_id, payload, traceparent)
}

pub fn conversation_deleted(
    conversation_id: Uuid,
    participants: &[Uuid],
    by: Uuid,
    traceparent: Option<&str>,
) -> NewEvent {
    let payload = ev::event::Payload::ConversationDeleted(ev::ConversationDeleted {
        participant_ids: ids(participants),
        by_user_id: by.to_string(),
    });
    build(conversation_id, payload, traceparent)
}
