//! Tokens that die before they expire: logout, logout-all, a password change, and `nbf`. Revocations
//! reach the gateway through the broker; each test awaits their effect with a one-second deadline.

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{SECRET, TestStack, error_body, spawn_stack, token_of};

const ME: &str = "/api/v1/users/me";

async fn login(stack: &TestStack, email: &str, password: &str) -> String {
    let response = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    token_of(&response.json().await.expect("JSON")).await
}

async fn post_with(stack: &TestStack, path: &str, token: &str) -> reqwest::Response {
    stack.call(Method::POST, path, token, None).await
}

#[tokio::test]
async fn logout_revokes_the_presented_token_within_a_second_and_no_other() {
    let stack = spawn_stack().await;
    let first = token_of(&stack.register("Alice", "alice@example.com").await).await;
    let second = login(&stack, "alice@example.com", "password123").await;

    let response = post_with(&stack, "/api/v1/auth/logout", &first).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"isSuccessful": true})
    );

    assert_eq!(
        stack
            .status_within(ME, &first, StatusCode::UNAUTHORIZED)
            .await,
        StatusCode::UNAUTHORIZED
    );
    // The same answer as for any invalid token.
    assert_eq!(
        error_body(stack.get_with(ME, &first).await, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );
    // Auth refuses the token at once (it asks its own tables); the gateway's local check follows as soon
    // as the revocation arrives from the broker: within the same second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let logged_in = loop {
        let answer: Value = stack
            .get_with("/api/v1/auth/is-logged-in", &first)
            .await
            .json()
            .await
            .expect("JSON");
        if answer == json!({"isLoggedIn": false}) || std::time::Instant::now() >= deadline {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(logged_in, json!({"isLoggedIn": false}));
    assert_eq!(stack.get_with(ME, &second).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_all_revokes_every_token_until_the_next_sign_in() {
    let stack = spawn_stack().await;
    let first = token_of(&stack.register("Alice", "alice@example.com").await).await;
    let second = login(&stack, "alice@example.com", "password123").await;

    let response = post_with(&stack, "/api/v1/auth/logout-all", &second).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"isSuccessful": true})
    );
    for token in [&first, &second] {
        assert_eq!(
            stack
                .status_within(ME, token, StatusCode::UNAUTHORIZED)
                .await,
            StatusCode::UNAUTHORIZED
        );
    }
    let fresh = login(&stack, "alice@example.com", "password123").await;
    assert_eq!(stack.get_with(ME, &fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_needs_a_token() {
    let stack = spawn_stack().await;
    for path in ["/api/v1/auth/logout", "/api/v1/auth/logout-all"] {
        let response = stack.http.post(stack.url(path)).send().await.expect("sent");
        assert_eq!(
            error_body(response, StatusCode::UNAUTHORIZED).await,
            "Unauthorized"
        );
    }
}

#[tokio::test]
async fn a_password_change_needs_the_current_one_and_leaves_only_the_new_token() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;
    let token = token_of(&registered).await;
    let other = login(&stack, "alice@example.com", "password123").await;
    let patch = |body: Value| stack.call(Method::PATCH, ME, &token, Some(body));

    let missing = patch(json!({"password": "new-password-1"})).await;
    assert_eq!(
        error_body(missing, StatusCode::BAD_REQUEST).await,
        json!(["currentPassword is required to change the email or password"])
    );
    let wrong =
        patch(json!({"password": "new-password-1", "currentPassword": "guess-again"})).await;
    assert_eq!(
        error_body(wrong, StatusCode::UNAUTHORIZED).await,
        "Current password is incorrect"
    );
    assert_eq!(stack.get_with(ME, &other).await.status(), StatusCode::OK);

    let changed =
        patch(json!({"password": "new-password-1", "currentPassword": "password123"})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let body: Value = changed.json().await.expect("JSON");
    // The profile's fields as before, plus the new token.
    assert_eq!(body["id"], registered["user"]["id"]);
    assert_eq!(
        (
            body["name"].as_str(),
            body["email"].as_str(),
            body["type"].as_str()
        ),
        (Some("Alice"), Some("alice@example.com"), Some("STUDENT"))
    );
    let fresh = token_of(&body).await;

    for old in [&token, &other] {
        assert_eq!(
            stack.status_within(ME, old, StatusCode::UNAUTHORIZED).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(stack.get_with(ME, &fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;
    let user = &registered["user"];
    let now = Utc::now().timestamp();
    let sign = |nbf: i64| {
        let claims = json!({
            "sub": user["id"], "userName": user["name"], "userType": user["type"],
            "email": user["email"], "iat": now, "nbf": nbf, "exp": now + 3600, "iss": "junqo-auth",
        });
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("claims serialize")
    };
    assert_eq!(
        stack.get_with(ME, &sign(now - 5)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        error_body(
            stack.get_with(ME, &sign(now + 60)).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "Unauthorized"
    );
}
