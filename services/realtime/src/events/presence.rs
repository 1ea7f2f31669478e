//! getOnlineUsers: who, among the participants of a conversation (or everyone the user shares one with,
//! and the user), is online on any instance. Presence itself is [`crate::presence`]'s and
//! [`crate::lifecycle`]'s.

use junqo_proto::conversations::v1::ConversationRef;
use serde_json::{Value, json};
use uuid::Uuid;
use validation::Violations;
use wire::now_iso;

use super::payload::{Input, Payload, id};
use super::{ClientEvent, Context, Limit};
use crate::error::SocketError;

/// `{conversationId?}`; the payload itself may be missing.
pub struct OnlineQuery {
    conversation: Option<Uuid>,
}

impl Payload for OnlineQuery {
    fn parse(input: &Input) -> Result<Self, Violations> {
        let conversation = match input.fields_or_none() {
            Some(fields) if fields.get("conversationId").is_some_and(|v| !v.is_null()) => {
                let (conversation,) =
                    validation::all((id(fields, "conversationId", "Conversation ID"),))?;
                Some(conversation)
            }
            _ => None,
        };
        Ok(Self { conversation })
    }
}

pub struct GetOnlineUsers;

impl ClientEvent for GetOnlineUsers {
    const NAME: &'static str = "getOnlineUsers";
    const ERROR_EVENT: &'static str = "onlineUsersError";
    const LIMIT: Option<Limit> = Limit::per_user("SOCKET_RATE_HISTORY");
    type Payload = OnlineQuery;

    async fn handle(cx: Context, query: OnlineQuery) -> Result<Value, SocketError> {
        let mut body = json!({ "timestamp": now_iso() });
        let candidates = match query.conversation {
            Some(conversation) => {
                let request = cx.request(ConversationRef {
                    conversation_id: conversation.to_string(),
                });
                body["conversationId"] = json!(conversation.to_string());
                let participants = cx
                    .hub
                    .conversations
                    .clone()
                    .get_conversation(request)
                    .await?
                    .into_inner()
                    .participant_ids;
                // A blocked pair does not learn each other's status (the contacts below leave them out).
                let hidden = cx.hub.kept_apart(cx.session()).await?;
                participants
                    .into_iter()
                    .filter(|user| !hidden.contains(user))
                    .collect()
            }
            None => {
                let mut everyone = cx.hub.contacts(cx.session()).await?;
                everyone.push(cx.peer.user_id().to_string());
                everyone
            }
        };
        // A new instance answers once it has heard every instance (a heartbeat round, at most).
        cx.hub.presence.wait_synced().await;
        let online: Vec<String> = candidates
            .into_iter()
            .filter(|user| {
                user.parse::<Uuid>()
                    .is_ok_and(|id| cx.hub.presence.is_online(id))
            })
            .collect();
        body["users"] = json!(online);
        cx.emit("onlineUsers", &body);
        Ok(json!({ "success": true }))
    }
}
