//! REST rate limits: per user with a valid token, per client address without one; 429 with
//! `Retry-After` and the usual error body; the address behind a trusted proxy; `RATE_LIMITS=off`.

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{TestStack, error_body, spawn_stack_with};

const CHECK: &str = "/api/v1/auth/is-logged-in";

async fn refused(response: Response) {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After is set")
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(
        error_body(response, StatusCode::TOO_MANY_REQUESTS).await,
        json!("Too Many Requests")
    );
}

async fn anonymous(stack: &TestStack, forwarded_for: Option<&str>) -> Response {
    let mut request = stack.http.get(stack.url(CHECK));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("request is sent")
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_address() {
    let stack = spawn_stack_with(|env| {
        env.set("REST_RATE_PER_ADDRESS", "3/min");
    })
    .await;
    for _ in 0..3 {
        assert_eq!(anonymous(&stack, None).await.status(), StatusCode::OK);
    }
    refused(anonymous(&stack, None).await).await;
    // Without a trusted proxy, X-Forwarded-For is the client's own writing: it changes nothing.
    refused(anonymous(&stack, Some("198.51.100.1")).await).await;
}

#[tokio::test]
async fn requests_with_a_token_are_limited_per_user() {
    let stack = spawn_stack_with(|env| {
        env.set("REST_RATE_PER_USER", "3/min");
    })
    .await;
    let (alice, _) = stack.user("Alice").await;
    let (bob, _) = stack.user("Bob").await;
    for _ in 0..3 {
        let response = stack.get_with("/api/v1/conversations", &alice).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    refused(stack.get_with("/api/v1/conversations", &alice).await).await;
    // Another user, and anonymous callers from the same address, have their own allowance.
    let response = stack.get_with("/api/v1/conversations", &bob).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(anonymous(&stack, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_counts() {
    let stack = spawn_stack_with(|env| {
        env.set("REST_RATE_PER_ADDRESS", "2/min")
            .set("TRUSTED_PROXIES", "127.0.0.0/8, ::1");
    })
    .await;
    let classroom = Some("203.0.113.50, 198.51.100.1");
    for _ in 0..2 {
        assert_eq!(anonymous(&stack, classroom).await.status(), StatusCode::OK);
    }
    refused(anonymous(&stack, classroom).await).await;
    // What the client wrote left of the proxy's entry is not who it is.
    refused(anonymous(&stack, Some("203.0.113.99, 198.51.100.1")).await).await;
    let elsewhere = Some("198.51.100.2");
    assert_eq!(anonymous(&stack, elsewhere).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rate_limits_off_lets_everything_through() {
    let stack = spawn_stack_with(|env| {
        env.set("REST_RATE_PER_ADDRESS", "1/min")
            .set("RATE_LIMITS", "off");
    })
    .await;
    for _ in 0..20 {
        assert_eq!(anonymous(&stack, None).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn failed_sign_ins_meet_auth_s_limit_as_a_429_with_retry_after() {
    let stack = crate::helpers::spawn_stack_with_every(|env| {
        env.set("AUTH_SIGN_IN_FAILURES_PER_ACCOUNT", "3/15min");
    })
    .await;
    let email = format!("target-{}@example.com", uuid::Uuid::new_v4().simple());
    stack.register("Target", &email).await;
    let wrong = json!({"email": email, "password": "not the password"});
    for _ in 0..3 {
        let response = stack.post("/api/v1/auth/login", &wrong).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = stack.post("/api/v1/auth/login", &wrong).await;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After is set")
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    assert!(
        (840..=900).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(
        error_body(response, StatusCode::TOO_MANY_REQUESTS).await,
        json!("Too many attempts, try again later")
    );
}
