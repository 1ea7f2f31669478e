use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_stack};

#[tokio::test]
async fn register_answers_201_with_a_token_and_the_user_without_password() {
    let stack = spawn_stack().await;
    let response = stack
        .post(
            "/api/v1/auth/register",
            &json!({"name": "Alice", "email": "alice@example.com", "type": "COMPANY", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{body}"
    );
    let user = body["user"].as_object().expect("user object");
    let mut keys: Vec<&str> = user.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["email", "id", "name", "type"]);
    assert_eq!(user["type"], "COMPANY");
    assert!(uuid::Uuid::parse_str(user["id"].as_str().expect("id")).is_ok());
}

#[tokio::test]
async fn a_duplicate_email_in_another_case_is_409() {
    let stack = spawn_stack().await;
    stack.register("Alice", "alice@example.com").await;
    let response = stack
        .post(
            "/api/v1/auth/register",
            &json!({"name": "Alice", "email": "Alice@EXAMPLE.com", "type": "STUDENT", "password": "password123"}),
        )
        .await;
    assert_eq!(
        error_body(response, StatusCode::CONFLICT).await,
        "Email already exists"
    );
}

#[tokio::test]
async fn an_empty_registration_lists_every_rule() {
    let stack = spawn_stack().await;
    let message = error_body(
        stack.post("/api/v1/auth/register", &json!({})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        message,
        json!([
            "Name must be at most 255 characters long",
            "Name must be at least 3 characters long",
            "Name must be a string",
            "Name is required",
            "Email must be at most 255 characters long",
            "Email must be at least 5 characters long",
            "Email must be a valid email address",
            "Email is required",
            "User type must be a valid UserType enum value",
            "User type is required",
            "Password must be at most 72 characters long",
            "Password must be at least 8 characters long",
            "Password must be a string",
            "Password is required"
        ])
    );
}

#[tokio::test]
async fn each_field_rule_is_named() {
    let stack = spawn_stack().await;
    let valid = json!({"name": "Alice", "email": "alice@example.com", "type": "STUDENT", "password": "password123"});
    let cases = [
        (
            "name",
            json!("Al"),
            "Name must be at least 3 characters long",
        ),
        (
            "name",
            json!("x".repeat(256)),
            "Name must be at most 255 characters long",
        ),
        (
            "email",
            json!("alice.example.com"),
            "Email must be a valid email address",
        ),
        (
            "type",
            json!("PIRATE"),
            "User type must be a valid UserType enum value",
        ),
        (
            "password",
            json!("short"),
            "Password must be at least 8 characters long",
        ),
        (
            "password",
            json!("p".repeat(73)),
            "Password must be at most 72 characters long",
        ),
    ];
    for (field, value, expected) in cases {
        let mut body = valid.clone();
        body[field] = value;
        let message = error_body(
            stack.post("/api/v1/auth/register", &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(message, json!([expected]), "{field}");
    }
}

#[tokio::test]
async fn admin_cannot_be_chosen_at_sign_up() {
    let stack = spawn_stack().await;
    let body = json!({"name": "Mallory", "email": "m@example.com", "type": "ADMIN", "password": "password123"});
    let message = error_body(
        stack.post("/api/v1/auth/register", &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(message, "You cannot create an admin user");
}

#[tokio::test]
async fn login_answers_the_token_and_one_message_for_any_wrong_credential() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;

    let response = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "alice@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["user"], registered["user"]);
    assert!(body["token"].is_string());

    for (email, password) in [
        ("alice@example.com", "wrong-password"),
        ("nobody@example.com", "password123"),
    ] {
        let response = stack
            .post(
                "/api/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            error_body(response, StatusCode::UNAUTHORIZED).await,
            "Invalid email or password"
        );
    }
}

#[tokio::test]
async fn is_logged_in_never_refuses() {
    let stack = spawn_stack().await;
    let token = stack.register("Alice", "alice@example.com").await["token"].clone();
    let token = token.as_str().expect("token");

    let with_token: Value = stack
        .get_with("/api/v1/auth/is-logged-in", token)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(with_token, json!({"isLoggedIn": true}));

    let response = stack
        .http
        .get(stack.url("/api/v1/auth/is-logged-in"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"isLoggedIn": false})
    );

    let forged: Value = stack
        .get_with("/api/v1/auth/is-logged-in", "abc.def.ghi")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(forged, json!({"isLoggedIn": false}));
}
