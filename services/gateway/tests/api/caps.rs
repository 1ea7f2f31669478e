//! Count caps that hold whatever `RATE_LIMITS` says: participants per conversation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_body, spawn_stack_with_every};

#[tokio::test]
async fn a_conversation_cannot_grow_past_its_participant_cap() {
    let stack = spawn_stack_with_every(|env| {
        env.set("CONVERSATION_MAX_PARTICIPANTS", "3");
    })
    .await;
    let (alice, _) = stack.user("Alice").await;
    let (_, bob) = stack.user("Bob").await;
    let (_, carol) = stack.user("Carol").await;
    let (_, dave) = stack.user("Dave").await;

    // The creator takes one of the three places.
    let strangers: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let response = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": strangers})),
        )
        .await;
    assert_eq!(
        error_body(response, StatusCode::BAD_REQUEST).await,
        json!(["participantsIds must contain no more than 2 elements"])
    );

    let response = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": [bob, carol]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<serde_json::Value>().await.expect("JSON")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let path = format!("/api/v1/conversations/{id}/participants");
    let response = stack
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"participantsIds": [dave]})),
        )
        .await;
    assert_eq!(
        error_body(response, StatusCode::BAD_REQUEST).await,
        json!(["participantsIds would take the conversation past 3 participants"])
    );
    // Someone already in takes no new place.
    let response = stack
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"participantsIds": [bob]})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
