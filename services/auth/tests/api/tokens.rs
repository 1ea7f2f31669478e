//! Token revocation as auth applies it: logout, logout-all, credential changes, account deletion; and the
//! state gateway and realtime load at start (ListRevocations).

use junqo_proto::auth::v1::{
    DeleteUserRequest, ListRevocationsRequest, ListRevocationsResponse, LogoutRequest,
    SignInRequest, UpdateUserRequest,
};
use jwt::{Claims, TokenVerifier};
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{SECRET, TestApp, bearer, service_token, spawn_app, violations};

fn claims(token: &str) -> Claims {
    TokenVerifier::new(&SecretString::from(SECRET))
        .verify(token)
        .expect("auth issues valid tokens")
}

impl TestApp {
    async fn sign_in(&self, email: &str, password: &str) -> String {
        self.client
            .clone()
            .sign_in(SignInRequest {
                email: Some(email.into()),
                password: Some(password.into()),
            })
            .await
            .expect("sign-in succeeds")
            .into_inner()
            .token
    }

    /// Whether auth still accepts the token as its caller's (a name change is the mildest act).
    async fn token_works(&self, token: &str) -> bool {
        let answer = self
            .client
            .clone()
            .update_user(bearer(
                UpdateUserRequest {
                    name: Some("Still Alice".into()),
                    ..Default::default()
                },
                token,
            ))
            .await;
        match answer {
            Ok(_) => true,
            Err(status) if status.code() == Code::Unauthenticated => false,
            Err(status) => panic!("unexpected answer: {status:?}"),
        }
    }

    async fn revocations(&self) -> ListRevocationsResponse {
        self.client
            .clone()
            .list_revocations(bearer(ListRevocationsRequest {}, &service_token()))
            .await
            .expect("revocations listed")
            .into_inner()
    }
}

#[tokio::test]
async fn logout_revokes_that_token_only() {
    let app = spawn_app().await;
    let first = app.sign_up("Alice", "alice@example.com").await.token;
    let second = app.sign_in("alice@example.com", "password123").await;
    assert_ne!(claims(&first).jti, claims(&second).jti);

    app.client
        .clone()
        .logout(bearer(LogoutRequest {}, &first))
        .await
        .expect("logout succeeds");
    assert!(!app.token_works(&first).await, "the logged-out token");
    assert!(app.token_works(&second).await, "another token of the user");

    let listed = app.revocations().await;
    let jti = claims(&first).jti.expect("a jti").to_string();
    assert!(listed.tokens.iter().any(|t| t.jti == jti));
    assert!(listed.cutoffs.is_empty());
}

#[tokio::test]
async fn logout_all_revokes_every_earlier_token_but_not_a_sign_in_right_after() {
    let app = spawn_app().await;
    let first = app.sign_up("Alice", "alice@example.com").await.token;
    let second = app.sign_in("alice@example.com", "password123").await;
    app.client
        .clone()
        .logout_all(bearer(LogoutRequest {}, &second))
        .await
        .expect("logout-all succeeds");
    // Most likely within the same second as the revocation: still valid (see auth's revocation module).
    let after = app.sign_in("alice@example.com", "password123").await;
    assert!(!app.token_works(&first).await);
    assert!(!app.token_works(&second).await);
    assert!(
        app.token_works(&after).await,
        "a token issued after logout-all"
    );

    let listed = app.revocations().await;
    let alice = claims(&after).sub.to_string();
    let cutoff = listed
        .cutoffs
        .iter()
        .find(|c| c.user_id == alice)
        .expect("alice's cutoff is listed");
    assert!(claims(&second).iat < cutoff.valid_after);
    assert!(claims(&after).iat >= cutoff.valid_after);
}

#[tokio::test]
async fn changing_a_credential_needs_the_current_password_and_revokes_other_tokens() {
    let app = spawn_app().await;
    let token = app.sign_up("Alice", "alice@example.com").await.token;
    let other = app.sign_in("alice@example.com", "password123").await;

    let missing = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                password: Some("new-password-1".into()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("no current password");
    assert_eq!(
        violations(&missing),
        ["currentPassword is required to change the email or password"]
    );

    let wrong = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                email: Some("alice@new.example.com".into()),
                current_password: Some("not-my-password".into()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect_err("wrong current password");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(wrong.message(), "Current password is incorrect");
    assert!(
        app.token_works(&other).await,
        "a refused change revokes nothing"
    );

    let changed = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                email: Some("alice@new.example.com".into()),
                current_password: Some("password123".into()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("right current password")
        .into_inner();
    let fresh = changed.token;
    assert_eq!(claims(&fresh).email, "alice@new.example.com");
    assert!(app.token_works(&fresh).await, "the answer's token");
    assert!(!app.token_works(&token).await, "the token that asked");
    assert!(!app.token_works(&other).await, "another session");
}

#[tokio::test]
async fn a_name_change_needs_no_password_and_revokes_nothing() {
    let app = spawn_app().await;
    let token = app.sign_up("Alice", "alice@example.com").await.token;
    let changed = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                name: Some("Alice Liddell".into()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("a name change")
        .into_inner();
    assert_eq!(claims(&changed.token).user_name, "Alice Liddell");
    assert!(app.token_works(&token).await);
}

#[tokio::test]
async fn deleting_the_account_revokes_its_tokens() {
    let app = spawn_app().await;
    let token = app.sign_up("Alice", "alice@example.com").await.token;
    app.client
        .clone()
        .delete_user(bearer(DeleteUserRequest {}, &token))
        .await
        .expect("delete succeeds");
    let alice = claims(&token).sub.to_string();
    let listed = app.revocations().await;
    let cutoff = listed
        .cutoffs
        .iter()
        .find(|c| c.user_id == alice)
        .expect("the deleted user's cutoff outlives them");
    assert!(claims(&token).iat < cutoff.valid_after);
}

#[tokio::test]
async fn only_services_list_revocations() {
    let app = spawn_app().await;
    let user = app.sign_up("Alice", "alice@example.com").await.token;
    let as_user = app
        .client
        .clone()
        .list_revocations(bearer(ListRevocationsRequest {}, &user))
        .await
        .expect_err("a user may not list who logged out");
    assert_eq!(as_user.code(), Code::PermissionDenied);
    let anonymous = app
        .client
        .clone()
        .list_revocations(ListRevocationsRequest {})
        .await
        .expect_err("nobody may list them without a token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
}
