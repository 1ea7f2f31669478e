use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{spawn_stack, spawn_stack_with};

#[tokio::test]
async fn health_and_readiness_answer_when_auth_and_conversations_are_up() {
    let stack = spawn_stack().await;
    let health = stack
        .http
        .get(stack.url("/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    let ready = stack
        .http
        .get(stack.url("/ready"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(
        ready.json::<Value>().await.expect("JSON")["dependencies"],
        json!({"auth": "up", "conversations": "up", "revocations": "loaded"})
    );
}

#[tokio::test]
async fn readiness_fails_while_auth_is_unreachable_and_requests_get_503() {
    // Port 9 (discard) has no gRPC server: the gateway is alive but its dependency is not.
    let stack = spawn_stack_with(|env| {
        env.set("AUTH_URL", "http://127.0.0.1:9");
    })
    .await;
    assert_eq!(
        stack
            .http
            .get(stack.url("/health"))
            .send()
            .await
            .expect("sent")
            .status(),
        StatusCode::OK
    );
    let ready = stack
        .http
        .get(stack.url("/ready"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let login = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "a@b.co", "password": "password123"}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn readiness_fails_while_conversations_is_unreachable_naming_it() {
    let stack = spawn_stack_with(|env| {
        env.set("CONVERSATIONS_URL", "http://127.0.0.1:9");
    })
    .await;
    let ready = stack
        .http
        .get(stack.url("/ready"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.expect("JSON"),
        json!({"status": "down", "dependencies": {
            "auth": "up", "conversations": "down", "revocations": "loaded"
        }})
    );
}
