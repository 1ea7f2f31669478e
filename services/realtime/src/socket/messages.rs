//! Messages over the socket. Storing goes through the conversations service; the `receiveMessage`,
//! `messageUpdated`, `messageDeleted` and `messageRead` that the room sees come back through RabbitMQ,
//! exactly as for a message posted over REST.

use std::sync::Arc;

use junqo_proto::conversations::v1::{
    CreateMessageRequest, ListMessagesRequest, MessageRef, UpdateMessageRequest,
};
use serde_json::json;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use wire::{MessageDto, now_iso};

use super::answer;
use super::payload::{Json, Payload};
use crate::error::SocketError;
use crate::handshake::Session;
use crate::hub::Hub;

/// The original's default page size for socket history.
const DEFAULT_HISTORY_LIMIT: i64 = 50;
const MAX_CLIENT_MESSAGE_ID: usize = 128;

/// The `{messageId, conversationId}` payload of deleteMessage and markMessageRead, as a request.
fn message_ref(
    raw: Result<Json, socketioxide::ParserError>,
    session: &Session,
) -> Result<MessageRef, SocketError> {
    let mut payload = Payload::parse(raw)?;
    let message = payload.id("messageId", "Message ID");
    payload.id("conversationId", "Conversation ID");
    payload.finish()?;
    Ok(MessageRef {
        actor: Some(session.actor()),
        message_id: message.to_string(),
    })
}

pub async fn send(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let mut payload = Payload::parse(raw)?;
        let conversation = payload.id("conversationId", "Conversation ID");
        let content = payload.content();
        let client_message_id = payload.optional_text(
            "clientMessageId",
            "Client message ID",
            MAX_CLIENT_MESSAGE_ID,
        );
        // `senderId` may be present (the original required it); the sender is always the token's user.
        payload.finish()?;
        let request = CreateMessageRequest {
            actor: Some(session.actor()),
            conversation_id: conversation.to_string(),
            content,
            client_message_id,
        };
        let message = hub
            .messages
            .clone()
            .create_message(request)
            .await
            .map_err(SocketError::from)?
            .into_inner();
        super::typing::clear(&hub, &session, conversation);
        Ok(json!({ "success": true, "messageId": message.id, "seq": message.seq }))
    }
    .await;
    answer(&socket, ack, "sendMessage", started, outcome);
}

pub async fn history(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let mut payload = Payload::parse(raw)?;
        let conversation = payload.id("conversationId", "Conversation ID");
        let limit = payload
            .integer("limit", "Limit", 1, Some(100))
            .unwrap_or(DEFAULT_HISTORY_LIMIT);
        let before = payload.date("before", "Before");
        let after_seq = payload.integer("afterSeq", "After sequence", 0, None);
        payload.finish()?;
        let request = ListMessagesRequest {
            actor: Some(session.actor()),
            conversation_id: conversation.to_string(),
            limit: u32::try_from(limit).unwrap_or(50),
            before,
            after_seq,
        };
        let page = hub
            .messages
            .clone()
            .list_messages(request)
            .await
            .map_err(SocketError::from)?
            .into_inner();
        let messages: Vec<MessageDto> = page.messages.into_iter().map(Into::into).collect();
        let body = json!({
            "conversationId": conversation.to_string(),
            "messages": messages,
            "count": page.count,
            "timestamp": now_iso(),
        });
        let _ = socket.emit("messageHistory", &body);
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "getMessageHistory", started, outcome);
}

pub async fn update(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let mut payload = Payload::parse(raw)?;
        let message = payload.id("messageId", "Message ID");
        let content = payload.content();
        payload.id("conversationId", "Conversation ID");
        payload.finish()?;
        let request = UpdateMessageRequest {
            actor: Some(session.actor()),
            message_id: message.to_string(),
            content,
        };
        hub.messages
            .clone()
            .update_message(request)
            .await
            .map_err(SocketError::from)?;
        let _ = socket.emit(
            "updateMessageSuccess",
            &json!({ "messageId": message.to_string() }),
        );
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "updateMessage", started, outcome);
}

pub async fn delete(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let request = message_ref(raw, &session)?;
        let message = request.message_id.clone();
        hub.messages
            .clone()
            .delete_message(request)
            .await
            .map_err(SocketError::from)?;
        let _ = socket.emit("deleteMessageSuccess", &json!({ "messageId": message }));
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "deleteMessage", started, outcome);
}

pub async fn mark_read(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let request = message_ref(raw, &session)?;
        hub.messages
            .clone()
            .mark_read(request)
            .await
            .map_err(SocketError::from)?;
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "markMessageRead", started, outcome);
}
