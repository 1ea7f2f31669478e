//! Service tokens (issuer `junqo-internal`, signed with the shared secret) open internal gRPC only:
//! the gateway and the socket handshake, which face clients, refuse them like any foreign token, while
//! a user's own token, forwarded by the gateway and realtime, is what conversations acts on.

use e2e::{JWT_SECRET, Stack};
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::sio;

fn service_token(on_behalf_of: Option<uuid::Uuid>) -> String {
    jwt::ServiceSigner::new(&SecretString::from(JWT_SECRET), "realtime")
        .sign(on_behalf_of)
        .expect("signs")
}

async fn register(stack: &Stack, name: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/register", stack.gateway_url))
        .json(&json!({
            "name": name, "email": format!("{}@example.com", name.to_lowercase()),
            "type": "STUDENT", "password": "password123",
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    response.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_cannot_present_a_service_token() {
    let stack = Stack::start(|_| {}).await;
    let alice = register(&stack, "Alice").await;
    let alice_id: uuid::Uuid = alice["user"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id");
    let http = reqwest::Client::new();

    for token in [service_token(None), service_token(Some(alice_id))] {
        for path in ["/api/v1/users/me", "/api/v1/conversations"] {
            let response = http
                .get(format!("{}{path}", stack.gateway_url))
                .bearer_auth(&token)
                .send()
                .await
                .expect("sent");
            assert_eq!(response.status(), 401, "{path}");
        }
        match sio::connect(&stack.realtime_a_url, &token).await {
            Err(sio::SioError::Refused(answer)) => assert!(
                answer.contains("Authentication failed - invalid token"),
                "{answer}"
            ),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a service token opened a socket"),
        }
    }

    // The user's own token still does both, so the refusals above are about the token.
    let token = alice["token"].as_str().expect("a token");
    let response = http
        .get(format!("{}/api/v1/conversations", stack.gateway_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    sio::connect(&stack.realtime_a_url, token)
        .await
        .expect("alice connects");
}
