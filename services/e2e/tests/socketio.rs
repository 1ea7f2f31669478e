//! The official JavaScript Socket.IO client (`socket.io-client` from npm, installed by scripts/test.sh)
//! against the whole stack: `node --test` runs `services/e2e/js/*.test.mjs` with the stack's addresses.

use std::path::PathBuf;
use std::process::Stdio;

use e2e::{JWT_SECRET, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_speaks_the_whole_socket_contract() {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci --prefix services/e2e/js` (scripts/test.sh does)"
    );
    let stack = Stack::start(|env| {
        // Short timers so the protocol's timeouts are observable within a test.
        env.set("SOCKET_PING_INTERVAL_MS", "400")
            .set("SOCKET_PING_TIMEOUT_MS", "400")
            .set("TYPING_TIMEOUT_MS", "600")
            .set("SOCKET_MAX_PAYLOAD_BYTES", "65536");
    })
    .await;

    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg("--test-concurrency=4")
        .current_dir(&js)
        .env("GATEWAY_URL", &stack.gateway_url)
        .env("REALTIME_A_URL", &stack.realtime_a_url)
        .env("REALTIME_B_URL", &stack.realtime_b_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("PING_INTERVAL_MS", "400")
        .env("PING_TIMEOUT_MS", "400")
        .env("TYPING_TIMEOUT_MS", "600")
        .env("MAX_PAYLOAD_BYTES", "65536")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs (Node.js 20 or later must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the Socket.IO end-to-end tests failed (output above)"
    );
    assert!(stdout.contains("# fail 0"), "node reported failures");
}
