use junqo_proto::auth::v1::{SignUpRequest, UserType as PbUserType};
use jwt::{TokenVerifier, UserType};
use secrecy::SecretString;
use sqlx::Row;
use tonic::Code;

use crate::helpers::{SECRET, sign_up_request, spawn_app, violations};

#[tokio::test]
async fn sign_up_returns_a_token_for_the_new_user_and_stores_no_plaintext() {
    let app = spawn_app().await;
    let response = app
        .client
        .clone()
        .sign_up(sign_up_request(
            "Alice",
            "Alice@Example.com",
            "COMPANY",
            "password123",
        ))
        .await
        .expect("sign-up succeeds")
        .into_inner();

    let user = response.user.expect("user is returned");
    assert_eq!(user.name, "Alice");
    assert_eq!(user.email, "alice@example.com");
    assert_eq!(user.r#type(), PbUserType::Company);

    let claims = TokenVerifier::new(&SecretString::from(SECRET))
        .verify(&response.token)
        .expect("token verifies");
    assert_eq!(claims.sub.to_string(), user.id);
    assert_eq!(claims.user_name, "Alice");
    assert_eq!(claims.user_type, UserType::Company);
    assert_eq!(claims.email, "alice@example.com");

    let mut db = app.db.connect().await;
    let stored: String = sqlx::query("SELECT password_hash FROM auth.users")
        .fetch_one(&mut db)
        .await
        .expect("one user row")
        .get(0);
    assert!(stored.starts_with("$argon2id$"), "stored {stored}");
    assert!(!stored.contains("password123"));
}

#[tokio::test]
async fn an_email_taken_in_another_case_is_refused() {
    let app = spawn_app().await;
    app.sign_up("Alice", "alice@example.com").await;
    let status = app
        .client
        .clone()
        .sign_up(sign_up_request(
            "Alice Two",
            "ALICE@example.COM",
            "STUDENT",
            "password123",
        ))
        .await
        .expect_err("duplicate email");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(status.message(), "Email already exists");
}

#[tokio::test]
async fn every_broken_rule_is_reported() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .sign_up(SignUpRequest {
            name: Some("Al".into()),
            email: Some("nope".into()),
            r#type: Some("PIRATE".into()),
            password: None,
        })
        .await
        .expect_err("invalid sign-up");
    assert_eq!(
        violations(&status),
        [
            "Name must be at least 3 characters long",
            "Email must be at least 5 characters long",
            "Email must be a valid email address",
            "User type must be a valid UserType enum value",
            "Password must be at most 72 characters long",
            "Password must be at least 8 characters long",
            "Password must be a string",
            "Password is required",
        ]
    );
}

#[tokio::test]
async fn nobody_becomes_admin_by_signing_up() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .sign_up(sign_up_request(
            "Mallory",
            "mallory@example.com",
            "ADMIN",
            "password123",
        ))
        .await
        .expect_err("admin sign-up");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "You cannot create an admin user");
}
