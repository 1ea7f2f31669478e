use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_stack};

#[tokio::test]
async fn a_conversation_is_created_read_listed_and_deleted_by_its_participants() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;

    let created = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": [bob_id], "title": "Internship"})),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("JSON");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["participantsIds"], json!([alice_id, bob_id]));
    assert_eq!(created["title"], "Internship");
    assert_eq!(created["lastMessage"], Value::Null);
    for field in ["offerId", "applicationId", "createdAt", "updatedAt"] {
        assert!(created.get(field).is_some(), "{field} is present");
    }

    let seen: Value = stack
        .get_with(&format!("/api/v1/conversations/{id}"), &bob)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(seen["id"], id);

    let list: Value = stack
        .get_with("/api/v1/conversations", &bob)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(list["count"], 1);
    assert_eq!(list["rows"][0]["id"], id);

    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/api/v1/conversations/{id}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = stack
        .get_with(&format!("/api/v1/conversations/{id}"), &alice)
        .await;
    assert_eq!(
        error_body(gone, StatusCode::NOT_FOUND).await,
        format!("Conversation with ID {id} not found")
    );
}

#[tokio::test]
async fn bad_input_is_refused_with_the_original_sentences() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let post = |body: Value| stack.call(Method::POST, "/api/v1/conversations", &alice, Some(body));

    let not_array = post(json!({"participantsIds": "nope"})).await;
    assert_eq!(
        error_body(not_array, StatusCode::BAD_REQUEST).await,
        json!(["Participants must be an array"])
    );
    let bad_ids = post(json!({"participantsIds": ["nope"], "offerId": "x"})).await;
    assert_eq!(
        error_body(bad_ids, StatusCode::BAD_REQUEST).await,
        json!([
            "Each participant ID must be a valid UUID",
            "Offer ID must be a valid UUID"
        ])
    );
    let long_title = post(json!({"participantsIds": [], "title": "t".repeat(51)})).await;
    assert_eq!(
        error_body(long_title, StatusCode::BAD_REQUEST).await,
        json!(["The title length must be shorter than 50"])
    );
    let ghost = uuid::Uuid::new_v4();
    let unknown = post(json!({"participantsIds": [ghost]})).await;
    assert_eq!(
        error_body(unknown, StatusCode::BAD_REQUEST).await,
        format!("Participant {ghost} does not exist")
    );
    let extra = post(json!({"participantsIds": [], "senderId": "me"})).await;
    assert_eq!(
        error_body(extra, StatusCode::BAD_REQUEST).await,
        json!(["property senderId should not exist"])
    );

    let not_uuid = stack.get_with("/api/v1/conversations/123", &alice).await;
    assert_eq!(
        error_body(not_uuid, StatusCode::BAD_REQUEST).await,
        "Validation failed (uuid v 4 is expected)"
    );

    let bad_query = stack
        .get_with(
            "/api/v1/conversations?limit=abc&offset=-1&participantId=x",
            &alice,
        )
        .await;
    assert_eq!(
        error_body(bad_query, StatusCode::BAD_REQUEST).await,
        json!([
            "Participant ID must be a valid UUID",
            "Limit must be at least 1",
            "Limit must be an integer",
            "Offset must be at least 0"
        ])
    );
    let unknown_param = stack
        .get_with("/api/v1/conversations?sort=asc", &alice)
        .await;
    assert_eq!(
        error_body(unknown_param, StatusCode::BAD_REQUEST).await,
        json!(["property sort should not exist"])
    );
}

#[tokio::test]
async fn outsiders_get_404_and_learn_nothing_while_admins_get_in() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (eve, _) = stack.user("Eve").await;
    let created: Value = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": [], "title": "secret plans"})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let id = created["id"].as_str().expect("id");
    let missing = uuid::Uuid::new_v4();

    for (method, path, body) in [
        (Method::GET, format!("/api/v1/conversations/{id}"), None),
        (Method::DELETE, format!("/api/v1/conversations/{id}"), None),
        (
            Method::GET,
            format!("/api/v1/conversations/{id}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{id}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::GET,
            format!("/api/v1/conversations/{id}/title"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{id}/participants"),
            Some(json!({"participantsIds": []})),
        ),
    ] {
        let response = stack.call(method.clone(), &path, &eve, body).await;
        let text = response.text().await.expect("body");
        assert!(
            text.contains("\"statusCode\":404"),
            "{method} {path}: {text}"
        );
        assert!(!text.contains("secret plans"), "nothing leaks: {text}");
    }
    let nonexistent = stack
        .get_with(&format!("/api/v1/conversations/{missing}"), &eve)
        .await;
    assert_eq!(
        error_body(nonexistent, StatusCode::NOT_FOUND).await,
        format!("Conversation with ID {missing} not found")
    );

    let admin = stack.admin().await;
    let as_admin = stack
        .get_with(&format!("/api/v1/conversations/{id}"), &admin)
        .await;
    assert_eq!(as_admin.status(), StatusCode::OK);
}

#[tokio::test]
async fn participants_and_personal_titles() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let (_, carol_id) = stack.user("Carol").await;
    let created: Value = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": [bob_id]})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let id = created["id"].as_str().expect("id");
    let path = |rest: &str| format!("/api/v1/conversations/{id}{rest}");

    let added = stack
        .call(
            Method::POST,
            &path("/participants"),
            &bob,
            Some(json!({"participantsIds": [carol_id]})),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    assert_eq!(
        added.json::<Value>().await.expect("JSON")["participantsIds"],
        json!([alice_id, bob_id, carol_id])
    );
    let not_array = stack
        .call(
            Method::POST,
            &path("/participants"),
            &bob,
            Some(json!({"participantsIds": 1})),
        )
        .await;
    assert_eq!(
        error_body(not_array, StatusCode::BAD_REQUEST).await,
        json!(["Participants to add must be an array"])
    );

    let removed = stack
        .call(
            Method::DELETE,
            &path("/participants"),
            &bob,
            Some(json!({"participantsIds": [carol_id]})),
        )
        .await;
    assert_eq!(
        removed.json::<Value>().await.expect("JSON")["participantsIds"],
        json!([alice_id, bob_id])
    );
    let everyone = stack
        .call(
            Method::DELETE,
            &path("/participants"),
            &bob,
            Some(json!({"participantsIds": [alice_id, bob_id]})),
        )
        .await;
    assert_eq!(
        error_body(everyone, StatusCode::FORBIDDEN).await,
        "Cannot remove all participants from a conversation"
    );

    let none = stack.get_with(&path("/title"), &bob).await;
    assert_eq!(none.status(), StatusCode::OK);
    assert_eq!(none.text().await.expect("body"), "");
    let set = stack
        .call(
            Method::PUT,
            &path("/title"),
            &bob,
            Some(json!({"title": "Alice's offer"})),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(
        set.json::<Value>().await.expect("JSON"),
        json!({"userId": bob_id, "conversationId": id, "title": "Alice's offer"})
    );
    let bobs_view: Value = stack
        .get_with(&path(""), &bob)
        .await
        .json()
        .await
        .expect("JSON");
    let alices_view: Value = stack
        .get_with(&path(""), &alice)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(bobs_view["title"], "Alice's offer");
    assert_eq!(
        alices_view["title"],
        Value::Null,
        "bob's title does not change alice's view"
    );

    let too_long = stack
        .call(
            Method::PUT,
            &path("/title"),
            &bob,
            Some(json!({"title": "t".repeat(51)})),
        )
        .await;
    assert_eq!(
        error_body(too_long, StatusCode::BAD_REQUEST).await,
        json!(["The title length must be shorter than 50"])
    );
    let deleted = stack
        .call(Method::DELETE, &path("/title"), &bob, None)
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let again = stack
        .call(Method::DELETE, &path("/title"), &bob, None)
        .await;
    assert_eq!(
        error_body(again, StatusCode::NOT_FOUND).await,
        format!("Title for user {bob_id} in conversation {id} not found")
    );
}

#[tokio::test]
async fn lists_follow_the_newest_activity() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (_, bob_id) = stack.user("Bob").await;
    let (_, carol_id) = stack.user("Carol").await;
    let mut ids = Vec::new();
    for other in [&bob_id, &carol_id] {
        let created: Value = stack
            .call(
                Method::POST,
                "/api/v1/conversations",
                &alice,
                Some(json!({"participantsIds": [other]})),
            )
            .await
            .json()
            .await
            .expect("JSON");
        ids.push(created["id"].as_str().expect("id").to_owned());
    }
    // The first conversation gets a message, so it becomes the most recent.
    stack
        .call(
            Method::POST,
            &format!("/api/v1/conversations/{}/messages", ids[0]),
            &alice,
            Some(json!({"content": "ping"})),
        )
        .await;
    let list: Value = stack
        .get_with("/api/v1/conversations?limit=10&offset=0", &alice)
        .await
        .json()
        .await
        .expect("JSON");
    let order: Vec<&str> = list["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(order, [ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(list["rows"][0]["lastMessage"]["content"], "ping");
    let filtered: Value = stack
        .get_with(
            &format!("/api/v1/conversations?participantId={carol_id}"),
            &alice,
        )
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(filtered["count"], 1);
    assert_eq!(filtered["rows"][0]["id"], ids[1]);
}
