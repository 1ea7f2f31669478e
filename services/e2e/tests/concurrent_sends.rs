//! Many sockets sending at once, so each realtime instance batches their messages into shared
//! `CreateMessages` calls: every sender still gets its own ack with its message's `seq`, and every
//! member receives every message of its conversation once, in `seq` order.

use std::collections::HashMap;
use std::time::Duration;

use e2e::Stack;
use e2e::users::{self, User};
use futures::future::join_all;
use serde_json::{Value, json};
use testkit::sio::{self, Incoming};
use tokio::sync::mpsc::UnboundedReceiver;

const CONVERSATIONS: usize = 30;
/// Per sender, all in flight at once (within the default burst of `SOCKET_RATE_SEND_MESSAGE`).
const MESSAGES_EACH: usize = 8;
const WAIT: Duration = Duration::from_secs(20);

async fn create_conversation(stack: &Stack, owner: &User, other: &User) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/conversations", stack.gateway_url))
        .bearer_auth(&owner.token)
        .json(&json!({ "participantsIds": [other.id.to_string()] }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("an id").to_owned()
}

struct Member {
    room: String,
    socket: sio::Client,
    events: UnboundedReceiver<Incoming>,
}

async fn join(base: &str, who: &User, room: &str) -> Member {
    let (socket, events) = sio::connect(base, &who.token).await.expect("connected");
    let ack = socket
        .ask("joinRoom", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    Member {
        room: room.to_owned(),
        socket,
        events,
    }
}

/// The `receiveMessage` events a member gets up to and including the message with `last` content.
async fn received_until(member: &mut Member, last: &str) -> Vec<Value> {
    let mut received = Vec::new();
    loop {
        let (_, body) = sio::wait_for(&mut member.events, WAIT, |(name, _)| {
            name == "receiveMessage"
        })
        .await
        .unwrap_or_else(|| panic!("{last:?} delivered within {WAIT:?}"));
        let done = body["content"] == last;
        received.push(body);
        if done {
            return received;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_each_acked_and_delivered_once_in_order() {
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, 2 * CONVERSATIONS).await;
    let mut members = Vec::new();
    for pair in people.chunks(2) {
        let room = create_conversation(&stack, &pair[0], &pair[1]).await;
        // One member on each instance, so both batch.
        members.push(join(&stack.realtime_a_url, &pair[0], &room).await);
        members.push(join(&stack.realtime_b_url, &pair[1], &room).await);
    }

    let sends = members.iter().enumerate().flat_map(|(sender, member)| {
        (0..MESSAGES_EACH).map(move |n| {
            let content = format!("from {sender} #{n}");
            async move {
                let ack = member
                    .socket
                    .ask(
                        "sendMessage",
                        json!({ "conversationId": member.room, "content": content }),
                    )
                    .await
                    .expect("ack");
                (member.room.clone(), content, ack)
            }
        })
    });
    let acks = join_all(sends).await;
    assert_eq!(acks.len(), 2 * CONVERSATIONS * MESSAGES_EACH);

    // Each ack is its own message's: its seq is unique in the conversation and the room delivers that
    // content under that seq.
    let mut sent: HashMap<String, HashMap<i64, String>> = HashMap::new();
    for (room, content, ack) in acks {
        assert_eq!(ack["success"], true, "{content}: {ack}");
        let seq = ack["seq"].as_i64().expect("a seq");
        let earlier = sent.entry(room).or_default().insert(seq, content);
        assert!(earlier.is_none(), "seq {seq} acked twice");
    }

    // A last message per conversation closes what each member must have received before it.
    for pair in members.chunks(2) {
        let ack = pair[0]
            .socket
            .ask(
                "sendMessage",
                json!({ "conversationId": pair[0].room, "content": "last" }),
            )
            .await
            .expect("ack");
        assert_eq!(ack["success"], true, "{ack}");
    }
    let per_room = 2 * MESSAGES_EACH as i64;
    for member in &mut members {
        let received = received_until(member, "last").await;
        let seqs: Vec<i64> = received
            .iter()
            .map(|m| m["seq"].as_i64().expect("a seq"))
            .collect();
        assert_eq!(
            seqs,
            (1..=per_room + 1).collect::<Vec<_>>(),
            "every message once, in order"
        );
        let acked = &sent[&member.room];
        for message in &received[..received.len() - 1] {
            let seq = message["seq"].as_i64().expect("a seq");
            assert_eq!(message["content"], acked[&seq].as_str(), "seq {seq}");
        }
    }
}
