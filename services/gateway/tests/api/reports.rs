//! Reporting a message, and the moderators' queue (admins only).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{error_body, spawn_stack};

#[tokio::test]
async fn a_participant_reports_a_message_once_and_an_admin_closes_it() {
    let stack = spawn_stack().await;
    let (alice, alice_id) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let admin = stack.admin().await;
    let id = stack.conversation(&alice, &[&bob_id]).await;
    let message = stack.send(&bob, &id, "something rude").await;
    let message_id = message["id"].as_str().expect("id");
    let path = format!("/api/v1/messages/{message_id}/report");

    let (status, report) = stack
        .json(Method::POST, &path, &alice, Some(json!({"reason": "Rude"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["messageId"], message_id);
    assert_eq!(report["reporterId"], alice_id);
    assert_eq!(report["reason"], "Rude");
    assert_eq!(report["status"], "open");
    assert!(report["id"].is_string() && report["createdAt"].is_string());
    assert_eq!(report.as_object().map(|o| o.len()), Some(6), "{report}");

    let again = stack
        .call(
            Method::POST,
            &path,
            &alice,
            Some(json!({"reason": "Still rude"})),
        )
        .await;
    assert_eq!(
        error_body(again, StatusCode::CONFLICT).await,
        json!("Message already reported")
    );

    // The sender edits the message afterwards: the moderators see it as it was reported.
    let (status, _) = stack
        .json(
            Method::PATCH,
            &format!("/api/v1/messages/{message_id}"),
            &bob,
            Some(json!({"content": "something nice"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, queue) = stack
        .json(Method::GET, "/api/v1/reports?status=open", &admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!(queue["count"], 1);
    assert_eq!(queue["rows"][0]["id"], report["id"]);
    assert_eq!(queue["rows"][0]["messageContent"], "something rude");
    assert_eq!(queue["rows"][0]["messageSenderId"], bob_id);

    let report_path = format!("/api/v1/reports/{}", report["id"].as_str().expect("id"));
    let (status, closed) = stack
        .json(
            Method::PATCH,
            &report_path,
            &admin,
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "resolved");
    let (_, open) = stack
        .json(Method::GET, "/api/v1/reports?status=open", &admin, None)
        .await;
    assert_eq!(open, json!({"rows": [], "count": 0}));
    let (_, resolved) = stack
        .json(
            Method::GET,
            "/api/v1/reports?status=resolved&limit=5&offset=0",
            &admin,
            None,
        )
        .await;
    assert_eq!(resolved["count"], 1);

    // Closed, the message may be reported again.
    let (status, _) = stack
        .json(
            Method::POST,
            &path,
            &alice,
            Some(json!({"reason": "Again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn reports_refuse_outsiders_non_admins_and_bad_input() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;
    let (bob, bob_id) = stack.user("Bob").await;
    let (eve, _) = stack.user("Eve").await;
    let admin = stack.admin().await;
    let id = stack.conversation(&alice, &[&bob_id]).await;
    let message = stack.send(&bob, &id, "hello").await;
    let message_id = message["id"].as_str().expect("id");
    let path = format!("/api/v1/messages/{message_id}/report");

    let outsider = stack
        .call(Method::POST, &path, &eve, Some(json!({"reason": "Spam"})))
        .await;
    assert_eq!(
        error_body(outsider, StatusCode::NOT_FOUND).await,
        json!(format!("Message #{message_id} not found"))
    );
    for (body, sentences) in [
        (
            json!({}),
            json!(["Reason must be a string", "Reason is required"]),
        ),
        (json!({"reason": "  "}), json!(["Reason is required"])),
        (
            json!({"reason": "x".repeat(501)}),
            json!(["Reason must be at most 500 characters long"]),
        ),
        (json!({"reason": 5}), json!(["Reason must be a string"])),
    ] {
        let response = stack.call(Method::POST, &path, &alice, Some(body)).await;
        assert_eq!(
            error_body(response, StatusCode::BAD_REQUEST).await,
            sentences
        );
    }

    let (_, report) = stack
        .json(
            Method::POST,
            &path,
            &alice,
            Some(json!({"reason": "x".repeat(500)})),
        )
        .await;
    let report_path = format!("/api/v1/reports/{}", report["id"].as_str().expect("id"));
    for token in [&alice, &bob] {
        let list = stack
            .call(Method::GET, "/api/v1/reports", token, None)
            .await;
        assert_eq!(
            error_body(list, StatusCode::FORBIDDEN).await,
            json!("Forbidden resource")
        );
        let close = stack
            .call(
                Method::PATCH,
                &report_path,
                token,
                Some(json!({"status": "dismissed"})),
            )
            .await;
        assert_eq!(close.status(), StatusCode::FORBIDDEN);
    }
    let bad = stack
        .call(
            Method::PATCH,
            &report_path,
            &admin,
            Some(json!({"status": "open"})),
        )
        .await;
    assert_eq!(
        error_body(bad, StatusCode::BAD_REQUEST).await,
        json!(["Status must be one of the following values: resolved, dismissed"])
    );
    let bad = stack
        .call(Method::GET, "/api/v1/reports?status=closed", &admin, None)
        .await;
    assert_eq!(
        error_body(bad, StatusCode::BAD_REQUEST).await,
        json!(["Status must be one of the following values: open, resolved, dismissed"])
    );
    let missing = uuid::Uuid::new_v4();
    let gone = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/reports/{missing}"),
            &admin,
            Some(json!({"status": "dismissed"})),
        )
        .await;
    assert_eq!(
        error_body(gone, StatusCode::NOT_FOUND).await,
        json!(format!("Report with ID {missing} not found"))
    );
}
