//! Turns events from RabbitMQ into Socket.IO emits to this instance's rooms. Each event is serialized
//! once and emitted once per room; socketioxide writes that one packet to every socket in the room.

use std::sync::Arc;

use junqo_proto::events::v1::{Event, event::Payload};
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use uuid::Uuid;
use wire::{MessageDto, iso, now_iso};

use super::Fanout;
use crate::hub::user_room;
use crate::presence::Presence;

#[derive(Clone)]
pub struct Dispatcher {
    pub io: SocketIo,
    pub presence: Arc<Presence>,
    pub fanout: Fanout,
}

impl Dispatcher {
    pub async fn dispatch(&self, event: Event) {
        let Some(payload) = event.payload else { return };
        let room = event.conversation_id;
        match payload {
            Payload::MessageCreated(created) => {
                if let Some(message) = created.message {
                    self.to_room(&room, "receiveMessage", &MessageDto::from(message))
                        .await;
                }
            }
            Payload::MessageUpdated(updated) => {
                if let Some(message) = updated.message {
                    self.to_room(&room, "messageUpdated", &MessageDto::from(message))
                        .await;
                }
            }
            Payload::MessageDeleted(deleted) => {
                let body = json!({
                    "messageId": deleted.message_id, "conversationId": room,
                    "deletedBy": deleted.by_user_id, "timestamp": iso(event.occurred_at.as_ref()),
                });
                self.to_room(&room, "messageDeleted", &body).await;
            }
            Payload::MessageRead(read) => {
                let body = json!({
                    "messageId": read.message_id, "userId": read.user_id,
                    "conversationId": room, "timestamp": iso(read.read_at.as_ref()),
                });
                self.to_room(&room, "messageRead", &body).await;
            }
            Payload::ParticipantsAdded(_) => {}
            Payload::ParticipantsRemoved(removed) => {
                for user in removed
                    .user_ids
                    .iter()
                    .filter_map(|u| u.parse::<Uuid>().ok())
                {
                    self.evict(&room, Some(user));
                }
            }
            Payload::ConversationDeleted(_) => self.evict(&room, None),
            Payload::Typing(typing) => {
                let body = json!({ "userId": typing.user_id, "conversationId": room, "timestamp": now_iso() });
                let (seed_name, web_name) = if typing.typing {
                    ("userTyping", "userStartTyping")
                } else {
                    ("userStoppedTyping", "userStopTyping")
                };
                // To the others in the room: every socket of the typing user is left out.
                let Ok(user) = typing.user_id.parse::<Uuid>() else {
                    return;
                };
                for name in [seed_name, web_name] {
                    let emit = self
                        .io
                        .to(room.clone())
                        .except(user_room(user))
                        .emit(name, &body);
                    if let Err(error) = emit.await {
                        tracing::debug!(%error, "some sockets missed a typing notice");
                    }
                }
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
                self.to_room(&room, name, &body).await;
            }
            Payload::Presence(presence) => {
                let Ok(user) = presence.user_id.parse::<Uuid>() else {
                    return;
                };
                let Some(online) =
                    self.presence
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
                if let Err(error) = self.io.to(audience).emit("userStatus", &body).await {
                    tracing::debug!(%error, "some sockets missed a status change");
                }
            }
        }
    }

    async fn to_room<T: Serialize + ?Sized>(&self, room: &str, name: &str, body: &T) {
        if let Err(error) = self.io.to(room.to_owned()).emit(name, body).await {
            // A socket whose buffer is full misses this packet; the others got it. Clients recover
            // with getMessageHistory (afterSeq).
            tracing::debug!(%error, event = name, "some sockets missed an event");
        }
    }

    /// Takes local sockets out of a conversation's room: those of `user`, or all of them.
    fn evict(&self, room: &str, user: Option<Uuid>) {
        let Ok(conversation) = room.parse::<Uuid>() else {
            return;
        };
        let sockets = match user {
            Some(user) => self.io.to(user_room(user)).sockets(),
            None => self.io.to(room.to_owned()).sockets(),
        };
        for socket in sockets {
            // Out of the room at once, so nothing more reaches it; the bookkeeping waits for any join in
            // progress on that socket (which may put it back in), then undoes it.
            socket.leave(room.to_owned());
            let Some(joined) = socket.extensions.get::<crate::handshake::Joined>() else {
                continue;
            };
            let (fanout, room) = (self.fanout.clone(), room.to_owned());
            tokio::spawn(async move {
                if joined.lock().await.remove(&conversation) {
                    socket.leave(room);
                    fanout.leave(conversation);
                }
            });
        }
    }
}
