//! A NUL character in any text a service stores is refused with 400 and a sentence naming the field,
//! by the service that owns the field. Postgres refuses NUL in text, so it used to surface as a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{error_body, spawn_stack};

const NUL: &str = "a\u{0}b";

#[tokio::test]
async fn user_names_and_emails_refuse_nul_while_passwords_take_any_character() {
    let stack = &spawn_stack().await;
    let valid = json!({"name": "Alice", "email": "alice@example.com", "type": "STUDENT", "password": "password123"});
    let register = |field: &str, value: &str| {
        let mut body = valid.clone();
        body[field] = json!(value);
        async move { stack.post("/api/v1/auth/register", &body).await }
    };

    assert_eq!(
        error_body(
            register("name", "Ali\u{0}ce").await,
            StatusCode::BAD_REQUEST
        )
        .await,
        json!(["Name must not contain null characters"])
    );
    assert_eq!(
        error_body(
            register("email", "alice@exa\u{0}mple.com").await,
            StatusCode::BAD_REQUEST
        )
        .await,
        json!([
            "Email must be a valid email address",
            "Email must not contain null characters"
        ])
    );
    let login = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "alice\u{0}@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(
        error_body(login, StatusCode::BAD_REQUEST).await,
        json!([
            "Email must be a valid email address",
            "Email must not contain null characters"
        ])
    );

    // Only a password's hash is stored, so a NUL in it is as good as any other character.
    let with_nul = "pass\u{0}word1";
    assert_eq!(
        register("password", with_nul).await.status(),
        StatusCode::CREATED
    );
    let signed_in = stack
        .post(
            "/api/v1/auth/login",
            &json!({"email": "alice@example.com", "password": with_nul}),
        )
        .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let token = signed_in.json::<Value>().await.expect("JSON")["token"]
        .as_str()
        .expect("token")
        .to_owned();

    for (field, value, expected) in [
        (
            "name",
            "Ali\u{0}ce",
            json!(["Name must not contain null characters"]),
        ),
        (
            "email",
            "alice@exa\u{0}mple.com",
            json!([
                "Email must be a valid email address",
                "Email must not contain null characters"
            ]),
        ),
    ] {
        let patched = stack
            .call(
                Method::PATCH,
                "/api/v1/users/me",
                &token,
                // Changing the email needs the current password (here, the one with a NUL).
                Some(json!({ field: value, "currentPassword": with_nul })),
            )
            .await;
        assert_eq!(
            error_body(patched, StatusCode::BAD_REQUEST).await,
            expected,
            "{field}"
        );
    }
    let me: Value = stack
        .get_with("/api/v1/users/me", &token)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        (me["name"].as_str(), me["email"].as_str()),
        (Some("Alice"), Some("alice@example.com"))
    );
}

#[tokio::test]
async fn titles_contents_and_client_message_ids_refuse_nul() {
    let stack = spawn_stack().await;
    let (alice, _) = stack.user("Alice").await;

    let titled = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": [], "title": NUL})),
        )
        .await;
    assert_eq!(
        error_body(titled, StatusCode::BAD_REQUEST).await,
        json!(["Title must not contain null characters"])
    );

    let created: Value = stack
        .call(
            Method::POST,
            "/api/v1/conversations",
            &alice,
            Some(json!({"participantsIds": []})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let id = created["id"].as_str().expect("id");

    let retitled = stack
        .call(
            Method::PUT,
            &format!("/api/v1/conversations/{id}/title"),
            &alice,
            Some(json!({"title": NUL})),
        )
        .await;
    assert_eq!(
        error_body(retitled, StatusCode::BAD_REQUEST).await,
        json!(["Title must not contain null characters"])
    );

    let messages = format!("/api/v1/conversations/{id}/messages");
    let posted = stack
        .call(
            Method::POST,
            &messages,
            &alice,
            Some(json!({"content": NUL})),
        )
        .await;
    assert_eq!(
        error_body(posted, StatusCode::BAD_REQUEST).await,
        json!(["Content must not contain null characters"])
    );
    let with_client_id = stack
        .call(
            Method::POST,
            &messages,
            &alice,
            Some(json!({"content": NUL, "clientMessageId": NUL})),
        )
        .await;
    assert_eq!(
        error_body(with_client_id, StatusCode::BAD_REQUEST).await,
        json!([
            "Content must not contain null characters",
            "Client message ID must not contain null characters"
        ])
    );

    let message: Value = stack
        .call(
            Method::POST,
            &messages,
            &alice,
            Some(json!({"content": "hello"})),
        )
        .await
        .json()
        .await
        .expect("JSON");
    let message_id = message["id"].as_str().expect("id");
    let edited = stack
        .call(
            Method::PATCH,
            &format!("/api/v1/messages/{message_id}"),
            &alice,
            Some(json!({"content": NUL})),
        )
        .await;
    assert_eq!(
        error_body(edited, StatusCode::BAD_REQUEST).await,
        json!(["Content must not contain null characters"])
    );

    let history: Value = stack
        .get_with(&messages, &alice)
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(history["count"], 1, "only the valid message was stored");
    assert_eq!(history["rows"][0]["content"], "hello");
}
