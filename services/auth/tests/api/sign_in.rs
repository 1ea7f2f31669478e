use junqo_proto::auth::v1::{SignInRequest, VerifyTokenRequest};
use tonic::Code;

use crate::helpers::spawn_app;

fn credentials(email: &str, password: &str) -> SignInRequest {
    SignInRequest {
        email: Some(email.into()),
        password: Some(password.into()),
    }
}

#[tokio::test]
async fn the_right_password_signs_in_whatever_the_email_case() {
    let app = spawn_app().await;
    let signed_up = app.sign_up("Alice", "alice@example.com").await;
    let response = app
        .client
        .clone()
        .sign_in(credentials("ALICE@example.com", "password123"))
        .await
        .expect("sign-in succeeds")
        .into_inner();
    assert_eq!(response.user, signed_up.user);

    let claims = app
        .client
        .clone()
        .verify_token(VerifyTokenRequest {
            token: response.token,
        })
        .await
        .expect("issued token verifies")
        .into_inner()
        .claims
        .expect("claims");
    assert_eq!(Some(claims.sub), signed_up.user.map(|u| u.id));
    assert_eq!(claims.iss, "junqo-auth");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.sign_up("Alice", "alice@example.com").await;
    let wrong_password = app
        .client
        .clone()
        .sign_in(credentials("alice@example.com", "password124"))
        .await
        .expect_err("wrong password");
    let unknown_email = app
        .client
        .clone()
        .sign_in(credentials("bob@example.com", "password123"))
        .await
        .expect_err("unknown email");
    for status in [wrong_password, unknown_email] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "Invalid email or password");
    }
}

#[tokio::test]
async fn a_forged_token_does_not_verify() {
    let app = spawn_app().await;
    let status = app
        .client
        .clone()
        .verify_token(VerifyTokenRequest {
            token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.".into(),
        })
        .await
        .expect_err("forged token");
    assert_eq!(status.code(), Code::Unauthenticated);
}
