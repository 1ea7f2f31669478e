//! The client events of the default namespace, one module per group:
//! - [`rooms`]: joinRoom, leaveRoom;
//! - [`messages`]: sendMessage, getMessageHistory, updateMessage, deleteMessage, markMessageRead;
//! - [`typing`]: startTyping, stopTyping;
//! - [`status`]: getOnlineUsers, and presence on connect and disconnect.
//!
//! Every handler reads its payload with [`payload::Payload`], asks the conversations service (which
//! decides what the user may do), then answers: its success event and ack, or its error event and a
//! failed ack. Bad input never closes the connection.

mod messages;
mod payload;
mod rooms;
mod status;
mod typing;

pub use status::depart;

use std::sync::Arc;

use serde_json::Value;
use socketioxide::extract::{AckSender, Extension, MaybeExtension, SocketRef, State};
use socketioxide::socket::DisconnectReason;
use uuid::Uuid;

use crate::error::SocketError;
use crate::handshake::{Joined, Session};
use crate::hub::{Hub, user_room};

/// Registers the event handlers of a socket being authenticated. Called from the connect middleware,
/// which runs before the client is told it is connected: socketioxide spawns the connect handler only
/// after that, so a client emitting right on "connect" (joinRoom, typically) could otherwise find no
/// handler and have its event dropped.
pub fn register(socket: &SocketRef) {
    socket.on("joinRoom", rooms::join);
    socket.on("leaveRoom", rooms::leave);
    socket.on("sendMessage", messages::send);
    socket.on("getMessageHistory", messages::history);
    socket.on("updateMessage", messages::update);
    socket.on("deleteMessage", messages::delete);
    socket.on("markMessageRead", messages::mark_read);
    socket.on("startTyping", typing::start);
    socket.on("stopTyping", typing::stop);
    socket.on("getOnlineUsers", status::online_users);
    socket.on_disconnect(on_disconnect);
}

/// A socket is connected: it joins its user's room and, if it is the user's first here, the user is
/// announced online.
pub async fn on_connect(
    socket: SocketRef,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    socket.join(user_room(session.user_id));
    metrics::gauge!("realtime_connected_sockets").increment(1.0);
    if hub.presence.socket_connected(&session) {
        status::announce(&hub, &session, true).await;
    }
}

/// Announces the user offline if this was their last socket here, stops their typing, and leaves every
/// conversation room (telling the room). Only infallible extractors: a failing one would skip the clean-up.
async fn on_disconnect(
    State(hub): State<Arc<Hub>>,
    MaybeExtension(session): MaybeExtension<Arc<Session>>,
    MaybeExtension(joined): MaybeExtension<Joined>,
    reason: DisconnectReason,
) {
    let (Some(session), Some(joined)) = (session, joined) else {
        return;
    };
    metrics::gauge!("realtime_connected_sockets").decrement(1.0);
    tracing::debug!(user = %session.user_id, %reason, "socket disconnected");
    // Waits for a join in progress on this socket, so its room is counted and then left.
    let conversations: Vec<Uuid> = joined.lock().await.drain().collect();
    // Presence first: whoever hears the room notices below has the status change already.
    if hub.presence.socket_disconnected(session.user_id) {
        status::announce(&hub, &session, false).await;
    }
    for conversation in conversations {
        typing::clear(&hub, &session, conversation);
        rooms::left(&hub, &session, conversation);
    }
}

/// The error event of each client event, as the contract names them.
fn error_event(event: &str) -> &'static str {
    match event {
        "joinRoom" => "joinRoomError",
        "leaveRoom" => "leaveRoomError",
        "sendMessage" => "messageError",
        "updateMessage" => "updateMessageError",
        "deleteMessage" => "deleteMessageError",
        "getMessageHistory" => "messageHistoryError",
        "startTyping" | "stopTyping" => "typingError",
        "markMessageRead" => "markReadError",
        "getOnlineUsers" => "onlineUsersError",
        _ => "error",
    }
}

/// Answers an event: the ack on success; on failure the event's error event and a failed ack. Counted in
/// `realtime_socket_events_total{event,status}` and timed in `realtime_socket_event_duration_seconds`.
fn answer(
    socket: &SocketRef,
    ack: AckSender,
    event: &'static str,
    started: std::time::Instant,
    outcome: Result<Value, SocketError>,
) {
    let status = match &outcome {
        Ok(_) => 200,
        Err(error) => error.status,
    };
    metrics::counter!("realtime_socket_events_total", "event" => event, "status" => status.to_string()).increment(1);
    metrics::histogram!("realtime_socket_event_duration_seconds", "event" => event)
        .record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(value) => {
            let _ = ack.send(&value);
        }
        Err(error) => {
            let _ = socket.emit(error_event(event), &error.event_payload());
            let _ = ack.send(&error.ack_payload());
        }
    }
}

/// An ephemeral event about a conversation, with a fresh id.
fn ephemeral_event(
    conversation: Uuid,
    payload: junqo_proto::events::v1::event::Payload,
) -> junqo_proto::events::v1::Event {
    junqo_proto::events::v1::Event {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: None,
        conversation_id: conversation.to_string(),
        payload: Some(payload),
    }
}
