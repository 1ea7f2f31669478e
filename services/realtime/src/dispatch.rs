//! Turns events from RabbitMQ into emits to this instance's sockets: the fan-out hands every new event
//! here ([`Deliver`]). A conversation's durable events go to the [`Sequencer`] (in `event_seq` order,
//! once; gaps filled; it converts them to emits and evictions), as do room notices; each is serialized
//! once, whatever the number of sockets it goes to; an eviction goes through [`Rooms`] like any leave.
//! Typing goes straight to the room's sockets: it is worth nothing late.

use std::sync::Arc;

use junqo_proto::events::v1::{Event, event::Payload};
use serde_json::json;
use socketioxide::SocketIo;
use uuid::Uuid;
use wire::now_iso;

use crate::emit;
use crate::fanout::Deliver;
use crate::liveness::{Liveness, Signal};
use crate::presence::Presence;
use crate::rooms::{Rooms, conversation_room, user_room};
use crate::sequencer::Sequencer;

pub struct Dispatcher {
    io: SocketIo,
    presence: Arc<Presence>,
    rooms: Rooms,
    sequencer: Sequencer,
    liveness: Liveness,
    /// This instance's name: snapshot requests addressed to it are answered.
    instance_id: String,
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
    pub fn new(
        io: SocketIo,
        presence: Arc<Presence>,
        rooms: Rooms,
        sequencer: Sequencer,
        liveness: Liveness,
        instance_id: String,
    ) -> Self {
        Self {
            io,
            presence,
            rooms,
            sequencer,
            liveness,
            instance_id,
        }
    }

    fn dispatch(&self, event: Event) {
        let Some(payload) = &event.payload else {
            return;
        };
        // Presence is about a user or an instance; everything else about a conversation.
        match payload {
            Payload::Presence(presence) => return self.presence_changed(presence),
            Payload::PresenceHeartbeat(beat) => {
                if self.presence.heartbeat(&beat.instance_id, beat.version) {
                    self.liveness.send(Signal::Ask(beat.instance_id.clone()));
                }
                return;
            }
            Payload::PresenceSnapshot(snapshot) => return self.snapshot(snapshot),
            Payload::PresenceSyncRequest(request) => {
                if request.instance_id.is_empty() || request.instance_id == self.instance_id {
                    self.liveness.send(Signal::SnapshotWanted);
                }
                return;
            }
            _ => {}
        }
        let Ok(conversation) = event.conversation_id.parse::<Uuid>() else {
            return;
        };
        let room = &event.conversation_id;
        match payload {
            Payload::ConversationDeleted(_) => {
                // With the sockets catching up on it (out of the socketioxide room while they do).
                let sockets = self.sequencer.readers(conversation);
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
                self.sequencer.to_room(conversation, name, &body);
            }
            // Messages, edits, deletions, receipts, reads, participants: in `event_seq` order, once
            // (the sequencer converts them, live or filled alike).
            Payload::MessageCreated(_)
            | Payload::MessageUpdated(_)
            | Payload::MessageDeleted(_)
            | Payload::MessageRead(_)
            | Payload::ConversationRead(_)
            | Payload::ParticipantsAdded(_)
            | Payload::ParticipantsRemoved(_) => self.sequencer.durable(conversation, event),
            Payload::Presence(_)
            | Payload::PresenceHeartbeat(_)
            | Payload::PresenceSnapshot(_)
            | Payload::PresenceSyncRequest(_) => {}
        }
    }

    /// Applies another instance's (or this one's) presence announcement, and tells the local sockets of
    /// its audience if the user's status changed.
    fn presence_changed(&self, presence: &junqo_proto::events::v1::Presence) {
        let Ok(user) = presence.user_id.parse::<Uuid>() else {
            return;
        };
        let heard = self.presence.announced(
            &presence.instance_id,
            presence.version,
            user,
            presence.online,
        );
        if heard.ask_snapshot {
            self.liveness
                .send(Signal::Ask(presence.instance_id.clone()));
        }
        if let Some(online) = heard.change {
            tell_status(&self.io, &presence.user_id, online, &presence.audience);
        }
    }

    /// Applies an instance's snapshot. Users whose status it corrected are told to their contacts once
    /// this instance is synced; before that (it has just started) its clients learn who is online from
    /// `getOnlineUsers`, which waits for the sync.
    fn snapshot(&self, snapshot: &junqo_proto::events::v1::PresenceSnapshot) {
        let users = snapshot
            .user_ids
            .chunks_exact(16)
            .filter_map(|bytes| Uuid::from_slice(bytes).ok())
            .collect();
        let changes = self
            .presence
            .snapshot(&snapshot.instance_id, snapshot.version, users);
        if !changes.is_empty() && self.presence.is_synced() {
            self.liveness.send(Signal::Tell(changes));
        }
    }
}

/// Emits `userStatus` about `user` to the local sockets of `audience` (user ids).
pub fn tell_status(io: &SocketIo, user: &str, online: bool, audience: &[String]) {
    let rooms: Vec<String> = audience
        .iter()
        .filter_map(|u| u.parse::<Uuid>().ok())
        .map(user_room)
        .collect();
    // No rooms would mean every socket.
    if rooms.is_empty() {
        return;
    }
    let body = json!({
        "userId": user,
        "status": if online { "online" } else { "offline" },
        "timestamp": now_iso(),
    });
    emit::to_sockets(&io.to(rooms).sockets(), "userStatus", &body);
}
