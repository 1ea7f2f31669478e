//! markConversationRead: read-up-to over the socket. The room (the caller's other sockets included)
//! hears `conversationRead` through RabbitMQ, from the conversations service's event, so every realtime
//! instance tells its sockets alike, and a read marked over REST reaches sockets too.

use junqo_proto::conversations::v1::MarkConversationReadRequest;
use serde_json::{Value, json};
use uuid::Uuid;
use validation::Violations;
use validation::rules::optional_integer;

use super::payload::{Input, Payload, id};
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

/// `{conversationId, seq}`: everything up to `seq` is read.
pub struct ReadUpTo {
    conversation: Uuid,
    seq: i64,
}

impl Payload for ReadUpTo {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (conversation, seq) = validation::all((
            id(fields, "conversationId", "Conversation ID"),
            // Required: a missing seq breaks both of its rules, naming the field.
            optional_integer(
                true,
                fields.get("seq").and_then(Value::as_f64),
                "Seq",
                0,
                None,
            ),
        ))?;
        Ok(Self {
            conversation,
            seq: seq.unwrap_or_default(),
        })
    }
}

pub struct MarkConversationRead;

impl ClientEvent for MarkConversationRead {
    const NAME: &'static str = "markConversationRead";
    const ERROR_EVENT: &'static str = "markReadError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_MARK_READ");
    type Payload = ReadUpTo;

    async fn handle(cx: Context, payload: ReadUpTo) -> Result<Value, SocketError> {
        let request = cx.request(MarkConversationReadRequest {
            conversation_id: payload.conversation.to_string(),
            seq: payload.seq,
        });
        let state = cx
            .hub
            .conversations
            .clone()
            .mark_conversation_read(request)
            .await?
            .into_inner();
        Ok(json!({
            "success": true,
            "lastReadSeq": state.last_read_seq,
            "unreadCount": state.unread_count,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Json;

    fn input(value: Value) -> Input {
        Input::from(Ok(Json(value)))
    }

    #[test]
    fn seq_is_a_required_whole_number_from_zero() {
        let id = Uuid::new_v4().to_string();
        for bad in [
            json!({"conversationId": id}),
            json!({"conversationId": id, "seq": "x"}),
        ] {
            assert_eq!(
                ReadUpTo::parse(&input(bad))
                    .err()
                    .expect("invalid")
                    .sentences(),
                ["Seq must be at least 0", "Seq must be an integer"]
            );
        }
        assert_eq!(
            ReadUpTo::parse(&input(json!({"conversationId": id, "seq": -1})))
                .err()
                .expect("negative")
                .sentences(),
            ["Seq must be at least 0"]
        );
        let valid = ReadUpTo::parse(&input(json!({"conversationId": id, "seq": 3}))).expect("ok");
        assert_eq!(valid.seq, 3);
    }
}
