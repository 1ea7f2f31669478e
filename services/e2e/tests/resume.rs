//! Resuming after a reconnect: `joinRoom {conversationId, afterSeq}` replays what the client missed,
//! oldest first, before `joinRoomSuccess`; live messages follow with no duplicate; too much missing is
//! `resyncRequired`; a bad `afterSeq` is refused naming the field.

use std::time::Duration;

use e2e::Stack;
use e2e::users::{self, User};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::sio::{self, Incoming};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(30);

async fn rest(stack: &Stack, method: Method, path: &str, who: &User, body: Value) -> Value {
    let response = reqwest::Client::new()
        .request(method, format!("{}/api/v1{path}", stack.gateway_url))
        .bearer_auth(&who.token)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("a JSON body")
}

async fn conversation(stack: &Stack, owner: &User, other: &User) -> String {
    let body = json!({ "participantsIds": [other.id.to_string()] });
    let created = rest(stack, Method::POST, "/conversations", owner, body).await;
    created["id"].as_str().expect("an id").to_owned()
}

/// Sends `count` messages over REST, `parallel` at a time; every one is acknowledged.
async fn send(stack: &Stack, who: &User, room: &str, count: usize, parallel: usize) {
    let path = format!("/conversations/{room}/messages");
    futures::stream::iter(0..count)
        .map(|i| {
            let body = json!({ "content": format!("message {i}") });
            rest(stack, Method::POST, &path, who, body)
        })
        .buffer_unordered(parallel)
        .collect::<Vec<_>>()
        .await;
}

/// The `receiveMessage` seqs and the names of the other events, in arrival order, until `until`
/// accepts one.
async fn collect(
    events: &mut UnboundedReceiver<Incoming>,
    until: impl Fn(&Incoming) -> bool,
) -> Vec<Incoming> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            let done = until(&event);
            seen.push(event);
            if done {
                return;
            }
        }
        panic!("the connection closed");
    })
    .await
    .unwrap_or_else(|_| panic!("not done within {WAIT:?}; saw {} events", seen.len()));
    seen
}

fn seqs(events: &[Incoming]) -> Vec<i64> {
    events
        .iter()
        .filter(|(name, _)| name == "receiveMessage")
        .map(|(_, body)| body["seq"].as_i64().expect("a seq"))
        .collect()
}

fn position(events: &[Incoming], name: &str) -> usize {
    events
        .iter()
        .position(|(event, _)| event == name)
        .unwrap_or_else(|| panic!("{name} among the events"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_client_gets_what_it_missed_in_order_then_live_messages_once() {
    let stack = Stack::start(|env| {
        env.set("RATE_LIMITS", "off");
    })
    .await;
    let people = users::insert(&stack.db, 2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let room = conversation(&stack, alice, bob).await;

    let (client, mut events) = sio::connect(&stack.realtime_a_url, &bob.token)
        .await
        .expect("connected");
    let ack = client
        .ask("joinRoom", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["latestSeq"], 0, "{ack}");
    send(&stack, alice, &room, 1, 1).await;
    let first = collect(&mut events, |(name, _)| name == "receiveMessage").await;
    assert_eq!(seqs(&first), [1]);
    drop((client, events));

    // Bob is away while 40 messages are sent.
    send(&stack, alice, &room, 40, 4).await;

    // He comes back on the other instance, while 40 more are being sent.
    let (client, mut events) = sio::connect(&stack.realtime_b_url, &bob.token)
        .await
        .expect("connected");
    let sending = send(&stack, alice, &room, 40, 2);
    let joining = client.ask("joinRoom", json!({ "conversationId": room, "afterSeq": 1 }));
    let ((), ack) = tokio::join!(sending, joining);
    let ack = ack.expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    let latest = ack["latestSeq"].as_i64().expect("latestSeq");
    assert!((41..=81).contains(&latest), "{ack}");

    let seen = collect(&mut events, |(name, body)| {
        name == "receiveMessage" && body["seq"] == 81
    })
    .await;
    assert_eq!(
        seqs(&seen),
        (2..=81).collect::<Vec<_>>(),
        "every missed and every live message, once, in order"
    );
    let success = position(&seen, "joinRoomSuccess");
    // A live message may reach the socket between its entering the room and joinRoomSuccess (emitted
    // once the join has returned): after the replay, in order, so only the replay's part is fixed.
    let before_success = seqs(&seen[..success]);
    assert!(
        before_success.starts_with(&(2..=latest).collect::<Vec<_>>()),
        "the replay (up to the ack's latestSeq) comes before joinRoomSuccess: {before_success:?}, latest {latest}"
    );

    // Then live, once.
    send(&stack, alice, &room, 1, 1).await;
    let next = collect(&mut events, |(name, _)| name == "receiveMessage").await;
    assert_eq!(seqs(&next), [82]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_missed_are_replayed_and_more_ask_for_a_resync() {
    let stack = Stack::start(|env| {
        env.set("RATE_LIMITS", "off");
    })
    .await;
    let people = users::insert(&stack.db, 2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let room = conversation(&stack, alice, bob).await;
    send(&stack, alice, &room, 1001, 16).await;

    let (client, mut events) = sio::connect(&stack.realtime_a_url, &bob.token)
        .await
        .expect("connected");
    let ack = client
        .ask("joinRoom", json!({ "conversationId": room, "afterSeq": 0 }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    assert_eq!(ack["latestSeq"], 1001, "{ack}");
    let seen = collect(&mut events, |(name, _)| name == "joinRoomSuccess").await;
    assert!(seqs(&seen).is_empty(), "nothing replayed");
    let resync = &seen[position(&seen, "resyncRequired")].1;
    assert_eq!(
        resync,
        &json!({ "conversationId": room, "afterSeq": 0, "latestSeq": 1001 })
    );

    // Exactly a thousand missed: replayed, through a socket buffer far smaller than that.
    let (other, mut other_events) = sio::connect(&stack.realtime_b_url, &bob.token)
        .await
        .expect("connected");
    let ack = other
        .ask("joinRoom", json!({ "conversationId": room, "afterSeq": 1 }))
        .await
        .expect("ack");
    assert_eq!(ack["latestSeq"], 1001, "{ack}");
    let seen = collect(&mut other_events, |(name, _)| name == "joinRoomSuccess").await;
    assert_eq!(seqs(&seen), (2..=1001).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_seq_that_is_not_a_whole_number_of_at_least_zero_is_refused() {
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, 2).await;
    let room = conversation(&stack, &people[0], &people[1]).await;
    let (client, mut events) = sio::connect(&stack.realtime_a_url, &people[1].token)
        .await
        .expect("connected");
    for (bad, sentences) in [
        (json!(-1), json!(["After sequence must be at least 0"])),
        (json!(2.5), json!(["After sequence must be an integer"])),
        (
            json!("3"),
            json!([
                "After sequence must be at least 0",
                "After sequence must be an integer"
            ]),
        ),
    ] {
        let ack = client
            .ask(
                "joinRoom",
                json!({ "conversationId": room, "afterSeq": bad }),
            )
            .await
            .expect("ack");
        assert_eq!(ack["success"], false, "{ack}");
        let error = collect(&mut events, |(name, _)| name == "joinRoomError").await;
        let error = &error[position(&error, "joinRoomError")].1;
        assert_eq!(error["details"], sentences, "{bad}: {error}");
    }
}
