//! The official JavaScript Socket.IO client (`socket.io-client` from npm, installed by scripts/test.sh)
//! against the whole stack: `node --test` runs `services/e2e/js/*.test.mjs` with the stack's addresses.

use e2e::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_speaks_the_whole_socket_contract() {
    let stack = Stack::start(|env| {
        // Short timers so the protocol's timeouts are observable within a test.
        env.set("SOCKET_PING_INTERVAL_MS", "400")
            .set("SOCKET_PING_TIMEOUT_MS", "400")
            .set("TYPING_TIMEOUT_MS", "600")
            .set("SOCKET_MAX_PAYLOAD_BYTES", "65536");
    })
    .await;
    stack
        .node_tests(
            &["--test-concurrency=4"],
            &[
                ("PING_INTERVAL_MS", "400"),
                ("PING_TIMEOUT_MS", "400"),
                ("TYPING_TIMEOUT_MS", "600"),
                ("MAX_PAYLOAD_BYTES", "65536"),
            ],
        )
        .await;
}
