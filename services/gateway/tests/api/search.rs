//! Full-text search over the caller's messages.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestStack, error_body, spawn_stack};

async fn search(stack: &TestStack, token: &str, query: &str) -> Value {
    let (status, body) = stack
        .json(
            Method::GET,
            &format!("/api/v1/messages/search?{query}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn contents(page: &Value) -> Vec<&str> {
    page["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect()
}

#[tokio::test]
async fn search_finds_whole_words_and_prefixes_in_the_callers_conversations_newest_first() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let (carol, carol_id) = stack.user("Carol").await;
    let with_bob = stack.conversation(&alice, &[&bob_id]).await;
    let with_carol = stack.conversation(&alice, &[&carol_id]).await;

    stack
        .send(&alice, &with_bob, "The INTERVIEW is on Monday")
        .await;
    let deleted = stack
        .send(&bob, &with_bob, "interview notes, to delete")
        .await;
    stack.send(&bob, &with_bob, "Größe und Straße").await;
    stack
        .send(&carol, &with_carol, "Another interview for you")
        .await;
    stack.send(&carol, &with_carol, "interviewer: me").await;
    let deleted_id = deleted["id"].as_str().expect("id");
    let (status, _) = stack
        .json(
            Method::DELETE,
            &format!("/api/v1/messages/{deleted_id}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Case-insensitive whole words; the last word is also a prefix; deleted messages never match.
    let page = search(&stack, &alice, "q=Interview").await;
    assert_eq!(
        contents(&page),
        [
            "interviewer: me",
            "Another interview for you",
            "The INTERVIEW is on Monday"
        ]
    );
    assert_eq!(page["count"], 3);
    assert_eq!(
        contents(&search(&stack, &alice, "q=interv").await),
        [
            "interviewer: me",
            "Another interview for you",
            "The INTERVIEW is on Monday"
        ]
    );
    // Every word must be there; words in any language.
    assert_eq!(
        contents(&search(&stack, &alice, "q=interview%20monday").await),
        ["The INTERVIEW is on Monday"]
    );
    assert_eq!(
        contents(&search(&stack, &alice, "q=gr%C3%B6%C3%9Fe").await),
        ["Größe und Straße"]
    );
    // A word inside another is not a match unless it is the prefix being typed.
    assert!(contents(&search(&stack, &alice, "q=view").await).is_empty());

    // Only the caller's conversations: Bob does not see Carol's.
    assert_eq!(
        contents(&search(&stack, &bob, "q=interview").await),
        ["The INTERVIEW is on Monday"]
    );
    // One conversation, a page size, and paging with before.
    let page = search(
        &stack,
        &alice,
        &format!("q=interv&conversationId={with_carol}&limit=1"),
    )
    .await;
    assert_eq!(contents(&page), ["interviewer: me"]);
    let before = page["rows"][0]["createdAt"].as_str().expect("createdAt");
    let next = search(
        &stack,
        &alice,
        &format!("q=interv&conversationId={with_carol}&before={before}"),
    )
    .await;
    assert_eq!(contents(&next), ["Another interview for you"]);
}

#[tokio::test]
async fn search_refuses_bad_input_and_conversations_the_caller_is_not_in() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (_, bob_id) = stack.user("Bob").await;
    let (eve, _) = stack.user("Eve").await;
    let id = stack.conversation(&alice, &[&bob_id]).await;

    let outsider = stack
        .call(
            Method::GET,
            &format!("/api/v1/messages/search?q=hello&conversationId={id}"),
            &eve,
            None,
        )
        .await;
    assert_eq!(
        error_body(outsider, StatusCode::NOT_FOUND).await,
        json!(format!("Conversation with ID {id} not found"))
    );
    let long = "a".repeat(201);
    for (query, sentences) in [
        ("", json!(["Query must be a string", "Query is required"])),
        ("q=", json!(["Query is required"])),
        (long.as_str(), json!([])),
        (
            "q=hi&limit=0&conversationId=x",
            json!([
                "Conversation ID must be a valid UUID",
                "Limit must be at least 1"
            ]),
        ),
    ] {
        if sentences == json!([]) {
            let response = stack
                .call(
                    Method::GET,
                    &format!("/api/v1/messages/search?q={query}"),
                    &alice,
                    None,
                )
                .await;
            assert_eq!(
                error_body(response, StatusCode::BAD_REQUEST).await,
                json!(["Query must be at most 200 characters long"])
            );
            continue;
        }
        let response = stack
            .call(
                Method::GET,
                &format!("/api/v1/messages/search?{query}"),
                &alice,
                None,
            )
            .await;
        assert_eq!(
            error_body(response, StatusCode::BAD_REQUEST).await,
            sentences,
            "{query}"
        );
    }
    // Punctuation alone holds no word: nothing matches.
    assert_eq!(
        search(&stack, &alice, "q=%21%3F").await,
        json!({"rows": [], "count": 0})
    );
}
