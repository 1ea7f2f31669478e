//! Realtime killed with SIGKILL under steady traffic and started again: a client that reconnects and
//! rejoins with `afterSeq` (its last `seq`) ends up with every acknowledged message exactly once, in
//! `seq` order, counting the replay.

use std::time::Duration;

use e2e::process::Backend;
use e2e::users;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{CreateConversationRequest, CreateMessageRequest};
use serde_json::json;
use testkit::sio::{self, Incoming};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(60);

/// Collects `receiveMessage` seqs until `until` says stop or the connection closes.
async fn receive(events: &mut UnboundedReceiver<Incoming>, seqs: &mut Vec<i64>, last: Option<i64>) {
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some((name, body)) = events.recv().await {
            if name == "receiveMessage" {
                let seq = body["seq"].as_i64().expect("a seq");
                seqs.push(seq);
                if Some(seq) == last {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "within {WAIT:?}: {} received, the last {:?}",
        seqs.len(),
        seqs.last()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_rejoining_a_restarted_instance_with_after_seq_misses_nothing() {
    let backend = Backend::start().await;
    let (mut realtime, _) = backend.realtime().await;

    let channel = Channel::from_shared(backend.conversations_url.clone())
        .expect("a url")
        .connect()
        .await
        .expect("conversations answers");
    let mut people = users::insert(&backend.db, 2).await;
    let bob = people.pop().expect("two users");
    let alice = people.pop().expect("two users");
    let room = ConversationsServiceClient::new(channel.clone())
        .create_conversation(alice.call(CreateConversationRequest {
            participant_ids: vec![bob.id.to_string()],
            ..Default::default()
        }))
        .await
        .expect("created")
        .into_inner()
        .id;
    let join = |after: Option<i64>| match after {
        Some(after) => json!({ "conversationId": room, "afterSeq": after }),
        None => json!({ "conversationId": room }),
    };

    let (client, mut events) =
        sio::connect(&format!("http://127.0.0.1:{}", realtime.port), &bob.token)
            .await
            .expect("connected");
    let ack = client.ask("joinRoom", join(None)).await.expect("ack");
    assert_eq!(ack["success"], true, "{ack}");

    // Alice sends 400 messages at about 100 a second, whatever happens to realtime.
    let sender = {
        let (channel, room) = (channel.clone(), room.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut last = 0;
            for i in 0..400 {
                tick.tick().await;
                last = MessagesServiceClient::new(channel.clone())
                    .create_message(alice.call(CreateMessageRequest {
                        conversation_id: room.clone(),
                        content: format!("message {i}"),
                        client_message_id: None,
                    }))
                    .await
                    .expect("acknowledged")
                    .into_inner()
                    .seq;
            }
            last
        })
    };

    // Bob reads about a hundred, then the instance is killed without a signal.
    let mut seqs = Vec::new();
    receive(&mut events, &mut seqs, Some(100)).await;
    realtime.child.kill().await.expect("SIGKILL");
    receive(&mut events, &mut seqs, None).await;
    drop(client);

    // A new instance; Bob reconnects and rejoins where he left off.
    (realtime, _) = backend.realtime().await;
    let (client, mut events) =
        sio::connect(&format!("http://127.0.0.1:{}", realtime.port), &bob.token)
            .await
            .expect("reconnected");
    let after = seqs.last().copied().unwrap_or(0);
    let ack = client
        .ask("joinRoom", join(Some(after)))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");

    let last = sender.await.expect("the sender finished");
    assert_eq!(last, 400);
    receive(&mut events, &mut seqs, Some(last)).await;
    assert_eq!(
        seqs,
        (1..=last).collect::<Vec<_>>(),
        "every acknowledged message once, in seq order, counting the replay (rejoined after {after})"
    );
    drop((backend, realtime));
}
