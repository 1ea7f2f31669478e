//! Listener limits on realtime's Socket.IO listener and through the gateway's forwarding: a trickling
//! client is cut off, while a long poll and a WebSocket, which legitimately stay quiet for longer than
//! both timeouts, keep working.

use std::time::{Duration, Instant};

use e2e::{JWT_SECRET, Stack};
use secrecy::SecretString;
use testkit::raw_http::{closed_within, connect, send};
use testkit::sio;

const DEADLINE: Duration = Duration::from_secs(10);

fn token() -> String {
    jwt::TokenSigner::new(&SecretString::from(JWT_SECRET), jwt::DEFAULT_TTL)
        .sign(&jwt::Subject {
            id: uuid::Uuid::new_v4(),
            name: "Alice",
            user_type: jwt::UserType::Student,
            email: "alice@example.com",
        })
        .expect("signed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_disconnects_a_client_that_trickles_its_request_head() {
    let stack = Stack::start(|env| {
        env.set("HTTP_HEADER_READ_TIMEOUT_MS", "300");
    })
    .await;
    let mut stalled = connect(&stack.realtime_a_url).await;
    send(
        &mut stalled,
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: test\r\n",
    )
    .await;
    let took = closed_within(&mut stalled, DEADLINE)
        .await
        .expect("realtime closes the stalled connection");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_and_websockets_outlast_the_header_and_idle_timeouts() {
    // Heartbeats every second: a long poll waits that long for its packet, a WebSocket is that quiet.
    let stack = Stack::start(|env| {
        env.set("HTTP_HEADER_READ_TIMEOUT_MS", "300")
            .set("HTTP_IDLE_TIMEOUT_MS", "300")
            .set("SOCKET_PING_INTERVAL_MS", "1000")
            .set("SOCKET_PING_TIMEOUT_MS", "1000");
    })
    .await;
    let token = token();
    let (websocket, _events) = sio::connect(&stack.gateway_url, &token)
        .await
        .expect("a WebSocket connects through the gateway");

    let http = reqwest::Client::new();
    let poll = format!("{}/socket.io/?EIO=4&transport=polling", stack.gateway_url);
    let open = http
        .get(&poll)
        .send()
        .await
        .expect("the handshake is answered")
        .text()
        .await
        .expect("text");
    let open: serde_json::Value =
        serde_json::from_str(open.strip_prefix('0').expect("an Engine.IO open packet"))
            .expect("JSON");
    let sid = open["sid"].as_str().expect("a session id");
    let session = format!("{poll}&sid={sid}");
    // The server pings at once, then once a second: answer the first, and the next poll is held open
    // until the second.
    let first = http
        .get(&session)
        .send()
        .await
        .expect("polled")
        .text()
        .await
        .expect("text");
    assert_eq!(first, "2", "the first ping");
    let pong = http
        .post(&session)
        .header("content-type", "text/plain;charset=UTF-8")
        .body("3")
        .send()
        .await
        .expect("the pong is accepted");
    assert!(pong.status().is_success(), "{}", pong.status());
    let started = Instant::now();
    let packet = http
        .get(&session)
        .send()
        .await
        .expect("the long poll is answered")
        .text()
        .await
        .expect("text");
    let waited = started.elapsed();
    assert_eq!(packet, "2", "the long poll ends with the server's ping");
    assert!(
        waited >= Duration::from_millis(600),
        "the poll was held open ({waited:?}), longer than both timeouts"
    );

    // The WebSocket has been quiet for as long, and still answers.
    let answer = websocket
        .ask("getOnlineUsers", serde_json::json!({}))
        .await
        .expect("the WebSocket is still open and answers");
    assert!(answer.is_object(), "{answer}");
}
