//! startTyping and stopTyping. "Is typing" goes to the others in the room on every instance, and stops by
//! itself after the typing timeout, when the user stops, sends, leaves or disconnects.

use std::sync::Arc;

use junqo_proto::conversations::v1::ConversationRef;
use junqo_proto::events::v1::{Typing, event::Payload as EventPayload};
use serde_json::json;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use uuid::Uuid;

use super::answer;
use super::payload::{Json, Payload};
use crate::error::SocketError;
use crate::handshake::Session;
use crate::hub::Hub;

pub async fn start(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let conversation = member_of(&socket, &hub, &session, raw).await?;
        publish(&hub, &session, conversation, true);
        // A new startTyping restarts the countdown.
        let expiry = {
            let hub = hub.clone();
            let session = session.clone();
            tokio::spawn(async move {
                tokio::time::sleep(hub.typing_timeout).await;
                hub.typing_timers().remove(&(conversation, session.user_id));
                publish(&hub, &session, conversation, false);
            })
        };
        if let Some(previous) = hub
            .typing_timers()
            .insert((conversation, session.user_id), expiry.abort_handle())
        {
            previous.abort();
        }
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "startTyping", started, outcome);
}

pub async fn stop(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let conversation = member_of(&socket, &hub, &session, raw).await?;
        if let Some(timer) = hub.typing_timers().remove(&(conversation, session.user_id)) {
            timer.abort();
        }
        publish(&hub, &session, conversation, false);
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "stopTyping", started, outcome);
}

/// Stops the user's typing in the conversation if it is on (after a send, a leave, a disconnect).
pub fn clear(hub: &Hub, session: &Session, conversation: Uuid) {
    if let Some(timer) = hub.typing_timers().remove(&(conversation, session.user_id)) {
        timer.abort();
        publish(hub, session, conversation, false);
    }
}

/// The conversation of the payload, if the user may be in it: a socket in the room has been checked
/// when it joined; otherwise the conversations service is asked.
async fn member_of(
    socket: &SocketRef,
    hub: &Hub,
    session: &Session,
    raw: Result<Json, socketioxide::ParserError>,
) -> Result<Uuid, SocketError> {
    let mut payload = Payload::parse(raw)?;
    let conversation = payload.id("conversationId", "Conversation ID");
    payload.finish()?;
    let room = conversation.to_string();
    let joined = match socket.extensions.get::<crate::handshake::Joined>() {
        Some(joined) => joined.lock().await.contains(&conversation),
        None => false,
    };
    if !joined {
        let request = ConversationRef {
            actor: Some(session.actor()),
            conversation_id: room,
        };
        hub.conversations
            .clone()
            .check_access(request)
            .await
            .map_err(SocketError::from)?;
    }
    Ok(conversation)
}

fn publish(hub: &Hub, session: &Session, conversation: Uuid, typing: bool) {
    let payload = EventPayload::Typing(Typing {
        user_id: session.user_id.to_string(),
        typing,
    });
    let event = super::ephemeral_event(conversation, payload);
    hub.fanout.publish(
        broker::conversation_key(&conversation.to_string(), "typing"),
        event,
    );
}
