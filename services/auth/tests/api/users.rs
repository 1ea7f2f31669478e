use junqo_proto::auth::v1::{
    DeleteUserRequest, GetUserRequest, GetUsersRequest, SignInRequest, UpdateUserRequest,
};
use tonic::Code;

use crate::helpers::{bearer, service_token, spawn_app, violations};

#[tokio::test]
async fn users_are_found_alone_or_in_batches() {
    let app = spawn_app().await;
    let alice = app
        .sign_up("Alice", "alice@example.com")
        .await
        .user
        .expect("user");
    let bob = app
        .sign_up("Bob Bobson", "bob@example.com")
        .await
        .user
        .expect("user");

    let found = app
        .client
        .clone()
        .get_user(bearer(
            GetUserRequest {
                user_id: alice.id.clone(),
            },
            &service_token(),
        ))
        .await
        .expect("alice exists")
        .into_inner();
    assert_eq!(found, alice);

    let unknown = uuid::Uuid::new_v4().to_string();
    let mut batch = app
        .client
        .clone()
        .get_users(bearer(
            GetUsersRequest {
                user_ids: vec![alice.id.clone(), bob.id.clone(), unknown],
            },
            &service_token(),
        ))
        .await
        .expect("batch lookup")
        .into_inner()
        .users;
    batch.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(batch, [alice, bob]);
}

#[tokio::test]
async fn a_user_updates_their_own_profile_and_password() {
    let app = spawn_app().await;
    let signed_up = app.sign_up("Alice", "alice@example.com").await;
    let updated = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                name: Some("Alice Liddell".into()),
                password: Some("new-password-1".into()),
                current_password: Some("password123".into()),
                ..Default::default()
            },
            &signed_up.token,
        ))
        .await
        .expect("update succeeds")
        .into_inner();
    let user = updated.user.expect("the user");
    assert_eq!(user.name, "Alice Liddell");
    assert_eq!(user.email, "alice@example.com");

    let old = app
        .client
        .clone()
        .sign_in(SignInRequest {
            email: Some("alice@example.com".into()),
            password: Some("password123".into()),
        })
        .await
        .expect_err("old password no longer works");
    assert_eq!(old.code(), Code::Unauthenticated);
    app.client
        .clone()
        .sign_in(SignInRequest {
            email: Some("alice@example.com".into()),
            password: Some("new-password-1".into()),
        })
        .await
        .expect("new password works");
}

#[tokio::test]
async fn an_update_needs_the_users_own_token_and_valid_fields() {
    let app = spawn_app().await;
    let alice = app.sign_up("Alice", "alice@example.com").await;
    app.sign_up("Bob Bobson", "bob@example.com").await;

    let anonymous = app
        .client
        .clone()
        .update_user(UpdateUserRequest {
            name: Some("Hacker".into()),
            ..Default::default()
        })
        .await
        .expect_err("no token");
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let taken = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                email: Some("BOB@example.com".into()),
                current_password: Some("password123".into()),
                ..Default::default()
            },
            &alice.token,
        ))
        .await
        .expect_err("email belongs to bob");
    assert_eq!(taken.code(), Code::AlreadyExists);

    let invalid = app
        .client
        .clone()
        .update_user(bearer(
            UpdateUserRequest {
                name: Some("Al".into()),
                ..Default::default()
            },
            &alice.token,
        ))
        .await
        .expect_err("name too short");
    assert_eq!(
        violations(&invalid),
        ["Name must be at least 3 characters long"]
    );
}

#[tokio::test]
async fn a_deleted_user_is_gone() {
    let app = spawn_app().await;
    let alice = app.sign_up("Alice", "alice@example.com").await;
    let id = alice.user.expect("user").id;
    app.client
        .clone()
        .delete_user(bearer(DeleteUserRequest {}, &alice.token))
        .await
        .expect("delete succeeds");
    let status = app
        .client
        .clone()
        .get_user(bearer(
            GetUserRequest {
                user_id: id.clone(),
            },
            &service_token(),
        ))
        .await
        .expect_err("user is gone");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), format!("User #{id} not found"));
}

#[tokio::test]
async fn lookups_need_a_credential_and_a_user_reads_only_their_own_account() {
    let app = spawn_app().await;
    let alice = app.sign_up("Alice", "alice@example.com").await;
    let alice_id = alice.user.expect("user").id;
    let bob = app.sign_up("Bob Bobson", "bob@example.com").await;
    let bob_id = bob.user.expect("user").id;
    let get = |id: &str| GetUserRequest { user_id: id.into() };

    let status = app
        .client
        .clone()
        .get_user(get(&alice_id))
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);

    let own = app
        .client
        .clone()
        .get_user(bearer(get(&alice_id), &alice.token))
        .await
        .expect("her own account")
        .into_inner();
    assert_eq!(own.id, alice_id);

    let status = app
        .client
        .clone()
        .get_user(bearer(get(&bob_id), &alice.token))
        .await
        .expect_err("someone else's account");
    assert_eq!(status.code(), Code::PermissionDenied);

    let batch = || GetUsersRequest {
        user_ids: vec![bob_id.clone()],
    };
    let status = app
        .client
        .clone()
        .get_users(batch())
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = app
        .client
        .clone()
        .get_users(bearer(batch(), &alice.token))
        .await
        .expect_err("a user's token is not a service's");
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_service_token_cannot_act_as_a_user_or_pass_as_one() {
    let app = spawn_app().await;
    let service = service_token();
    let status = app
        .client
        .clone()
        .delete_user(bearer(DeleteUserRequest {}, &service))
        .await
        .expect_err("a service token names no user");
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = app
        .client
        .clone()
        .verify_token(junqo_proto::auth::v1::VerifyTokenRequest { token: service })
        .await
        .expect_err("VerifyToken answers for users' tokens only");
    assert_eq!(status.code(), Code::Unauthenticated);
}
