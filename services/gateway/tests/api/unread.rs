//! Unread counts and read-up-to over REST: `lastReadSeq`/`unreadCount` on conversations, and
//! `POST /conversations/{id}/read`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestStack, error_body, spawn_stack};

async fn state(stack: &TestStack, token: &str, id: &str) -> (i64, i64) {
    let (status, conversation) = stack
        .json(
            Method::GET,
            &format!("/api/v1/conversations/{id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{conversation}");
    (
        conversation["lastReadSeq"].as_i64().expect("lastReadSeq"),
        conversation["unreadCount"].as_i64().expect("unreadCount"),
    )
}

async fn read(stack: &TestStack, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
    stack
        .json(
            Method::POST,
            &format!("/api/v1/conversations/{id}/read"),
            token,
            Some(body),
        )
        .await
}

#[tokio::test]
async fn unread_counts_follow_sends_deletes_and_read_up_to() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let id = stack.conversation(&alice, &[&bob_id]).await;
    assert_eq!(state(&stack, &bob, &id).await, (0, 0));

    stack.send(&alice, &id, "one").await;
    let second = stack.send(&alice, &id, "two").await;
    stack.send(&alice, &id, "three").await;
    // The sender has read what they wrote; the other has three to read.
    assert_eq!(state(&stack, &alice, &id).await, (3, 0));
    assert_eq!(state(&stack, &bob, &id).await, (0, 3));

    // A deleted message is not counted.
    let second_id = second["id"].as_str().expect("id");
    let (status, _) = stack
        .json(
            Method::DELETE,
            &format!("/api/v1/messages/{second_id}"),
            &alice,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state(&stack, &bob, &id).await, (0, 2));

    let (status, marked) = read(&stack, &bob, &id, json!({"seq": 1})).await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(
        marked,
        json!({"conversationId": id, "userId": bob_id, "lastReadSeq": 1, "unreadCount": 1})
    );

    // Bob answers: his own message moves his read-up-to past everything before it.
    stack.send(&bob, &id, "four").await;
    assert_eq!(state(&stack, &bob, &id).await, (4, 0));
    assert_eq!(state(&stack, &alice, &id).await, (3, 1));

    // Never backwards: an older seq answers the current state.
    let (status, marked) = read(&stack, &bob, &id, json!({"seq": 2})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (marked["lastReadSeq"].clone(), marked["unreadCount"].clone()),
        (json!(4), json!(0))
    );

    // The list carries the same numbers, computed with it.
    let (_, list) = stack
        .json(Method::GET, "/api/v1/conversations", &alice, None)
        .await;
    assert_eq!(list["rows"][0]["lastReadSeq"], 3);
    assert_eq!(list["rows"][0]["unreadCount"], 1);
    assert_eq!(list["rows"][0]["lastMessage"]["content"], "four");
    assert_eq!(list["count"], 1);
    let _ = alice_id;
}

#[tokio::test]
async fn marking_read_refuses_bad_seqs_and_outsiders() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let (eve, _) = stack.user("Eve").await;
    let id = stack.conversation(&alice, &[&bob_id]).await;
    stack.send(&alice, &id, "one").await;

    let (status, body) = read(&stack, &bob, &id, json!({"seq": 2})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        json!(["Seq must not be beyond the latest message"])
    );

    for (bad, sentences) in [
        (json!({"seq": -1}), json!(["Seq must be at least 0"])),
        (json!({"seq": 1.5}), json!(["Seq must be an integer"])),
        (
            json!({"seq": "one"}),
            json!(["Seq must be at least 0", "Seq must be an integer"]),
        ),
        (
            json!({}),
            json!(["Seq must be at least 0", "Seq must be an integer"]),
        ),
    ] {
        let response = stack
            .call(
                Method::POST,
                &format!("/api/v1/conversations/{id}/read"),
                &bob,
                Some(bad),
            )
            .await;
        assert_eq!(
            error_body(response, StatusCode::BAD_REQUEST).await,
            sentences
        );
    }

    let response = stack
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{id}/read"),
            &eve,
            Some(json!({"seq": 1})),
        )
        .await;
    assert_eq!(
        error_body(response, StatusCode::NOT_FOUND).await,
        json!(format!("Conversation with ID {id} not found"))
    );
    // Eve learned nothing, and Bob's state is untouched.
    let (status, marked) = read(&stack, &bob, &id, json!({"seq": 0})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (marked["lastReadSeq"].clone(), marked["unreadCount"].clone()),
        (json!(0), json!(1))
    );
}
