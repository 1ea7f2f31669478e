//! joinRoom and leaveRoom. Only participants join: the conversations service is asked every time.

use std::sync::Arc;

use junqo_proto::conversations::v1::ConversationRef;
use junqo_proto::events::v1::{RoomNotice, event::Payload as EventPayload};
use serde_json::json;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use uuid::Uuid;

use super::answer;
use super::payload::{Json, Payload};
use crate::error::SocketError;
use crate::handshake::{Joined, Session};
use crate::hub::Hub;

pub async fn join(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
    Extension(joined): Extension<Joined>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let mut payload = Payload::parse(raw)?;
        let conversation = payload.id("conversationId", "Conversation ID");
        payload.finish()?;
        // Held to the end: this socket's leave or disconnect waits until the join is complete.
        let mut joined = joined.lock().await;
        let request = ConversationRef {
            actor: Some(session.actor()),
            conversation_id: conversation.to_string(),
        };
        hub.conversations
            .clone()
            .check_access(request)
            .await
            .map_err(SocketError::from)?;
        let room = conversation.to_string();
        if joined.insert(conversation) {
            // Bound before the join is acknowledged: nothing sent after the ack can be missed.
            hub.fanout.join(conversation).await;
            socket.join(room.clone());
            notice(&hub, &session, conversation, true);
        }
        let _ = socket.emit("joinRoomSuccess", &json!({ "conversationId": room }));
        Ok(json!({ "success": true, "conversationId": room }))
    }
    .await;
    answer(&socket, ack, "joinRoom", started, outcome);
}

pub async fn leave(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
    Extension(joined): Extension<Joined>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let mut payload = Payload::parse(raw)?;
        let conversation = payload.id("conversationId", "Conversation ID");
        payload.finish()?;
        let room = conversation.to_string();
        if joined.lock().await.remove(&conversation) {
            socket.leave(room.clone());
            left(&hub, &session, conversation);
            super::typing::clear(&hub, &session, conversation);
        }
        let _ = socket.emit("leaveRoomSuccess", &json!({ "conversationId": room }));
        Ok::<_, SocketError>(json!({ "success": true, "conversationId": room }))
    }
    .await;
    answer(&socket, ack, "leaveRoom", started, outcome);
}

/// A socket of `session`'s user is no longer in the room (it left, or disconnected).
pub fn left(hub: &Hub, session: &Session, conversation: Uuid) {
    notice(hub, session, conversation, false);
    hub.fanout.leave(conversation);
}

/// Tells the room, on every instance, that the user joined or left.
fn notice(hub: &Hub, session: &Session, conversation: Uuid, joined: bool) {
    let payload = EventPayload::RoomNotice(RoomNotice {
        user_id: session.user_id.to_string(),
        joined,
    });
    let event = super::ephemeral_event(conversation, payload);
    hub.fanout.publish(
        broker::conversation_key(&conversation.to_string(), "room"),
        event,
    );
}
