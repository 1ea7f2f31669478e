use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestStack, error_body, spawn_stack, token_of};

#[tokio::test]
async fn users_me_returns_the_callers_profile() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;
    let response = stack
        .get_with("/api/v1/users/me", &token_of(&registered).await)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        registered["user"]
    );
}

#[tokio::test]
async fn patch_users_me_changes_the_profile_and_validates_it() {
    let stack = spawn_stack().await;
    let token = token_of(&stack.register("Alice", "alice@example.com").await).await;
    stack.register("Bob Bobson", "bob@example.com").await;

    let patch = |body: Value| {
        stack
            .http
            .patch(stack.url("/api/v1/users/me"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    let response = patch(json!({"name": "Alice Liddell", "type": "COMPANY"}))
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        (body["name"].as_str(), body["type"].as_str()),
        (Some("Alice Liddell"), Some("COMPANY"))
    );
    let me: Value = stack
        .get_with("/api/v1/users/me", &token)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["name"], "Alice Liddell");

    let invalid = patch(json!({"email": "not-an-address", "currentPassword": "password123"}))
        .await
        .expect("sent");
    assert_eq!(
        error_body(invalid, StatusCode::BAD_REQUEST).await,
        json!(["Email must be a valid email address"])
    );
    let taken = patch(json!({"email": "BOB@example.com", "currentPassword": "password123"}))
        .await
        .expect("sent");
    assert_eq!(
        error_body(taken, StatusCode::CONFLICT).await,
        "Email already exists"
    );
    let admin = patch(json!({"type": "ADMIN"})).await.expect("sent");
    assert_eq!(
        error_body(admin, StatusCode::FORBIDDEN).await,
        "You cannot update user type to admin"
    );
    let unknown = patch(json!({"id": "someone-else"})).await.expect("sent");
    assert_eq!(
        error_body(unknown, StatusCode::BAD_REQUEST).await,
        json!(["property id should not exist"])
    );
}

#[tokio::test]
async fn delete_users_me_removes_the_account() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;
    let token = token_of(&registered).await;
    // Read first, so that a kept copy of the profile would be there to answer wrongly.
    let before = stack.get_with("/api/v1/users/me", &token).await;
    assert_eq!(before.status(), StatusCode::OK);
    let response = stack
        .http
        .delete(stack.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"isSuccessful": true})
    );

    // The account's tokens are revoked with it (the gateway hears it from the broker).
    let gone = stack
        .status_within("/api/v1/users/me", &token, StatusCode::UNAUTHORIZED)
        .await;
    assert_eq!(gone, StatusCode::UNAUTHORIZED);
    let login = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "alice@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

/// The profile `GET /users/me` shows at `base` with `token`, awaited (within a second) until `done`
/// says it is the one wanted; the last one seen.
async fn profile_within(
    stack: &TestStack,
    base: &str,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        let response = stack
            .http
            .get(format!("{base}/api/v1/users/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent");
        let body = if response.status() == StatusCode::OK {
            response.json().await.expect("JSON")
        } else {
            json!({"status": response.status().as_u16()})
        };
        if done(&body) || tokio::time::Instant::now() >= deadline {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_profile_change_shows_at_once_where_it_was_made_and_within_a_second_elsewhere() {
    let mut stack = spawn_stack().await;
    let other = stack.another_gateway().await;
    let token = token_of(&stack.register("Alice", "alice@example.com").await).await;
    // Both gateways have read the profile once.
    for base in [stack.base.clone(), other.clone()] {
        let me = profile_within(&stack, &base, &token, |_| true).await;
        assert_eq!(me["name"], "Alice");
    }

    let response = stack
        .call(
            Method::PATCH,
            "/api/v1/users/me",
            &token,
            Some(json!({"name": "Alice Liddell"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The gateway that made the change shows it on the very next read.
    let (_, me) = stack
        .json(Method::GET, "/api/v1/users/me", &token, None)
        .await;
    assert_eq!(me["name"], "Alice Liddell");
    // Another gateway hears of no event for a new name: it shows it once its copy expires.
    let elsewhere =
        profile_within(&stack, &other, &token, |me| me["name"] == "Alice Liddell").await;
    assert_eq!(elsewhere["name"], "Alice Liddell");
}

#[tokio::test]
async fn a_deleted_account_is_refused_by_every_gateway_that_read_its_profile() {
    let mut stack = spawn_stack().await;
    let other = stack.another_gateway().await;
    let token = token_of(&stack.register("Alice", "alice@example.com").await).await;
    let me = profile_within(&stack, &other, &token, |_| true).await;
    assert_eq!(me["name"], "Alice");

    let response = stack
        .call(Method::DELETE, "/api/v1/users/me", &token, None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let gone = profile_within(&stack, &other, &token, |me| me["status"] == 401).await;
    assert_eq!(gone, json!({"status": 401}));
}
