//! Socket event limits and caps, with the official JavaScript client (`js/rate-limits.mjs`) against a
//! stack of its own: the default event rates, and small caps so that reaching them is quick.

use e2e::Stack;

const MAX_SOCKETS: &str = "3";
const MAX_ROOMS: &str = "3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_meets_the_socket_limits() {
    let stack = Stack::start(|env| {
        env.set("SOCKET_MAX_PER_USER", MAX_SOCKETS)
            .set("SOCKET_MAX_ROOMS", MAX_ROOMS);
    })
    .await;
    let stdout = stack
        .node_tests(
            &["rate-limits.mjs"],
            &[
                ("SOCKET_MAX_PER_USER", MAX_SOCKETS),
                ("SOCKET_MAX_ROOMS", MAX_ROOMS),
            ],
        )
        .await;
    assert!(stdout.contains("# pass 5"), "every test ran");
}
