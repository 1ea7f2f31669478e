//! joinRoom and leaveRoom. Membership itself (the lock, the room, the broker binding, the notice) is
//! [`crate::rooms::Rooms`]'s.

use serde_json::{Value, json};

use super::payload::InConversation;
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

/// Participants only: the conversations service is asked every time.
pub struct JoinRoom;

impl ClientEvent for JoinRoom {
    const NAME: &'static str = "joinRoom";
    const ERROR_EVENT: &'static str = "joinRoomError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_JOIN_ROOM");
    type Payload = InConversation;

    async fn handle(cx: Context, payload: InConversation) -> Result<Value, SocketError> {
        cx.hub.rooms.join(&cx.peer, payload.conversation).await?;
        let room = payload.conversation.to_string();
        cx.emit("joinRoomSuccess", &json!({ "conversationId": room }));
        Ok(json!({ "success": true, "conversationId": room }))
    }
}

pub struct LeaveRoom;

impl ClientEvent for LeaveRoom {
    const NAME: &'static str = "leaveRoom";
    const ERROR_EVENT: &'static str = "leaveRoomError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_JOIN_ROOM");
    type Payload = InConversation;

    async fn handle(cx: Context, payload: InConversation) -> Result<Value, SocketError> {
        cx.hub.rooms.leave(&cx.peer, payload.conversation).await;
        let room = payload.conversation.to_string();
        cx.emit("leaveRoomSuccess", &json!({ "conversationId": room }));
        Ok(json!({ "success": true, "conversationId": room }))
    }
}
