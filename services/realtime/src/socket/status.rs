//! Presence: `userStatus` when a user's first socket (on any instance) connects or last one leaves, to
//! the users who share a conversation with them only; and getOnlineUsers.

use std::sync::Arc;

use junqo_proto::conversations::v1::{ConversationRef, ListContactsRequest};
use junqo_proto::events::v1::{Event, Presence, event::Payload as EventPayload};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use uuid::Uuid;
use wire::now_iso;

use super::answer;
use super::payload::{Json, Payload};
use crate::error::SocketError;
use crate::fanout::presence_key;
use crate::handshake::Session;
use crate::hub::Hub;

/// The users who share at least one conversation with the session's user.
async fn contacts(hub: &Hub, session: &Session) -> Result<Vec<String>, SocketError> {
    let request = ListContactsRequest {
        actor: Some(session.actor()),
    };
    Ok(hub
        .conversations
        .clone()
        .list_contacts(request)
        .await
        .map_err(SocketError::from)?
        .into_inner()
        .user_ids)
}

/// Tells every instance that this one now has (or no longer has) the user online.
pub async fn announce(hub: &Hub, session: &Session, online: bool) {
    let audience = match contacts(hub, session).await {
        Ok(audience) => audience,
        Err(error) => {
            tracing::warn!(%error, "cannot find who to tell about a status change");
            Vec::new()
        }
    };
    let event = Event {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: None,
        conversation_id: String::new(),
        payload: Some(EventPayload::Presence(Presence {
            user_id: session.user_id.to_string(),
            online,
            instance_id: hub.instance_id.clone(),
            audience,
        })),
    };
    hub.fanout.publish(presence_key(session.user_id), event);
}

/// On shutdown: announces offline, from this instance, every user who has a socket here, before the
/// sockets are closed (whose own disconnects then announce nothing), so a rolling restart does not leave
/// them "online" elsewhere.
pub async fn depart(hub: &Hub) {
    let sessions = hub.presence.take_local();
    let announcements = sessions.iter().map(|session| announce(hub, session, false));
    if tokio::time::timeout(
        std::time::Duration::from_secs(5),
        futures::future::join_all(announcements),
    )
    .await
    .is_err()
    {
        tracing::warn!("some users could not be announced offline before shutdown");
    }
    hub.fanout.flush().await;
}

pub async fn online_users(
    socket: SocketRef,
    TryData(raw): TryData<Json>,
    ack: AckSender,
    State(hub): State<Arc<Hub>>,
    Extension(session): Extension<Arc<Session>>,
) {
    let started = std::time::Instant::now();
    let outcome = async {
        let fields = match raw {
            Ok(Json(Value::Object(fields))) => fields,
            _ => serde_json::Map::new(),
        };
        let mut body = json!({ "timestamp": now_iso() });
        let candidates: Vec<String> = if fields.get("conversationId").is_some_and(|v| !v.is_null())
        {
            let mut payload = Payload::parse(Ok(Json(Value::Object(fields))))?;
            let conversation = payload.id("conversationId", "Conversation ID");
            payload.finish()?;
            let request = ConversationRef {
                actor: Some(session.actor()),
                conversation_id: conversation.to_string(),
            };
            body["conversationId"] = json!(conversation.to_string());
            hub.conversations
                .clone()
                .get_conversation(request)
                .await
                .map_err(SocketError::from)?
                .into_inner()
                .participant_ids
        } else {
            let mut everyone = contacts(&hub, &session).await?;
            everyone.push(session.user_id.to_string());
            everyone
        };
        let online: Vec<String> = candidates
            .into_iter()
            .filter(|user| {
                user.parse::<Uuid>()
                    .is_ok_and(|id| hub.presence.is_online(id))
            })
            .collect();
        body["users"] = json!(online);
        let _ = socket.emit("onlineUsers", &body);
        Ok(json!({ "success": true }))
    }
    .await;
    answer(&socket, ack, "getOnlineUsers", started, outcome);
}
