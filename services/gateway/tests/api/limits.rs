//! The listener's limits, against the real gateway: a client that is slow to send its request head, a
//! kept-alive connection left idle, and more connections than the cap. Timeouts are made short through
//! the environment; each test waits for the server to act, bounded by a generous deadline.

use std::time::Duration;

use testkit::raw_http::{closed_within, connect, get, read_response, send};
use tokio::io::AsyncWriteExt;

use crate::helpers::spawn_stack_with;

/// Far above every timeout set here: only a server that never acts fails the test.
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_client_that_trickles_its_request_head_is_disconnected() {
    let stack = spawn_stack_with(|env| {
        env.set("HTTP_HEADER_READ_TIMEOUT_MS", "300")
            .set("HTTP_IDLE_TIMEOUT_MS", "60000");
    })
    .await;

    // Part of a head, then nothing.
    let mut stalled = connect(&stack.base).await;
    send(&mut stalled, "GET /health HTTP/1.1\r\nHost: test\r\n").await;
    let took = closed_within(&mut stalled, DEADLINE)
        .await
        .expect("the stalled connection is closed");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");

    // A byte at a time: bytes that keep coming do not extend the deadline of the head.
    let mut trickling = connect(&stack.base).await;
    send(&mut trickling, "GET /health HTTP/1.1\r\nHost: test\r\n").await;
    let (mut reader, mut writer) = trickling.split();
    let drip = async {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        closed = closed_within(&mut reader, DEADLINE) => {
            let took = closed.expect("the trickling connection is closed");
            assert!(took >= Duration::from_millis(250), "closed after {took:?}");
        }
        () = drip => unreachable!("the drip never ends by itself"),
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    // A long header-read timeout: what closes the connection can only be the idle one.
    let stack = spawn_stack_with(|env| {
        env.set("HTTP_HEADER_READ_TIMEOUT_MS", "60000")
            .set("HTTP_IDLE_TIMEOUT_MS", "300");
    })
    .await;
    let mut connection = connect(&stack.base).await;
    send(&mut connection, &get("/health")).await;
    assert_eq!(read_response(&mut connection).await, 200);
    // Kept alive: a second request on it is served.
    send(&mut connection, &get("/health")).await;
    assert_eq!(read_response(&mut connection).await, 200);

    let idle = closed_within(&mut connection, DEADLINE)
        .await
        .expect("the idle connection is closed");
    assert!(idle >= Duration::from_millis(250), "closed after {idle:?}");
}

#[tokio::test]
async fn a_kept_alive_connection_that_stalls_inside_its_next_head_is_closed() {
    // A long idle timeout: the head's own deadline must close it.
    let stack = spawn_stack_with(|env| {
        env.set("HTTP_HEADER_READ_TIMEOUT_MS", "300")
            .set("HTTP_IDLE_TIMEOUT_MS", "60000");
    })
    .await;
    let mut connection = connect(&stack.base).await;
    send(&mut connection, &get("/health")).await;
    assert_eq!(read_response(&mut connection).await, 200);
    send(&mut connection, "GET /health HTTP/1.1\r\n").await;
    let took = closed_within(&mut connection, DEADLINE)
        .await
        .expect("the stalled connection is closed");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes_while_the_others_are_served() {
    let stack = spawn_stack_with(|env| {
        env.set("HTTP_MAX_CONNECTIONS", "2");
    })
    .await;
    let mut first = connect(&stack.base).await;
    let mut second = connect(&stack.base).await;
    for held in [&mut first, &mut second] {
        send(held, &get("/health")).await;
        assert_eq!(read_response(held).await, 200);
    }

    // The third is accepted by the kernel but not served while both places are taken.
    let mut third = connect(&stack.base).await;
    send(&mut third, &get("/health")).await;
    let waiting = tokio::time::timeout(Duration::from_millis(500), read_response(&mut third)).await;
    assert!(waiting.is_err(), "a connection beyond the cap was served");

    // Those holding a place are still served.
    send(&mut first, &get("/health")).await;
    assert_eq!(read_response(&mut first).await, 200);

    // One leaves; the waiting one is served.
    drop(second);
    let served = tokio::time::timeout(DEADLINE, read_response(&mut third))
        .await
        .expect("the waiting connection is served once a place is free");
    assert_eq!(served, 200);
}
