//! Outbox events grouped into the AMQP messages that carry them: one `junqo.events.v1.EventBatch` per
//! shard of conversations (routing key `shard.<n>`), each conversation's events in the order handed over.
//!
//! The outbox stores every event already encoded, and a repeated message field is on the wire exactly
//! what a repeated bytes field is, so a batch is built by framing the stored bytes, never decoding them.
//! The outbox hands events over with their `event_seq` already appended to those bytes
//! (`store::outbox::with_event_seq`), on the fast path and the relay's alike.

use std::collections::HashMap;

use broker::EventShards;
use junqo_proto::events::v1::Event;
use prost::Message;
use uuid::Uuid;

use crate::store::outbox::OutboxEvent;

/// Most events in one message: a relay round of a thousand rows in one shard still goes out as a few
/// messages of bounded size rather than one huge one.
const MAX_EVENTS: usize = 256;
/// Most body bytes in one message (one event alone may exceed it: it still travels, alone).
const MAX_BYTES: usize = 256 * 1024;
/// `EventBatch.events`.
const EVENTS_FIELD: u32 = 1;

/// One AMQP message: the events of one shard, and the outbox rows its confirm settles.
#[derive(Debug)]
pub struct ShardMessage {
    pub shard: u16,
    pub outbox_ids: Vec<i64>,
    /// An encoded `EventBatch`.
    pub body: Vec<u8>,
}

/// Groups events by shard, in order: the messages of one shard come in the order of their events, so
/// publishing the returned messages in turn on one channel keeps every conversation's order.
pub fn by_shard(events: Vec<OutboxEvent>, shards: EventShards) -> Vec<ShardMessage> {
    let mut messages: Vec<ShardMessage> = Vec::new();
    // The message of each shard that is still being filled, by index in `messages`.
    let mut open: HashMap<u16, usize> = HashMap::new();
    for outbox_event in events {
        let shard = shard_of(&outbox_event, shards);
        let index = match open.get(&shard) {
            Some(&index)
                if messages[index].outbox_ids.len() < MAX_EVENTS
                    && messages[index].body.len() + outbox_event.event.payload.len()
                        <= MAX_BYTES =>
            {
                index
            }
            _ => {
                messages.push(ShardMessage {
                    shard,
                    outbox_ids: Vec::new(),
                    body: Vec::new(),
                });
                open.insert(shard, messages.len() - 1);
                messages.len() - 1
            }
        };
        let message = &mut messages[index];
        prost::encoding::bytes::encode(
            EVENTS_FIELD,
            &outbox_event.event.payload,
            &mut message.body,
        );
        message.outbox_ids.push(outbox_event.id);
    }
    messages
}

/// From the routing key the event was stored with (`conversation.<id>.<kind>`), or else from the event.
fn shard_of(outbox_event: &OutboxEvent, shards: EventShards) -> u16 {
    if let Some(shard) = shards.of_key(&outbox_event.event.routing_key) {
        return shard;
    }
    let conversation = Event::decode(outbox_event.event.payload.as_slice())
        .ok()
        .and_then(|event| Uuid::parse_str(&event.conversation_id).ok());
    match conversation {
        Some(conversation) => shards.of(&conversation),
        None => {
            tracing::warn!(
                outbox_id = outbox_event.id,
                "an outbox event names no conversation; published to shard 0"
            );
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use junqo_proto::events::v1::EventBatch;

    use super::*;
    use crate::store::outbox::NewEvent;

    fn outbox_event(id: i64, conversation: Uuid, kind: &str) -> OutboxEvent {
        let event = Event {
            event_id: Uuid::new_v4().to_string(),
            conversation_id: conversation.to_string(),
            traceparent: format!("trace-{id}"),
            event_seq: 0,
            ..Event::default()
        };
        OutboxEvent {
            id,
            event: NewEvent {
                event_id: Uuid::parse_str(&event.event_id).expect("uuid"),
                conversation_id: Some(conversation),
                routing_key: broker::conversation_key(&event.conversation_id, kind),
                payload: event.encode_to_vec(),
                traceparent: None,
            },
        }
    }

    fn decoded(message: &ShardMessage) -> Vec<Event> {
        EventBatch::decode(message.body.as_slice())
            .expect("an EventBatch")
            .events
    }

    #[test]
    fn events_are_grouped_by_shard_in_the_order_handed_over() {
        let shards = EventShards::new(4);
        let a = Uuid::from_u128(4 * 1000 + 1);
        let b = Uuid::from_u128(4 * 77 + 2);
        let c = Uuid::from_u128(4 * 5 + 1);
        let events = vec![
            outbox_event(1, a, "message.created"),
            outbox_event(2, b, "message.created"),
            outbox_event(3, c, "message.created"),
            outbox_event(4, a, "message.updated"),
        ];
        let expected: Vec<Event> = events
            .iter()
            .map(|e| Event::decode(e.event.payload.as_slice()).expect("event"))
            .collect();

        let messages = by_shard(events, shards);

        assert_eq!(messages.len(), 2, "shards 1 and 2");
        assert_eq!(messages[0].shard, 1);
        assert_eq!(messages[0].outbox_ids, [1, 3, 4]);
        assert_eq!(
            decoded(&messages[0]),
            [
                expected[0].clone(),
                expected[2].clone(),
                expected[3].clone()
            ]
        );
        assert_eq!(messages[1].shard, 2);
        assert_eq!(messages[1].outbox_ids, [2]);
        assert_eq!(decoded(&messages[1]), [expected[1].clone()]);
    }

    #[test]
    fn a_full_message_is_followed_by_another_of_the_same_shard() {
        let conversation = Uuid::new_v4();
        let events = (0..MAX_EVENTS as i64 + 1)
            .map(|id| outbox_event(id, conversation, "message.created"))
            .collect();
        let messages = by_shard(events, EventShards::new(1));
        assert_eq!(messages.len(), 2);
        assert_eq!(decoded(&messages[0]).len(), MAX_EVENTS);
        assert_eq!(messages[1].outbox_ids, [MAX_EVENTS as i64]);
    }

    #[test]
    fn an_event_stored_without_a_conversation_key_is_sharded_by_its_conversation() {
        let shards = EventShards::new(16);
        let conversation = Uuid::new_v4();
        let mut event = outbox_event(1, conversation, "message.created");
        event.event.routing_key = "legacy".into();
        let messages = by_shard(vec![event], shards);
        assert_eq!(messages[0].shard, shards.of(&conversation));
    }
}
