//! joinRoom and leaveRoom. Membership itself (the lock, the room, the broker binding, the notice) is
//! [`crate::rooms::Rooms`]'s.

use serde_json::{Value, json};
use uuid::Uuid;
use validation::Violations;
use validation::rules::optional_json_integer;

use super::payload::{InConversation, Input, Payload, id};
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

/// `{conversationId, afterSeq?}`: `afterSeq` is the last `seq` the client has of the conversation.
#[derive(Debug)]
pub struct JoinRequest {
    pub conversation: Uuid,
    pub after_seq: Option<i64>,
}

impl Payload for JoinRequest {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let fields = input.fields()?;
        let (conversation, after_seq) = validation::all((
            id(fields, "conversationId", "Conversation ID"),
            // Named as getMessageHistory names the same field.
            optional_json_integer(fields.get("afterSeq"), "After sequence", 0, None),
        ))?;
        Ok(Self {
            conversation,
            after_seq,
        })
    }
}

/// Participants only: the conversations service is asked every time. With `afterSeq`, the socket is
/// first replayed, as `receiveMessage`, every message after it (up to [`crate::sequencer::MAX_REPLAY`];
/// beyond, `resyncRequired` tells the client to page the history).
pub struct JoinRoom;

impl ClientEvent for JoinRoom {
    const NAME: &'static str = "joinRoom";
    const ERROR_EVENT: &'static str = "joinRoomError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_JOIN_ROOM");
    type Payload = JoinRequest;

    async fn handle(cx: Context, payload: JoinRequest) -> Result<Value, SocketError> {
        let outcome = cx
            .hub
            .rooms
            .join(&cx.peer, payload.conversation, payload.after_seq)
            .await?;
        let room = payload.conversation.to_string();
        if outcome.resync
            && let Some(after) = payload.after_seq
        {
            cx.emit(
                "resyncRequired",
                &json!({ "conversationId": room, "afterSeq": after, "latestSeq": outcome.latest_seq }),
            );
        }
        cx.emit("joinRoomSuccess", &json!({ "conversationId": room }));
        Ok(json!({ "success": true, "conversationId": room, "latestSeq": outcome.latest_seq }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Json;

    fn parse(value: Value) -> Result<JoinRequest, Violations> {
        JoinRequest::parse(&Input::from(Ok(Json(value))))
    }

    #[test]
    fn after_seq_is_an_optional_integer_of_at_least_zero() {
        let id = Uuid::new_v4().to_string();
        assert_eq!(
            parse(json!({"conversationId": id}))
                .expect("valid")
                .after_seq,
            None
        );
        assert_eq!(
            parse(json!({"conversationId": id, "afterSeq": 7}))
                .expect("valid")
                .after_seq,
            Some(7)
        );
        for (bad, sentences) in [
            (json!(-1), vec!["After sequence must be at least 0"]),
            (json!(1.5), vec!["After sequence must be an integer"]),
            (
                json!("3"),
                vec![
                    "After sequence must be at least 0",
                    "After sequence must be an integer",
                ],
            ),
        ] {
            let refused =
                parse(json!({"conversationId": id, "afterSeq": bad})).expect_err("refused");
            assert_eq!(refused.sentences(), sentences, "{bad}");
        }
    }
}
