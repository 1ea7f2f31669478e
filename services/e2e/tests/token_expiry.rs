//! A socket ends with its token: with auth issuing two-second tokens, a socket is disconnected (a
//! Socket.IO DISCONNECT, so the client knows to get a fresh token) within a second of its token's `exp`,
//! and the same token is then refused at the handshake and over REST.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{JWT_SECRET, Stack};
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::sio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_disconnected_when_the_token_auth_issued_expires() {
    let stack = Stack::start(|env| {
        env.set("JWT_EXPIRES_IN_SECONDS", "2");
    })
    .await;
    let http = reqwest::Client::new();
    let registered: Value = http
        .post(format!("{}/api/v1/auth/register", stack.gateway_url))
        .json(&json!({
            "name": "Alice", "email": "alice@example.com", "type": "STUDENT", "password": "password123",
        }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let token = registered["token"].as_str().expect("a token").to_owned();
    let claims = jwt::TokenVerifier::new(&SecretString::from(JWT_SECRET))
        .verify(&token)
        .expect("auth's token verifies");
    assert!(claims.exp - claims.iat <= 3, "a short-lived token");

    let (_socket, mut events) = sio::connect(&stack.realtime_a_url, &token)
        .await
        .expect("connects while the token is valid");
    let ended = sio::wait_for(&mut events, Duration::from_secs(5), |(name, _)| {
        name == "disconnect"
    })
    .await;
    let now_ms = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits");
    assert!(ended.is_some(), "the server disconnected the socket");
    let after_exp = now_ms - claims.exp * 1000;
    assert!(
        (-50..=1000).contains(&after_exp),
        "disconnected {after_exp} ms after exp"
    );

    assert!(matches!(
        sio::connect(&stack.realtime_a_url, &token).await,
        Err(sio::SioError::Refused(_))
    ));
    let me = http
        .get(format!("{}/api/v1/users/me", stack.gateway_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(me.status(), 401);
}
