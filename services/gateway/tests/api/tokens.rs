//! Every way a token can be wrong gets 401 on a protected route.

use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{SECRET, error_body, spawn_stack};

fn claims_for(user: &Value, exp: i64) -> Value {
    json!({
        "sub": user["id"], "userName": user["name"], "userType": user["type"], "email": user["email"],
        "iat": Utc::now().timestamp() - 10, "exp": exp, "iss": "junqo-auth",
    })
}

fn sign(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("claims serialize")
}

fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = engine.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    format!("{header}.{}.", engine.encode(claims.to_string()))
}

#[tokio::test]
async fn users_me_needs_a_valid_current_token_signed_by_us() {
    let stack = spawn_stack().await;
    let registered = stack.register("Alice", "alice@example.com").await;
    let user = &registered["user"];
    let in_an_hour = Utc::now().timestamp() + 3600;

    // Sanity: a well-formed token signed with our secret is accepted, so the refusals below are real.
    let ours = sign(SECRET, &claims_for(user, in_an_hour));
    assert_eq!(
        stack.get_with("/api/v1/users/me", &ours).await.status(),
        StatusCode::OK
    );

    let missing = stack
        .http
        .get(stack.url("/api/v1/users/me"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        error_body(missing, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );

    let mut wrong_issuer = claims_for(user, in_an_hour);
    wrong_issuer["iss"] = json!("evil");
    let refused = [
        (
            "expired",
            sign(SECRET, &claims_for(user, Utc::now().timestamp() - 1)),
        ),
        ("alg none", unsigned(&claims_for(user, in_an_hour))),
        (
            "another secret",
            sign("not-our-secret", &claims_for(user, in_an_hour)),
        ),
        ("another issuer", sign(SECRET, &wrong_issuer)),
        (
            "a service token",
            jwt::ServiceSigner::new(&secrecy::SecretString::from(SECRET), "realtime")
                .sign(user["id"].as_str().and_then(|id| id.parse().ok()))
                .expect("signs"),
        ),
        ("garbage", "garbage".to_owned()),
    ];
    for (case, token) in refused {
        let response = stack.get_with("/api/v1/users/me", &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    }

    let basic = stack
        .http
        .get(stack.url("/api/v1/users/me"))
        .header("Authorization", format!("Basic {ours}"))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}
