//! Bad requests get the original's error body and a precise status, whatever layer refuses them.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_body, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn malformed_json_is_400() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .post(stack.url("/api/v1/auth/login"))
        .header("Content-Type", "application/json")
        .body(r#"{"email": "#)
        .send()
        .await
        .expect("sent");
    let message = error_body(response, StatusCode::BAD_REQUEST).await;
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.starts_with("Malformed JSON body")),
        "{message}"
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_400() {
    let stack = spawn_stack().await;
    let response = stack
        .post("/api/v1/auth/login", &json!(["alice@example.com"]))
        .await;
    assert_eq!(
        error_body(response, StatusCode::BAD_REQUEST).await,
        "Request body must be a JSON object"
    );
}

#[tokio::test]
async fn unknown_properties_are_named() {
    let stack = spawn_stack().await;
    let body =
        json!({"email": "a@b.co", "password": "password123", "role": "ADMIN", "isAdmin": true});
    let mut message = error_body(
        stack.post("/api/v1/auth/login", &body).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let list = message.as_array_mut().expect("array of messages");
    list.sort_by_key(|m| m.to_string());
    assert_eq!(
        message,
        json!([
            "property isAdmin should not exist",
            "property role should not exist"
        ])
    );
}

#[tokio::test]
async fn an_oversized_body_is_413_and_the_gateway_keeps_serving() {
    let stack = spawn_stack_with(|env| {
        env.set("HTTP_BODY_LIMIT_BYTES", "1024");
    })
    .await;
    let huge = json!({"email": "a@b.co", "password": "x".repeat(4096)});
    let response = stack.post("/api/v1/auth/login", &huge).await;
    assert_eq!(
        error_body(response, StatusCode::PAYLOAD_TOO_LARGE).await,
        "Request body is too large"
    );

    let after = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "a@b.co", "password": "password123"}),
        )
        .await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let stack = spawn_stack().await;
    let missing = stack
        .http
        .get(stack.url("/api/v1/nothing-here"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_body(missing, StatusCode::NOT_FOUND).await,
        "Cannot GET /api/v1/nothing-here"
    );

    let wrong_method = stack
        .http
        .put(stack.url("/api/v1/auth/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_body(wrong_method, StatusCode::METHOD_NOT_ALLOWED).await,
        "Method Not Allowed"
    );
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let stack = spawn_stack_with(|env| {
        env.set("CORS_ORIGINS", "https://app.junqo.example");
    })
    .await;
    let preflight = |origin: &'static str| {
        stack
            .http
            .request(reqwest::Method::OPTIONS, stack.url("/api/v1/auth/login"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight("https://app.junqo.example").await.expect("sent");
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.junqo.example")
    );
    let refused = preflight("https://evil.example").await.expect("sent");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
