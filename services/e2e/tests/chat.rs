//! Chat features over the socket and REST together, on two realtime instances: read-up-to
//! (`markConversationRead`), and blocking (sends refused between a blocked pair).

use std::time::Duration;

use e2e::Stack;
use e2e::users::{self, User};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::sio::{self, Incoming};
use tokio::sync::mpsc::UnboundedReceiver;

const WAIT: Duration = Duration::from_secs(10);

async fn rest(
    stack: &Stack,
    method: Method,
    path: &str,
    who: &User,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/api/v1{path}", stack.gateway_url))
        .bearer_auth(&who.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn conversation(stack: &Stack, owner: &User, others: &[&User]) -> String {
    let ids: Vec<String> = others.iter().map(|u| u.id.to_string()).collect();
    let (status, body) = rest(
        stack,
        Method::POST,
        "/conversations",
        owner,
        Some(json!({ "participantsIds": ids })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("an id").to_owned()
}

/// A socket on `base` that has joined `room`.
async fn joined(base: &str, who: &User, room: &str) -> (sio::Client, UnboundedReceiver<Incoming>) {
    let (client, events) = sio::connect(base, &who.token).await.expect("connected");
    let ack = client
        .ask("joinRoom", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    (client, events)
}

async fn next(events: &mut UnboundedReceiver<Incoming>, name: &str) -> Value {
    sio::wait_for(events, WAIT, |(event, _)| event == name)
        .await
        .unwrap_or_else(|| panic!("{name} within {WAIT:?}"))
        .1
}

async fn unread(stack: &Stack, who: &User, room: &str) -> (i64, i64) {
    let (status, body) = rest(
        stack,
        Method::GET,
        &format!("/conversations/{room}"),
        who,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    (
        body["lastReadSeq"].as_i64().expect("lastReadSeq"),
        body["unreadCount"].as_i64().expect("unreadCount"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_up_to_over_the_socket_reaches_every_socket_of_the_reader_on_every_instance() {
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, 3).await;
    let (alice, bob, eve) = (&people[0], &people[1], &people[2]);
    let room = conversation(&stack, alice, &[bob]).await;

    let (alice_a, mut alice_a_events) = joined(&stack.realtime_a_url, alice, &room).await;
    let (_alice_b, mut alice_b_events) = joined(&stack.realtime_b_url, alice, &room).await;
    let (bob_a, mut bob_events) = joined(&stack.realtime_a_url, bob, &room).await;

    for content in ["one", "two", "three"] {
        let ack = bob_a
            .ask(
                "sendMessage",
                json!({ "conversationId": room, "content": content }),
            )
            .await
            .expect("ack");
        assert_eq!(ack["success"], true, "{ack}");
    }
    for events in [&mut alice_a_events, &mut alice_b_events] {
        for _ in 0..3 {
            next(events, "receiveMessage").await;
        }
    }
    assert_eq!(unread(&stack, alice, &room).await, (0, 3));
    assert_eq!(unread(&stack, bob, &room).await, (3, 0));

    let ack = alice_a
        .ask(
            "markConversationRead",
            json!({ "conversationId": room, "seq": 2 }),
        )
        .await
        .expect("ack");
    assert_eq!(
        ack,
        json!({ "success": true, "lastReadSeq": 2, "unreadCount": 1 })
    );
    // Alice's other socket (on the other instance) and Bob hear it.
    for events in [&mut alice_b_events, &mut bob_events, &mut alice_a_events] {
        let read = next(events, "conversationRead").await;
        assert_eq!(read["conversationId"], room.as_str());
        assert_eq!(read["userId"], alice.id.to_string());
        assert_eq!(read["lastReadSeq"], 2);
        assert!(read["timestamp"].is_string(), "{read}");
    }
    // REST and the socket agree.
    assert_eq!(unread(&stack, alice, &room).await, (2, 1));
    let (status, over_rest) = rest(
        &stack,
        Method::POST,
        &format!("/conversations/{room}/read"),
        alice,
        Some(json!({ "seq": 3 })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(over_rest["unreadCount"], 0);
    // A read marked over REST reaches the sockets too.
    assert_eq!(
        next(&mut alice_b_events, "conversationRead").await["lastReadSeq"],
        3
    );

    // Refusals: bad input names the field, beyond the newest message, an outsider.
    let failed = alice_a
        .ask(
            "markConversationRead",
            json!({ "conversationId": room, "seq": -1 }),
        )
        .await
        .expect("ack");
    assert_eq!(failed["success"], false);
    assert_eq!(failed["statusCode"], 400);
    let error = next(&mut alice_a_events, "markReadError").await;
    assert_eq!(error["details"], json!(["Seq must be at least 0"]));

    let beyond = alice_a
        .ask(
            "markConversationRead",
            json!({ "conversationId": room, "seq": 4 }),
        )
        .await
        .expect("ack");
    assert_eq!(beyond["statusCode"], 400, "{beyond}");
    let error = next(&mut alice_a_events, "markReadError").await;
    assert_eq!(
        error["details"],
        json!(["Seq must not be beyond the latest message"])
    );

    let (eve_socket, mut eve_events) = sio::connect(&stack.realtime_b_url, &eve.token)
        .await
        .expect("connected");
    let outsider = eve_socket
        .ask(
            "markConversationRead",
            json!({ "conversationId": room, "seq": 1 }),
        )
        .await
        .expect("ack");
    assert_eq!(outsider["statusCode"], 404, "{outsider}");
    assert_eq!(
        next(&mut eve_events, "markReadError").await["error"],
        "NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_pair_cannot_message_each_other_over_the_socket_either_way() {
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, 2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let room = conversation(&stack, alice, &[bob]).await;
    let (alice_socket, mut alice_events) = joined(&stack.realtime_a_url, alice, &room).await;
    let (bob_socket, mut bob_events) = joined(&stack.realtime_b_url, bob, &room).await;

    let (status, _) = rest(
        &stack,
        Method::PUT,
        &format!("/users/{}/block", bob.id),
        alice,
        None,
    )
    .await;
    assert_eq!(status, 200);

    for (socket, events) in [
        (&alice_socket, &mut alice_events),
        (&bob_socket, &mut bob_events),
    ] {
        let ack = socket
            .ask(
                "sendMessage",
                json!({ "conversationId": room, "content": "hello?" }),
            )
            .await
            .expect("ack");
        assert_eq!(
            ack,
            json!({ "success": false, "message": "You cannot message this user", "statusCode": 403 })
        );
        let error = next(events, "messageError").await;
        assert_eq!(error["error"], "FORBIDDEN");
        assert_eq!(error["message"], "You cannot message this user");
    }

    rest(
        &stack,
        Method::DELETE,
        &format!("/users/{}/block", bob.id),
        alice,
        None,
    )
    .await;
    let ack = bob_socket
        .ask(
            "sendMessage",
            json!({ "conversationId": room, "content": "unblocked" }),
        )
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    assert_eq!(
        next(&mut alice_events, "receiveMessage").await["content"],
        "unblocked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_pair_does_not_see_each_other_typing_in_a_group() {
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, 3).await;
    let (alice, bob, carol) = (&people[0], &people[1], &people[2]);
    let room = conversation(&stack, carol, &[alice, bob]).await;
    let (status, _) = rest(
        &stack,
        Method::PUT,
        &format!("/users/{}/block", bob.id),
        alice,
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Bob and Carol on one instance, Alice on the other: both typing events reach Alice's instance from
    // the one publisher of instance A, in order.
    let (alice_socket, mut alice_events) = joined(&stack.realtime_b_url, alice, &room).await;
    let (bob_socket, _bob_events) = joined(&stack.realtime_a_url, bob, &room).await;
    let (carol_socket, mut carol_events) = joined(&stack.realtime_a_url, carol, &room).await;

    let ack = bob_socket
        .ask("startTyping", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    // Carol is not kept apart from Bob: she sees him typing.
    let seen = next(&mut carol_events, "userStartTyping").await;
    assert_eq!(seen["userId"], bob.id.to_string());
    let ack = carol_socket
        .ask("startTyping", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");

    // Alice hears Carol, and nothing of Bob before her.
    let carol_id = carol.id.to_string();
    let mut heard = Vec::new();
    loop {
        let (name, body) = sio::wait_for(&mut alice_events, WAIT, |(name, _)| {
            name == "userStartTyping" || name == "userTyping"
        })
        .await
        .expect("Carol's typing reaches Alice");
        let who = body["userId"].as_str().unwrap_or_default().to_owned();
        heard.push((name.clone(), who.clone()));
        if name == "userStartTyping" && who == carol_id {
            break;
        }
    }
    assert!(
        heard.iter().all(|(_, who)| *who == carol_id),
        "Alice heard {heard:?}"
    );

    // Nor her status: Alice's list of who is online in the group leaves Bob out (both presence
    // announcements reached Alice's instance before Carol's typing did).
    let ack = alice_socket
        .ask("getOnlineUsers", json!({ "conversationId": room }))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    let online = next(&mut alice_events, "onlineUsers").await;
    let users = online["users"].as_array().expect("users").clone();
    assert!(users.contains(&json!(carol.id.to_string())), "{online}");
    assert!(!users.contains(&json!(bob.id.to_string())), "{online}");
}
