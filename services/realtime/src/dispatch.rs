//! Turns events from RabbitMQ into emits to this instance's sockets: the fan-out hands every new event
//! here ([`Deliver`]). A conversation's events go out through the [`Sequencer`] (messages in `seq`
//! order, once; gaps filled); each is serialized once, whatever the number of sockets it goes to; an
//! eviction goes through [`Rooms`] like any leave. Typing goes straight to the room's sockets: it is
//! worth nothing late.

use std::sync::Arc;

use junqo_proto::events::v1::{Event, event::Payload};
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use uuid::Uuid;
use wire::{MessageDto, iso, now_iso};

use crate::emit;
use crate::fanout::Deliver;
use crate::presence::Presence;
use crate::rooms::{Rooms, conversation_room, user_room};
use crate::sequencer::Sequencer;

pub struct Dispatcher {
    io: SocketIo,
    presence: Arc<Presence>,
    rooms: Rooms,
    sequencer: Sequencer,
}

impl Deliver for Dispatcher {
    async fn deliver(&self, event: Event) {
        self.dispatch(event);
    }

    fn rebound(&self) {
        self.sequencer.refill_all();
    }
}

impl Dispatcher {
    pub fn new(io: SocketIo, presence: Arc<Presence>, rooms: Rooms, sequencer: Sequencer) -> Self {
        Self {
            io,
            presence,
            rooms,
            sequencer,
        }
    }

    fn dispatch(&self, event: Event) {
        let Some(payload) = event.payload else { return };
        // Presence is about a user; everything else about a conversation.
        if let Payload::Presence(presence) = &payload {
            self.presence_changed(presence);
            return;
        }
        let Ok(conversation) = event.conversation_id.parse::<Uuid>() else {
            return;
        };
        let room = event.conversation_id;
        match payload {
            Payload::MessageCreated(created) => {
                if let Some(message) = created.message {
                    // In `seq` order, once: the sequencer holds it back behind a gap.
                    let seq = message.seq;
                    self.sequencer
                        .message(conversation, seq, &MessageDto::from(message));
                }
            }
            Payload::MessageUpdated(updated) => {
                if let Some(message) = updated.message {
                    self.to_room(conversation, "messageUpdated", &MessageDto::from(message));
                }
            }
            Payload::MessageDeleted(deleted) => {
                let body = json!({
                    "messageId": deleted.message_id, "conversationId": room,
                    "deletedBy": deleted.by_user_id, "timestamp": iso(event.occurred_at.as_ref()),
                });
                self.to_room(conversation, "messageDeleted", &body);
            }
            Payload::MessageRead(read) => {
                let body = json!({
                    "messageId": read.message_id, "userId": read.user_id,
                    "conversationId": room, "timestamp": iso(read.read_at.as_ref()),
                });
                self.to_room(conversation, "messageRead", &body);
            }
            Payload::ConversationRead(read) => {
                let body = json!({
                    "conversationId": room, "userId": read.user_id,
                    "lastReadSeq": read.last_read_seq, "timestamp": iso(read.read_at.as_ref()),
                });
                self.to_room(conversation, "conversationRead", &body);
            }
            Payload::ParticipantsAdded(_) => {}
            Payload::ParticipantsRemoved(removed) => {
                let rooms: Vec<String> = removed
                    .user_ids
                    .iter()
                    .filter_map(|u| u.parse::<Uuid>().ok())
                    .map(user_room)
                    .collect();
                // No rooms would mean every socket.
                if !rooms.is_empty() {
                    self.rooms.evict(self.io.to(rooms).sockets(), conversation);
                }
            }
            Payload::ConversationDeleted(_) => {
                let sockets = self.io.to(conversation_room(conversation)).sockets();
                self.rooms.evict(sockets, conversation);
            }
            Payload::Typing(typing) => {
                // To the others in the room: every socket of the typing user is left out.
                let Ok(user) = typing.user_id.parse::<Uuid>() else {
                    return;
                };
                let body = json!({ "userId": typing.user_id, "conversationId": room, "timestamp": now_iso() });
                let (seed_name, web_name) = if typing.typing {
                    ("userTyping", "userStartTyping")
                } else {
                    ("userStoppedTyping", "userStopTyping")
                };
                // ...and so is every socket of a user kept apart from them by a block.
                let mut left_out = vec![user_room(user)];
                left_out.extend(
                    typing
                        .hidden_from
                        .iter()
                        .filter_map(|u| u.parse::<Uuid>().ok())
                        .map(user_room),
                );
                let others = self
                    .io
                    .to(conversation_room(conversation))
                    .except(left_out)
                    .sockets();
                emit::to_sockets(&others, seed_name, &body);
                emit::to_sockets(&others, web_name, &body);
            }
            Payload::RoomNotice(notice) => {
                let body = json!({
                    "userId": notice.user_id, "roomId": room, "conversationId": room, "timestamp": now_iso(),
                });
                let name = if notice.joined {
                    "userJoinRoom"
                } else {
                    "userLeaveRoom"
                };
                self.to_room(conversation, name, &body);
            }
            Payload::Presence(_) => {}
        }
    }

    /// Applies another instance's (or this one's) presence announcement, and tells the local sockets of
    /// its audience if the user's status changed.
    fn presence_changed(&self, presence: &junqo_proto::events::v1::Presence) {
        let Ok(user) = presence.user_id.parse::<Uuid>() else {
            return;
        };
        let Some(online) = self
            .presence
            .apply(user, &presence.instance_id, presence.online)
        else {
            return;
        };
        let audience: Vec<String> = presence
            .audience
            .iter()
            .filter_map(|u| u.parse::<Uuid>().ok())
            .map(user_room)
            .collect();
        if audience.is_empty() {
            return;
        }
        let body = json!({
            "userId": presence.user_id,
            "status": if online { "online" } else { "offline" },
            "timestamp": now_iso(),
        });
        emit::to_sockets(&self.io.to(audience).sockets(), "userStatus", &body);
    }

    fn to_room<T: Serialize + ?Sized>(&self, conversation: Uuid, name: &'static str, body: &T) {
        self.sequencer.to_room(conversation, name, body);
    }
}
