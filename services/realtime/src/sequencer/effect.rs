//! What each durable event of a conversation does to its room: the one conversion from an `Event` to
//! emits (and evictions), for events from the broker and for those a fill reads from the store alike, so
//! a filled event does exactly what it would have done live.

use std::sync::Arc;

use junqo_proto::events::v1::{Event, event::Payload};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;
use wire::{MessageDto, iso};

use super::log::{Effect, Item};
use super::raw;

/// The event's effect on its room. Kinds that are not a room's durable events (presence, typing,
/// notices, a conversation's deletion: `dispatch.rs` handles those) and events missing their content
/// do nothing, but a numbered one still takes its place in the room's sequence.
pub(super) fn of(event: Event) -> Effect {
    let room = event.conversation_id;
    match event.payload {
        Some(Payload::MessageCreated(created)) => match created.message {
            Some(message) => {
                let seq = message.seq;
                raw(&MessageDto::from(message)).map_or(Effect::Nothing, |body| {
                    Effect::Emit(Item::message(seq, body))
                })
            }
            None => Effect::Nothing,
        },
        Some(Payload::MessageUpdated(updated)) => match updated.message {
            Some(message) => emit("messageUpdated", &MessageDto::from(message)),
            None => Effect::Nothing,
        },
        Some(Payload::MessageDeleted(deleted)) => emit(
            "messageDeleted",
            &json!({
                "messageId": deleted.message_id, "conversationId": room,
                "deletedBy": deleted.by_user_id, "timestamp": iso(event.occurred_at.as_ref()),
            }),
        ),
        Some(Payload::MessageRead(read)) => emit(
            "messageRead",
            &json!({
                "messageId": read.message_id, "userId": read.user_id,
                "conversationId": room, "timestamp": iso(read.read_at.as_ref()),
            }),
        ),
        Some(Payload::ConversationRead(read)) => emit(
            "conversationRead",
            &json!({
                "conversationId": room, "userId": read.user_id,
                "lastReadSeq": read.last_read_seq, "timestamp": iso(read.read_at.as_ref()),
            }),
        ),
        Some(Payload::ParticipantsRemoved(removed)) => {
            let users: Arc<[Uuid]> = removed
                .user_ids
                .iter()
                .filter_map(|user| user.parse::<Uuid>().ok())
                .collect();
            Effect::Evict(users)
        }
        Some(
            Payload::ParticipantsAdded(_)
            | Payload::ConversationDeleted(_)
            | Payload::Typing(_)
            | Payload::RoomNotice(_)
            | Payload::Presence(_)
            | Payload::PresenceHeartbeat(_)
            | Payload::PresenceSnapshot(_)
            | Payload::PresenceSyncRequest(_),
        )
        | None => Effect::Nothing,
    }
}

/// An emit of `body` to the room, under `name`; nothing if it cannot be serialized (logged by `raw`).
fn emit<T: Serialize + ?Sized>(name: &'static str, body: &T) -> Effect {
    raw(body).map_or(Effect::Nothing, |body| {
        Effect::Emit(Item {
            name,
            seq: None,
            body,
        })
    })
}

#[cfg(test)]
mod tests {
    use junqo_proto::conversations::v1::Message;
    use junqo_proto::events::v1::{MessageCreated, MessageDeleted, ParticipantsRemoved};

    use super::*;

    fn event(payload: Payload) -> Event {
        Event {
            event_id: Uuid::new_v4().to_string(),
            conversation_id: Uuid::new_v4().to_string(),
            event_seq: 3,
            payload: Some(payload),
            ..Event::default()
        }
    }

    #[test]
    fn each_durable_kind_becomes_what_its_room_is_sent() {
        let created = of(event(Payload::MessageCreated(MessageCreated {
            message: Some(Message {
                seq: 7,
                content: "hello".into(),
                ..Message::default()
            }),
        })));
        let Effect::Emit(item) = created else {
            panic!("a message is emitted: {created:?}")
        };
        assert_eq!((item.name, item.seq), ("receiveMessage", Some(7)));
        assert!(item.body.get().contains("\"hello\""), "{}", item.body);

        let deleted = of(event(Payload::MessageDeleted(MessageDeleted {
            message_id: "m".into(),
            ..MessageDeleted::default()
        })));
        let Effect::Emit(item) = deleted else {
            panic!("a deletion is emitted: {deleted:?}")
        };
        assert_eq!((item.name, item.seq), ("messageDeleted", None));

        let user = Uuid::new_v4();
        let removed = of(event(Payload::ParticipantsRemoved(ParticipantsRemoved {
            user_ids: vec![user.to_string(), "not a uuid".into()],
            by_user_id: String::new(),
        })));
        assert!(matches!(removed, Effect::Evict(users) if users[..] == [user]));

        // A message event without its message still takes its number.
        assert!(matches!(
            of(event(Payload::MessageCreated(MessageCreated {
                message: None
            }))),
            Effect::Nothing
        ));
    }
}
