//! Messages over the socket. Storing goes through the conversations service; the `receiveMessage`,
//! `messageUpdated`, `messageDeleted` and `messageRead` that the room sees come back through RabbitMQ,
//! exactly as for a message posted over REST.

use junqo_proto::conversations::v1::{
    CreateMessageRequest, ListMessagesRequest, MessageRef, UpdateMessageRequest,
};
use serde_json::{Value, json};
use uuid::Uuid;
use validation::Violations;
use validation::rules::{optional_date, optional_json_integer, optional_text, required_text};
use wire::{MessageDto, now_iso};

use super::payload::{Input, Payload, field, id};
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

/// The conversations service's limits, checked here too so that a payload with several broken fields
/// hears about all of them at once (the service checks again, and its sentences reach the client too).
const MAX_CONTENT_CHARS: usize = 10_000;
const MAX_CLIENT_MESSAGE_ID: usize = 128;
/// The original's default page size for socket history.
const DEFAULT_HISTORY_LIMIT: i64 = 50;

/// `{conversationId, content, clientMessageId?}`. `senderId` may be present (the original required it);
/// the sender is always the token's user.
pub struct NewMessage {
    conversation: Uuid,
    content: String,
    client_message_id: Option<String>,
}

impl Payload for NewMessage {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (conversation, content, client_message_id) = validation::all((
            id(fields, "conversationId", "Conversation ID"),
            required_text(field(fields, "content"), "Content", MAX_CONTENT_CHARS),
            optional_text(
                field(fields, "clientMessageId"),
                "Client message ID",
                0,
                MAX_CLIENT_MESSAGE_ID,
            ),
        ))?;
        Ok(Self {
            conversation,
            content,
            client_message_id,
        })
    }
}

pub struct SendMessage;

impl ClientEvent for SendMessage {
    const NAME: &'static str = "sendMessage";
    const ERROR_EVENT: &'static str = "messageError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_SEND_MESSAGE");
    type Payload = NewMessage;

    async fn handle(cx: Context, payload: NewMessage) -> Result<Value, SocketError> {
        let request = CreateMessageRequest {
            conversation_id: payload.conversation.to_string(),
            content: payload.content,
            client_message_id: payload.client_message_id,
        };
        let message = cx.hub.sends.send(cx.session(), request).await?;
        cx.hub.typing.clear(cx.peer.user_id(), payload.conversation);
        Ok(json!({ "success": true, "messageId": message.id, "seq": message.seq }))
    }
}

/// `{conversationId, limit?, before?, afterSeq?}`.
pub struct HistoryQuery {
    conversation: Uuid,
    limit: u32,
    before: Option<prost_types::Timestamp>,
    after_seq: Option<i64>,
}

impl Payload for HistoryQuery {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (conversation, limit, before, after_seq) = validation::all((
            id(fields, "conversationId", "Conversation ID"),
            optional_json_integer(fields.get("limit"), "Limit", 1, Some(100)),
            optional_date(field(fields, "before"), "Before"),
            optional_json_integer(fields.get("afterSeq"), "After sequence", 0, None),
        ))?;
        Ok(Self {
            conversation,
            limit: u32::try_from(limit.unwrap_or(DEFAULT_HISTORY_LIMIT)).unwrap_or(50),
            before: before.map(|at| prost_types::Timestamp {
                seconds: at.timestamp(),
                // Below 2e9 by definition, so it fits.
                nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
            }),
            after_seq,
        })
    }
}

pub struct GetMessageHistory;

impl ClientEvent for GetMessageHistory {
    const NAME: &'static str = "getMessageHistory";
    const ERROR_EVENT: &'static str = "messageHistoryError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_HISTORY");
    type Payload = HistoryQuery;

    async fn handle(cx: Context, query: HistoryQuery) -> Result<Value, SocketError> {
        let request = cx.request(ListMessagesRequest {
            conversation_id: query.conversation.to_string(),
            limit: query.limit,
            before: query.before,
            after_seq: query.after_seq,
        });
        let page = cx
            .hub
            .messages
            .clone()
            .list_messages(request)
            .await?
            .into_inner();
        let messages: Vec<MessageDto> = page.messages.into_iter().map(Into::into).collect();
        cx.emit(
            "messageHistory",
            &json!({
                "conversationId": query.conversation.to_string(),
                "messages": messages,
                "count": page.count,
                "timestamp": now_iso(),
            }),
        );
        Ok(json!({ "success": true }))
    }
}

/// `{messageId, content, conversationId}`.
pub struct MessageEdit {
    message: Uuid,
    content: String,
}

impl Payload for MessageEdit {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (message, content, _conversation) = validation::all((
            id(fields, "messageId", "Message ID"),
            required_text(field(fields, "content"), "Content", MAX_CONTENT_CHARS),
            id(fields, "conversationId", "Conversation ID"),
        ))?;
        Ok(Self { message, content })
    }
}

pub struct UpdateMessage;

impl ClientEvent for UpdateMessage {
    const NAME: &'static str = "updateMessage";
    const ERROR_EVENT: &'static str = "updateMessageError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_SEND_MESSAGE");
    type Payload = MessageEdit;

    async fn handle(cx: Context, edit: MessageEdit) -> Result<Value, SocketError> {
        let request = cx.request(UpdateMessageRequest {
            message_id: edit.message.to_string(),
            content: edit.content,
        });
        cx.hub.messages.clone().update_message(request).await?;
        cx.emit(
            "updateMessageSuccess",
            &json!({ "messageId": edit.message.to_string() }),
        );
        Ok(json!({ "success": true }))
    }
}

/// `{messageId, conversationId}`: deleteMessage and markMessageRead.
pub struct MessageTarget {
    message: Uuid,
}

impl Payload for MessageTarget {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (message, _conversation) = validation::all((
            id(fields, "messageId", "Message ID"),
            id(fields, "conversationId", "Conversation ID"),
        ))?;
        Ok(Self { message })
    }
}

impl MessageTarget {
    fn request(&self, cx: &Context) -> tonic::Request<MessageRef> {
        cx.request(MessageRef {
            message_id: self.message.to_string(),
        })
    }
}

pub struct DeleteMessage;

impl ClientEvent for DeleteMessage {
    const NAME: &'static str = "deleteMessage";
    const ERROR_EVENT: &'static str = "deleteMessageError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_SEND_MESSAGE");
    type Payload = MessageTarget;

    async fn handle(cx: Context, target: MessageTarget) -> Result<Value, SocketError> {
        let request = target.request(&cx);
        cx.hub.messages.clone().delete_message(request).await?;
        cx.emit(
            "deleteMessageSuccess",
            &json!({ "messageId": target.message.to_string() }),
        );
        Ok(json!({ "success": true }))
    }
}

pub struct MarkMessageRead;

impl ClientEvent for MarkMessageRead {
    const NAME: &'static str = "markMessageRead";
    const ERROR_EVENT: &'static str = "markReadError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_MARK_READ");
    type Payload = MessageTarget;

    async fn handle(cx: Context, target: MessageTarget) -> Result<Value, SocketError> {
        let request = target.request(&cx);
        cx.hub.messages.clone().mark_read(request).await?;
        Ok(json!({ "success": true }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Json;
    use serde_json::json;

    fn input(value: Value) -> Input {
        Input::from(Ok(Json(value)))
    }

    #[test]
    fn every_broken_rule_is_listed_in_field_order() {
        let violations = NewMessage::parse(&input(json!({"conversationId": 42, "content": ["x"]})))
            .err()
            .expect("invalid");
        assert_eq!(
            violations.summary(),
            "Validation failed: Conversation ID must be a valid UUID, Content must be a string"
        );
        let history = HistoryQuery::parse(&input(json!({"limit": 500, "before": "yesterday"})))
            .err()
            .expect("invalid");
        assert_eq!(
            history.sentences(),
            [
                "Conversation ID must be a valid UUID",
                "Conversation ID is required",
                "Limit must not exceed 100",
                "Before must be a valid date string"
            ]
        );
    }

    #[test]
    fn valid_payloads_become_values() {
        let id = Uuid::new_v4();
        let message = NewMessage::parse(&input(
            json!({"conversationId": id.to_string(), "content": "hi", "senderId": "anyone"}),
        ))
        .expect("valid");
        assert_eq!((message.conversation, message.content.as_str()), (id, "hi"));
        assert_eq!(message.client_message_id, None);

        let query = HistoryQuery::parse(&input(
            json!({"conversationId": id.to_string(), "before": "2026-01-01T00:00:00.000Z", "afterSeq": 3}),
        ))
        .expect("valid");
        assert_eq!(query.limit, 50);
        assert_eq!(query.after_seq, Some(3));
        assert!(query.before.is_some());
    }

    #[test]
    fn content_follows_the_shared_rules() {
        let id = Uuid::new_v4().to_string();
        let nul = NewMessage::parse(&input(json!({"conversationId": id, "content": "a\u{0}b"})));
        assert_eq!(
            nul.err().expect("NUL").sentences(),
            ["Content must not contain null characters"]
        );
        let long = NewMessage::parse(&input(
            json!({"conversationId": id, "content": "x".repeat(MAX_CONTENT_CHARS + 1)}),
        ));
        assert_eq!(
            long.err().expect("too long").sentences(),
            ["Content must be at most 10000 characters long"]
        );
    }
}
