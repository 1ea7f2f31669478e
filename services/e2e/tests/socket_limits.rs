//! Socket event limits and caps, with the official JavaScript client (`js/rate-limits.mjs`) against a
//! stack of its own: the default event rates, and small caps so that reaching them is quick.

use std::path::PathBuf;
use std::process::Stdio;

use e2e::{JWT_SECRET, Stack};

const MAX_SOCKETS: &str = "3";
const MAX_ROOMS: &str = "3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_meets_the_socket_limits() {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js");
    assert!(
        js.join("node_modules/socket.io-client").is_dir(),
        "socket.io-client is not installed: run `npm ci --prefix services/e2e/js` (scripts/test.sh does)"
    );
    let stack = Stack::start(|env| {
        env.set("SOCKET_MAX_PER_USER", MAX_SOCKETS)
            .set("SOCKET_MAX_ROOMS", MAX_ROOMS);
    })
    .await;

    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg("rate-limits.mjs")
        .current_dir(&js)
        .env("GATEWAY_URL", &stack.gateway_url)
        .env("REALTIME_A_URL", &stack.realtime_a_url)
        .env("REALTIME_B_URL", &stack.realtime_b_url)
        .env("JWT_SECRET", JWT_SECRET)
        .env("SOCKET_MAX_PER_USER", MAX_SOCKETS)
        .env("SOCKET_MAX_ROOMS", MAX_ROOMS)
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
        "the socket limit tests failed (output above)"
    );
    assert!(stdout.contains("# fail 0"), "node reported failures");
    assert!(stdout.contains("# pass 5"), "every test ran");
}
