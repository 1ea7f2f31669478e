//! startTyping and stopTyping. "Is typing" itself (the room notice, the timeout) is
//! [`crate::typing::Typing`]'s.

use serde_json::{Value, json};

use super::payload::InConversation;
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

pub struct StartTyping;

impl ClientEvent for StartTyping {
    const NAME: &'static str = "startTyping";
    const ERROR_EVENT: &'static str = "typingError";
    const LIMIT: Option<Limit> = Limit::per_conversation("SOCKET_RATE_TYPING");
    type Payload = InConversation;

    async fn handle(cx: Context, payload: InConversation) -> Result<Value, SocketError> {
        cx.hub
            .rooms
            .ensure_member(&cx.peer, payload.conversation)
            .await?;
        let hidden_from = cx.hub.kept_apart(cx.session()).await?;
        cx.hub
            .typing
            .start(cx.peer.user_id(), payload.conversation, hidden_from);
        Ok(json!({ "success": true }))
    }
}

pub struct StopTyping;

impl ClientEvent for StopTyping {
    const NAME: &'static str = "stopTyping";
    const ERROR_EVENT: &'static str = "typingError";
    const LIMIT: Option<Limit> = Limit::per_conversation("SOCKET_RATE_TYPING");
    type Payload = InConversation;

    async fn handle(cx: Context, payload: InConversation) -> Result<Value, SocketError> {
        cx.hub
            .rooms
            .ensure_member(&cx.peer, payload.conversation)
            .await?;
        cx.hub.typing.stop(cx.peer.user_id(), payload.conversation);
        Ok(json!({ "success": true }))
    }
}
