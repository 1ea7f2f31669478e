//! Blocking over REST: the block routes, and what a block refuses in either direction.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_stack};

#[tokio::test]
async fn a_block_is_idempotent_listed_and_removed() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (_, bob_id) = stack.user("Bob").await;
    let path = format!("/api/v1/users/{bob_id}/block");

    let (status, first) = stack.json(Method::PUT, &path, &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["userId"], alice_id);
    assert_eq!(first["blockedUserId"], bob_id);
    assert!(
        first["createdAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let (status, again) = stack.json(Method::PUT, &path, &alice, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first, "blocking again keeps the first block");

    let (status, list) = stack
        .json(Method::GET, "/api/v1/users/me/blocked", &alice, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"rows": [first], "count": 1}));

    let (status, _) = stack.json(Method::DELETE, &path, &alice, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = stack
        .json(Method::GET, "/api/v1/users/me/blocked", &alice, None)
        .await;
    assert_eq!(list, json!({"rows": [], "count": 0}));
}

#[tokio::test]
async fn blocking_oneself_an_unknown_user_or_a_bad_id_is_refused() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let own = stack
        .call(
            Method::PUT,
            &format!("/api/v1/users/{alice_id}/block"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        error_body(own, StatusCode::BAD_REQUEST).await,
        json!(["You cannot block yourself"])
    );
    let nobody = uuid::Uuid::new_v4();
    let unknown = stack
        .call(
            Method::PUT,
            &format!("/api/v1/users/{nobody}/block"),
            &alice,
            None,
        )
        .await;
    assert_eq!(
        error_body(unknown, StatusCode::NOT_FOUND).await,
        json!(format!("User with ID {nobody} not found"))
    );
    let bad = stack
        .call(Method::PUT, "/api/v1/users/not-an-id/block", &alice, None)
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let anonymous = stack
        .http
        .get(stack.url("/api/v1/users/me/blocked"))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_blocked_pair_cannot_meet_add_or_message_each_other_either_way_until_unblocked() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let (carol, carol_id) = stack.user("Carol").await;
    let pair = stack.conversation(&alice, &[&bob_id]).await;
    let group = stack.conversation(&carol, &[&alice_id, &bob_id]).await;
    let with_carol = stack.conversation(&alice, &[&carol_id]).await;
    stack.send(&bob, &pair, "before the block").await;

    let (status, _) = stack
        .json(
            Method::PUT,
            &format!("/api/v1/users/{bob_id}/block"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Both directions: Alice blocked Bob, and Bob is blocked by Alice.
    for (sender, other_id) in [(&alice, &bob_id), (&bob, &alice_id)] {
        let start = stack
            .call(
                Method::POST,
                "/api/v1/conversations",
                sender,
                Some(json!({"participantsIds": [other_id]})),
            )
            .await;
        assert_eq!(
            error_body(start, StatusCode::FORBIDDEN).await,
            json!("You cannot start a conversation with this user")
        );
        let send = stack
            .call(
                Method::POST,
                &format!("/api/v1/conversations/{pair}/messages"),
                sender,
                Some(json!({"content": "hello?"})),
            )
            .await;
        assert_eq!(
            error_body(send, StatusCode::FORBIDDEN).await,
            json!("You cannot message this user")
        );
        // A group is not a conversation of just the two: sending there goes on.
        stack.send(sender, &group, "in the group").await;
    }
    // Adding the other to a conversation is refused too.
    let add = stack
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{with_carol}/participants"),
            &alice,
            Some(json!({"participantsIds": [bob_id]})),
        )
        .await;
    assert_eq!(
        error_body(add, StatusCode::FORBIDDEN).await,
        json!("You cannot add this user to a conversation")
    );
    // Existing messages stay readable.
    let (status, history) = stack
        .json(
            Method::GET,
            &format!("/api/v1/conversations/{pair}/messages"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["rows"][0]["content"], "before the block");

    // Unblocking restores all of it.
    let (status, _) = stack
        .json(
            Method::DELETE,
            &format!("/api/v1/users/{bob_id}/block"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    stack.send(&bob, &pair, "hello again").await;
    let again: Value = stack.send(&alice, &pair, "hi").await;
    assert_eq!(again["content"], "hi");
    stack.conversation(&bob, &[&alice_id]).await;
}
