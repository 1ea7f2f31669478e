//! Tokens never reach the logs, even at `debug`: not from a REST query string (`?token=`,
//! `?access_token=`), not from the Socket.IO handshake (query `token` or the `auth` payload), whichever way
//! the socket arrives (through the gateway or straight at realtime). Configuration printed with `{:?}`
//! shows no secret either.
//!
//! This test binary installs one subscriber for its whole process, with the filter production applies on
//! top of `RUST_LOG` ([`platform::telemetry::never_verbose`]), writing into memory.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use e2e::Stack;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything at `debug` (what an operator turns on to investigate), except the broker client's frame
/// dumps, which hold no client input.
fn capture_logs() -> Captured {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .with_filter(EnvFilter::new("debug,lapin=info,amq_protocol=info"))
                .with_filter(platform::telemetry::never_verbose()),
        )
        .try_init()
        .expect("the only subscriber of this test process");
    // The spans a deployment exporting traces makes (request path, RPC, socket event) are in the
    // logs too: none of them may carry a token either.
    platform::trace::set_exporting(true);
    captured
}

async fn register(stack: &Stack) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", stack.gateway_url))
        .json(&json!({
            "name": "Alice", "email": "alice@example.com", "type": "STUDENT", "password": "password123",
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    body["token"].as_str().expect("a token").to_owned()
}

/// A Socket.IO connection with the token in the query string and in the `auth` payload; waits for the
/// server's CONNECT so the whole handshake has been processed (and logged) before returning.
async fn connect_with_token_everywhere(base: &str, token: &str) {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket&token={token}&access_token={token}",
        base.replacen("http", "ws", 1)
    );
    let (mut stream, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket opens");
    let open = stream.next().await.expect("open packet").expect("a frame");
    assert!(open.to_text().expect("text").starts_with('0'), "{open:?}");
    stream
        .send(Message::text(format!("40{}", json!({ "token": token }))))
        .await
        .expect("connect sent");
    loop {
        let frame = stream.next().await.expect("an answer").expect("a frame");
        let text = frame.to_text().expect("text");
        if text.starts_with("40") {
            break;
        }
        assert!(!text.starts_with("44"), "handshake refused: {text}");
    }
    stream
        .send(Message::text(format!(
            "42{}",
            json!(["getOnlineUsers", { "token": token }])
        )))
        .await
        .expect("event sent");
    let _ = stream.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_ever_logged() {
    let logs = capture_logs();
    let stack = Stack::start(|_| {}).await;
    let token = register(&stack).await;
    // The signature alone identifies the token; look for it rather than the whole string.
    let signature = token.rsplit('.').next().expect("three parts").to_owned();

    let http = reqwest::Client::new();
    for path in [
        format!("/api/v1/conversations?token={token}"),
        format!("/api/v1/users/me?access_token={token}&limit=1"),
        format!("/api/v1/no-such-route?token={token}"),
    ] {
        let response = http
            .get(format!("{}{path}", stack.gateway_url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("sent");
        assert!(response.status().as_u16() < 500, "{path}");
    }
    connect_with_token_everywhere(&stack.gateway_url, &token).await;
    connect_with_token_everywhere(&stack.realtime_a_url, &token).await;

    let text = logs.text();
    assert!(
        text.contains("/api/v1/conversations"),
        "the capture works: requests are logged"
    );
    assert!(
        !text.contains(&signature),
        "a token reached the logs:\n{}",
        text.lines()
            .filter(|line| line.contains(&signature))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn printed_configuration_shows_no_secret() {
    let env = platform::Env::from_pairs([
        ("JWT_SECRET", "jwt-secret-sentinel-0123456789abcdef"),
        ("DATABASE_PASSWORD", "db-password-sentinel"),
        (
            "RABBITMQ_URL",
            "amqp://junqo:broker-password-sentinel@rabbitmq:5672/%2f",
        ),
    ]);
    let printed = [
        format!(
            "{:?}",
            auth::config::AuthConfig::from_env(&env).expect("auth")
        ),
        format!(
            "{:?}",
            conversations::ConversationsConfig::from_env(&env).expect("conversations")
        ),
        format!(
            "{:?}",
            realtime::config::RealtimeConfig::from_env(&env).expect("realtime")
        ),
        format!(
            "{:?}",
            gateway::GatewayConfig::from_env(&env).expect("gateway")
        ),
    ];
    for config in printed {
        for secret in [
            "jwt-secret-sentinel",
            "db-password-sentinel",
            "broker-password-sentinel",
        ] {
            assert!(!config.contains(secret), "{secret} printed in {config}");
        }
    }
}
