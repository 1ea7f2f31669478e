//! Sockets that come and go in every order leave nothing behind on a realtime instance: no socket, no
//! room, no broker binding, and nobody "online" who is not. A socket that cannot keep up is cut off
//! rather than left to miss packets silently.
//!
//! Conditions are awaited by polling with a deadline, never by sleeping a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

use broker::lapin::BasicProperties;
use broker::lapin::Confirmation;
use broker::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use e2e::Stack;
use e2e::users::{self, User};
use futures::{SinkExt, StreamExt, future::join_all};
use junqo_proto::events::v1::Event;
use prost::Message as _;
use serde_json::{Value, json};
use testkit::sio;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// A conversation created by `owner` over REST, with `others` in it; returns its id.
async fn conversation(stack: &Stack, owner: &User, others: Vec<&User>) -> String {
    let ids: Vec<String> = others.iter().map(|u| u.id.to_string()).collect();
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/conversations", stack.gateway_url))
        .bearer_auth(&owner.token)
        .json(&json!({ "participantsIds": ids }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("an id").to_owned()
}

/// Polls `check` until it returns `Ok`, failing with its last `Err` after `within`.
async fn eventually<F, Fut>(within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(()) => return,
            Err(state) if Instant::now() >= deadline => {
                panic!("not reached within {within:?}: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Nothing left on either instance: no socket, no hosted room, no socketioxide room.
async fn instances_are_empty(stack: &Stack) -> Result<(), String> {
    let mut state = Vec::new();
    for (name, census) in [("A", &stack.realtime_a), ("B", &stack.realtime_b)] {
        let (sockets, rooms, socketio_rooms) = (
            census.sockets(),
            census.rooms(),
            census.socketio_rooms().await,
        );
        if sockets + rooms + socketio_rooms > 0 {
            state.push(format!(
                "{name}: {sockets} sockets, {rooms} hosted rooms, {socketio_rooms} socket.io rooms"
            ));
        }
    }
    if state.is_empty() {
        Ok(())
    } else {
        Err(state.join("; "))
    }
}

/// The conversations some queue is still bound for on the test's exchanges: on the ephemeral exchange
/// the room's own key, on the durable one the key of the room's shard (`shard.<n>`: these conversations
/// are few, and bound alone in their shards once they are the only rooms left). A topic exchange returns
/// a mandatory message that no binding matches, so a probe comes back exactly when nothing is bound to
/// its key. (A probe that is routed reaches an instance as an event without a payload, which it
/// ignores.)
async fn bound_conversations(stack: &Stack, conversations: &[String]) -> Vec<String> {
    let connection = broker::connect(&stack.broker.url, "binding-probe")
        .await
        .expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("a channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let mut bound = Vec::new();
    for conversation in conversations {
        for exchange in [
            &stack.broker.exchanges.events,
            &stack.broker.exchanges.ephemeral,
        ] {
            let probe = Event {
                event_id: Uuid::new_v4().to_string(),
                ..Event::default()
            };
            let key = if *exchange == stack.broker.exchanges.events {
                let id = Uuid::parse_str(conversation).expect("a conversation id");
                broker::shard_key(broker::EventShards::default().of(&id))
            } else {
                format!("conversation.{conversation}.probe")
            };
            let confirmation = channel
                .basic_publish(
                    exchange.as_str().into(),
                    key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &probe.encode_to_vec(),
                    BasicProperties::default(),
                )
                .await
                .expect("published")
                .await
                .expect("confirmed");
            match confirmation {
                Confirmation::Ack(Some(_returned)) => {}
                Confirmation::Ack(None) => bound.push(format!("{exchange} {conversation}")),
                other => panic!("unexpected confirmation {other:?}"),
            }
        }
    }
    let _ = connection.close(200, "done".into()).await;
    bound
}

type RawSocket = WebSocketStream<TcpStream>;

/// A WebSocket to `base` (`http://127.0.0.1:<port>`) that has sent its namespace CONNECT and read
/// nothing of the answer. `receive_buffer` shrinks the kernel's receive buffer, for a client that
/// stops reading to fill the server's side quickly.
async fn raw_connect(base: &str, token: &str, receive_buffer: Option<u32>) -> RawSocket {
    let address = base
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    let socket = TcpSocket::new_v4().expect("a socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("buffer size set");
    }
    let stream = socket.connect(address).await.expect("TCP connects");
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("WebSocket opens");
    let open = next_text(&mut ws).await.expect("Engine.IO open packet");
    assert!(open.starts_with('0'), "{open}");
    ws.send(Message::text(format!("40{}", json!({ "token": token }))))
        .await
        .expect("CONNECT sent");
    ws
}

/// The next text frame that is not a heartbeat (heartbeats are answered); `None` once closed.
async fn next_text(ws: &mut RawSocket) -> Option<String> {
    while let Some(frame) = ws.next().await {
        match frame {
            Ok(Message::Text(text)) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Ok(Message::Text(text)) => return Some(text.as_str().to_owned()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

/// One way of coming and going; every connect of the churn uses one of these, in rotation.
async fn come_and_go(base: &str, user: &User, conversation: &str, way: usize) {
    let room = json!({ "conversationId": conversation });
    match way % 9 {
        0 => {
            // Close right after connecting.
            let (_socket, _events) = sio::connect(base, &user.token).await.expect("connects");
        }
        1 => {
            // Close right after emitting joinRoom.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            socket.emit("joinRoom", room).expect("emitted");
        }
        2 => {
            // An acknowledged join, then close.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            let ack = socket.ask("joinRoom", room).await.expect("ack");
            assert_eq!(ack["success"], true, "{ack}");
        }
        3 => {
            // Join, leave, close.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            socket.ask("joinRoom", room.clone()).await.expect("ack");
            let ack = socket.ask("leaveRoom", room).await.expect("ack");
            assert_eq!(ack["success"], true, "{ack}");
        }
        4 => {
            // Two joins at once, then close.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            socket.emit("joinRoom", room.clone()).expect("emitted");
            socket.emit("joinRoom", room).expect("emitted");
        }
        5 => {
            // Join, then leave and join again without waiting, then close.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            socket.ask("joinRoom", room.clone()).await.expect("ack");
            socket.emit("leaveRoom", room.clone()).expect("emitted");
            socket.emit("joinRoom", room).expect("emitted");
        }
        6 => {
            // A join not waited for, an acknowledged leave, an acknowledged double join.
            let (socket, _events) = sio::connect(base, &user.token).await.expect("connects");
            socket.emit("joinRoom", room.clone()).expect("emitted");
            socket.ask("leaveRoom", room.clone()).await.expect("ack");
            socket.ask("joinRoom", room.clone()).await.expect("ack");
            socket.ask("joinRoom", room).await.expect("ack");
        }
        7 => {
            // Close before the server's answer to CONNECT.
            let mut ws = raw_connect(base, &user.token, None).await;
            let _ = ws.close(None).await;
        }
        _ => {
            // CONNECT and joinRoom in one go, closed before either is answered.
            let mut ws = raw_connect(base, &user.token, None).await;
            let _ = ws
                .send(Message::text(format!("42{}", json!(["joinRoom", room]))))
                .await;
            let _ = ws.close(None).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_sockets_joining_and_dropping_in_every_order_leave_nothing_behind() {
    const USERS: usize = 200;
    const ROUNDS: usize = 20;
    let stack = Stack::start(|_| {}).await;
    let people = users::insert(&stack.db, USERS).await;
    let pairs: Vec<(&User, &User)> = people.chunks(2).map(|pair| (&pair[0], &pair[1])).collect();
    let conversations: Vec<String> = join_all(
        pairs
            .iter()
            .map(|(owner, other)| conversation(&stack, owner, vec![other])),
    )
    .await;

    // The probe sees a binding while a socket is in the room.
    {
        let (socket, _events) = sio::connect(&stack.realtime_a_url, &people[0].token)
            .await
            .expect("connects");
        let room = json!({ "conversationId": conversations[0] });
        socket.ask("joinRoom", room).await.expect("ack");
        assert_eq!(
            bound_conversations(&stack, &conversations[..1]).await.len(),
            2,
            "bound on both exchanges"
        );
    }

    let started = Instant::now();
    let instances = [stack.realtime_a_url.as_str(), stack.realtime_b_url.as_str()];
    join_all(people.iter().enumerate().map(|(i, user)| {
        let conversation = &conversations[i / 2];
        async move {
            for round in 0..ROUNDS {
                let base = instances[(i + round) % 2];
                come_and_go(base, user, conversation, i + round).await;
            }
        }
    }))
    .await;
    println!("{} connects in {:?}", USERS * ROUNDS, started.elapsed());

    eventually(Duration::from_secs(20), || instances_are_empty(&stack)).await;
    let bound = bound_conversations(&stack, &conversations).await;
    assert!(
        bound.is_empty(),
        "still bound on the broker: {} of {} conversations: {bound:?}",
        bound.len() / 2,
        conversations.len()
    );
    println!("everything gone {:?} after the start", started.elapsed());
}

/// Asks `observer`'s instance who among `watched` is online.
async fn online_among(
    observer: &sio::Client,
    watched: &[Uuid],
    events: &mut tokio::sync::mpsc::UnboundedReceiver<sio::Incoming>,
) -> Vec<Uuid> {
    let ack = observer
        .ask("getOnlineUsers", json!({}))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    let (_, answer) = sio::wait_for(events, Duration::from_secs(5), |(name, _)| {
        name == "onlineUsers"
    })
    .await
    .expect("onlineUsers");
    let online: Vec<Uuid> = answer["users"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|u| u.as_str()?.parse().ok())
        .collect();
    watched
        .iter()
        .filter(|user| online.contains(user))
        .copied()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_who_connect_and_leave_at_once_are_not_left_online() {
    const USERS: usize = 40;
    const ROUNDS: usize = 10;
    // The observer polls getOnlineUsers back to back, past its event limit.
    let stack = Stack::start(|env| {
        env.set("RATE_LIMITS", "off");
    })
    .await;
    let people = users::insert(&stack.db, USERS + 3).await;
    let (observer, rest) = people.split_first().expect("users");
    let (barriers, churners) = rest.split_at(2);
    let everyone: Vec<&User> = rest.iter().collect();
    conversation(&stack, observer, everyone).await;

    // The observer watches from the start: the last userStatus it hears about each user must be true.
    let (socket, observed) = sio::connect(&stack.realtime_a_url, &observer.token)
        .await
        .expect("observer connects");
    let (statuses, mut events) = split_statuses(observed);

    let instances = [stack.realtime_a_url.as_str(), stack.realtime_b_url.as_str()];
    for round in 0..ROUNDS {
        join_all(churners.iter().enumerate().map(|(i, user)| {
            let base = instances[(i + round) % 2];
            async move {
                if (i + round) % 2 == 0 {
                    // Closed as soon as the server says it is connected.
                    let (_socket, _events) =
                        sio::connect(base, &user.token).await.expect("connects");
                } else {
                    // Closed before the server has even answered.
                    let mut ws = raw_connect(base, &user.token, None).await;
                    let _ = ws.close(None).await;
                }
            }
        }))
        .await;
    }
    // Every churner's socket is gone; the observer's stays.
    eventually(Duration::from_secs(20), || async {
        match stack.realtime_a.sockets() + stack.realtime_b.sockets() {
            1 => Ok(()),
            n => Err(format!("{n} sockets")),
        }
    })
    .await;

    let watched: Vec<Uuid> = churners.iter().map(|u| u.id).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let online = online_among(&socket, &watched, &mut events).await;
        if online.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {USERS} users who left are still online: {online:?}",
            online.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A user coming online on each instance now is announced after everything those instances
    // announced before: once the observer sees both, no late announcement about the others is pending.
    let _barrier_sockets = join_all(
        barriers
            .iter()
            .zip(instances)
            .map(|(user, base)| sio::connect(base, &user.token)),
    )
    .await;
    let barrier_ids: Vec<Uuid> = barriers.iter().map(|u| u.id).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while online_among(&socket, &barrier_ids, &mut events).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the barrier users never showed up online"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        online_among(&socket, &watched, &mut events).await,
        Vec::<Uuid>::new(),
        "nobody who left is online"
    );
    let statuses = statuses.lock().expect("statuses").clone();
    let told_online: Vec<&Uuid> = watched
        .iter()
        .filter(|user| statuses.get(user).is_some_and(|last| last == "online"))
        .collect();
    assert!(
        watched.iter().any(|user| statuses.contains_key(user)),
        "the observer heard about the users coming and going"
    );
    assert!(
        told_online.is_empty(),
        "the last status the observer heard for {} users who left is online: {told_online:?}",
        told_online.len()
    );
}

/// Splits a client's events: the last `userStatus` per user is kept in the map, the rest pass on.
fn split_statuses(
    mut events: tokio::sync::mpsc::UnboundedReceiver<sio::Incoming>,
) -> (
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<Uuid, String>>>,
    tokio::sync::mpsc::UnboundedReceiver<sio::Incoming>,
) {
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let (rest, others) = tokio::sync::mpsc::unbounded_channel();
    let kept = statuses.clone();
    tokio::spawn(async move {
        while let Some((name, payload)) = events.recv().await {
            if name == "userStatus" {
                if let (Some(user), Some(status)) = (
                    payload["userId"]
                        .as_str()
                        .and_then(|u| u.parse::<Uuid>().ok()),
                    payload["status"].as_str(),
                ) {
                    kept.lock()
                        .expect("statuses")
                        .insert(user, status.to_owned());
                }
            } else if rest.send((name, payload)).is_err() {
                return;
            }
        }
    });
    (statuses, others)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_cannot_keep_up_is_disconnected_rather_than_left_with_holes() {
    // The talker floods on purpose, far past the event limits.
    let stack = Stack::start(|env| {
        env.set("RATE_LIMITS", "off");
    })
    .await;
    let people = users::insert(&stack.db, 2).await;
    let (slow, other) = (&people[0], &people[1]);
    let conversation = conversation(&stack, slow, vec![other]).await;

    // The slow client joins the room, then stops reading (with a small receive buffer, so the server's
    // side fills up after few packets).
    let mut ws = raw_connect(&stack.realtime_a_url, &slow.token, Some(4096)).await;
    let connected = next_text(&mut ws).await.expect("CONNECT answered");
    assert!(connected.starts_with("40"), "{connected}");
    ws.send(Message::text(format!(
        "421{}",
        json!(["joinRoom", { "conversationId": conversation }])
    )))
    .await
    .expect("joinRoom sent");
    loop {
        let frame = next_text(&mut ws).await.expect("joinRoom answered");
        if frame.starts_with("431") {
            assert!(frame.contains(r#""success":true"#), "{frame}");
            break;
        }
    }

    // The other participant talks, and talks: every message sends the slow client a 9 kB packet.
    let (talker, mut talker_events) = sio::connect(&stack.realtime_a_url, &other.token)
        .await
        .expect("the talker connects");
    let room = json!({ "conversationId": conversation });
    talker.ask("joinRoom", room.clone()).await.expect("ack");
    let message = json!({ "conversationId": conversation, "content": "x".repeat(9_000) });
    let mut sent = 0;
    while stack.realtime_a.lagging() == 0 {
        assert!(
            sent < 3_000,
            "{sent} messages and the slow client never overflowed"
        );
        for _ in 0..49 {
            talker
                .emit("sendMessage", message.clone())
                .expect("emitted");
        }
        // Waits for the server to have taken the batch, more or less, before looking again.
        let ack = talker
            .ask("sendMessage", message.clone())
            .await
            .expect("ack");
        assert_eq!(ack["success"], true, "{ack}");
        sent += 50;
        // The talker reads what it is sent (it is not the slow one).
        while talker_events.try_recv().is_ok() {}
    }
    println!("the slow client overflowed after {sent} messages");

    // The talker is unaffected.
    let ack = talker.ask("startTyping", room).await.expect("ack");
    assert_eq!(ack["success"], true);

    // The slow client reads again: what was buffered before it fell behind, then the disconnect.
    let told = tokio::time::timeout(Duration::from_secs(20), async {
        let mut events = 0;
        while let Some(frame) = next_text(&mut ws).await {
            if frame == "41" {
                return Some(events);
            }
            events += 1;
        }
        None
    })
    .await
    .expect("the slow client hears the end within 20 s");
    let events = told.expect("the server disconnects the slow client from the namespace");
    println!("the slow client read {events} packets before its disconnect");
    eventually(Duration::from_secs(10), || async {
        match stack.realtime_a.sockets() {
            1 => Ok(()),
            n => Err(format!("{n} sockets")),
        }
    })
    .await;
    assert_eq!(stack.realtime_a.lagging(), 0);
}
