use std::collections::HashSet;

use junqo_proto::events::v1::event::Payload;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_stack};

async fn conversation(stack: &crate::helpers::TestStack, token: &str, others: &[&str]) -> String {
    let created: Value = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            token,
            Some(json!({"participantsIds": others})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    created["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_posted_message_is_stored_readable_and_published() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let id = conversation(&stack, &alice, &[&bob_id]).await;
    let mut tap = stack
        .broker
        .tap(&format!("conversation.{id}.message.created"))
        .await;

    let posted = stack
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            &alice,
            Some(json!({"content": "Hello Bob"})),
        )
        .await;
    assert_eq!(posted.status(), StatusCode::CREATED);
    let message: Value = posted.json().await.expect("JSON");
    assert_eq!(message["senderId"], alice_id);
    assert_eq!(message["conversationId"], id);
    assert_eq!(message["content"], "Hello Bob");
    assert_eq!(message["readStatus"], json!([]));
    assert_eq!(message["seq"], 1);
    let created_at = message["createdAt"].as_str().expect("createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok() && created_at.ends_with('Z'),
        "{created_at}"
    );

    let event = tap.next().await;
    match event.event.payload {
        Some(Payload::MessageCreated(created)) => {
            assert_eq!(
                created.message.map(|m| m.id),
                message["id"].as_str().map(str::to_owned)
            );
        }
        other => panic!("expected message.created, got {other:?}"),
    }

    let message_id = message["id"].as_str().expect("id");
    let read: Value = stack
        .get_with(&format!("/api/v1/messages/{message_id}"), &bob)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(read["content"], "Hello Bob");
}

#[tokio::test]
async fn the_sender_comes_from_the_token_and_content_is_validated() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (_, bob_id) = stack.user("Bob").await;
    let id = conversation(&stack, &alice, &[&bob_id]).await;
    let path = format!("/api/v1/conversations/{id}/messages");

    let spoofed = stack
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"content": "hi", "senderId": bob_id})),
        )
        .await;
    assert_eq!(
        error_body(spoofed, StatusCode::BAD_REQUEST).await,
        json!(["property senderId should not exist"])
    );
    let missing = stack
        .call(Method::POST, &path, &alice, Some(json!({})))
        .await;
    assert_eq!(
        error_body(missing, StatusCode::BAD_REQUEST).await,
        json!(["Content must be a string", "Content is required"])
    );
    let empty = stack
        .call(Method::POST, &path, &alice, Some(json!({"content": ""})))
        .await;
    assert_eq!(
        error_body(empty, StatusCode::BAD_REQUEST).await,
        json!(["Content is required"])
    );
    let huge = stack
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"content": "x".repeat(10_001)})),
        )
        .await;
    assert_eq!(
        error_body(huge, StatusCode::BAD_REQUEST).await,
        json!(["Content must be at most 10000 characters long"])
    );
}

#[tokio::test]
async fn history_pages_with_before_return_each_message_exactly_once() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let id = conversation(&stack, &alice, &[]).await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let sends = (0..30).map(|i| {
        stack.call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"content": format!("m{i}")})),
        )
    });
    for response in futures::future::join_all(sends).await {
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query = match &before {
            Some(at) => format!("{path}?limit=8&before={at}"),
            None => format!("{path}?limit=8"),
        };
        let page: Value = stack
            .get_with(&query, &alice)
            .await
            .json()
            .await
            .expect("JSON");
        let rows = page["rows"].as_array().expect("rows").clone();
        if rows.is_empty() {
            break;
        }
        assert_eq!(page["count"], rows.len());
        before = rows
            .last()
            .and_then(|m| m["createdAt"].as_str())
            .map(str::to_owned);
        seen.extend(rows.iter().map(|m| m["seq"].as_i64().expect("seq")));
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<i64>>());
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 30);

    let caught_up: Value = stack
        .get_with(&format!("{path}?afterSeq=27"), &alice)
        .await
        .json()
        .await
        .expect("JSON");
    let seqs: Vec<i64> = caught_up["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, [28, 29, 30]);

    let bad = stack
        .get_with(&format!("{path}?limit=0&before=yesterday"), &alice)
        .await;
    assert_eq!(
        error_body(bad, StatusCode::BAD_REQUEST).await,
        json!(["Limit must be at least 1", "Before must be a valid date"])
    );
}

#[tokio::test]
async fn only_the_sender_edits_or_deletes_unless_admin() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let id = conversation(&stack, &alice, &[&bob_id]).await;
    let message: Value = stack
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            &alice,
            Some(json!({"content": "tpyo"})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let path = format!("/api/v1/messages/{}", message["id"].as_str().expect("id"));

    let by_bob = stack
        .call(
            Method::PATCH,
            &path,
            &bob,
            Some(json!({"content": "hacked"})),
        )
        .await;
    assert_eq!(
        error_body(by_bob, StatusCode::FORBIDDEN).await,
        "You do not have permission to update this message"
    );
    let fixed = stack
        .call(
            Method::PATCH,
            &path,
            &alice,
            Some(json!({"content": "typo"})),
        )
        .await;
    assert_eq!(fixed.status(), StatusCode::OK);
    assert_eq!(
        fixed.json::<Value>().await.expect("JSON")["content"],
        "typo"
    );

    let admin = stack.admin().await;
    let moderated = stack
        .call(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"content": "[removed]"})),
        )
        .await;
    assert_eq!(moderated.status(), StatusCode::OK);

    let delete_by_bob = stack.call(Method::DELETE, &path, &bob, None).await;
    assert_eq!(
        error_body(delete_by_bob, StatusCode::FORBIDDEN).await,
        "You do not have permission to delete this message"
    );
    assert_eq!(
        stack
            .call(Method::DELETE, &path, &alice, None)
            .await
            .status(),
        StatusCode::OK
    );
    let gone = stack.get_with(&path, &alice).await;
    let message_id = message["id"].as_str().expect("id");
    assert_eq!(
        error_body(gone, StatusCode::NOT_FOUND).await,
        format!("Message #{message_id} not found")
    );
}
