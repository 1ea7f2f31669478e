//! What the fault tests do again and again: open a conversation and send to it over gRPC as a user, join
//! its room over Socket.IO, and read the `seq`s a member receives.

use std::time::Duration;

use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{CreateConversationRequest, CreateMessageRequest};
use serde_json::json;
use testkit::sio::{self, Incoming};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::transport::Channel;

use crate::users::User;

/// A channel to the conversations service at `url`.
pub async fn connect(url: String) -> Channel {
    Channel::from_shared(url)
        .expect("a url")
        .connect()
        .await
        .expect("conversations answers")
}

/// A conversation of `owner` with `others`; its id.
pub async fn conversation(conversations: &Channel, owner: &User, others: &[&User]) -> String {
    ConversationsServiceClient::new(conversations.clone())
        .create_conversation(owner.call(CreateConversationRequest {
            participant_ids: others.iter().map(|u| u.id.to_string()).collect(),
            ..Default::default()
        }))
        .await
        .expect("created")
        .into_inner()
        .id
}

/// Sends one message; its `seq` once acknowledged.
pub async fn send(conversations: &Channel, who: &User, room: &str, content: String) -> i64 {
    MessagesServiceClient::new(conversations.clone())
        .create_message(who.call(CreateMessageRequest {
            conversation_id: room.to_owned(),
            content,
            client_message_id: None,
        }))
        .await
        .expect("acknowledged")
        .into_inner()
        .seq
}

/// A socket of `who` on realtime, in `room`'s room.
pub async fn member(
    realtime_url: &str,
    who: &User,
    room: &str,
) -> (sio::Client, UnboundedReceiver<Incoming>) {
    let (client, events) = sio::connect(realtime_url, &who.token)
        .await
        .expect("connected");
    let ack = client
        .ask("joinRoom", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    (client, events)
}

/// The `seq` of every `receiveMessage` of `room`, in arrival order, until `last` arrives (within
/// `within`, or the test fails saying how far it got).
pub async fn received_until(
    events: &mut UnboundedReceiver<Incoming>,
    room: &str,
    last: i64,
    within: Duration,
) -> Vec<i64> {
    let mut seqs = Vec::new();
    let outcome = tokio::time::timeout(within, async {
        while let Some((name, body)) = events.recv().await {
            if name == "receiveMessage" && body["conversationId"] == room {
                let seq = body["seq"].as_i64().expect("a seq");
                seqs.push(seq);
                if seq == last {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        outcome,
        Ok(true),
        "seq {last} within {within:?}; received {} messages, the last {:?}",
        seqs.len(),
        seqs.last()
    );
    seqs
}
