//! The OpenAPI document lists exactly what the router serves.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_stack;

/// Every public route of CONTRACT.md.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("get", "/auth/is-logged-in"),
    ("get", "/users/me"),
    ("patch", "/users/me"),
    ("delete", "/users/me"),
    ("post", "/conversations"),
    ("get", "/conversations"),
    ("get", "/conversations/{id}"),
    ("delete", "/conversations/{id}"),
    ("post", "/conversations/{id}/participants"),
    ("delete", "/conversations/{id}/participants"),
    ("get", "/conversations/{id}/title"),
    ("put", "/conversations/{id}/title"),
    ("delete", "/conversations/{id}/title"),
    ("get", "/conversations/{id}/messages"),
    ("post", "/conversations/{id}/messages"),
    ("get", "/messages/{id}"),
    ("patch", "/messages/{id}"),
    ("delete", "/messages/{id}"),
];

#[tokio::test]
async fn the_document_and_the_router_agree() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .get(stack.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );

    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut contract: Vec<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    contract.sort();
    assert_eq!(
        documented, contract,
        "the document lists every contract route and nothing else"
    );

    // Each documented route is served: the router answers it (401 without a token, or a real answer),
    // never with its fallback 404 or a 405.
    let some_id = uuid::Uuid::new_v4().to_string();
    for (method, path) in &documented {
        let url = stack.url(&format!("/api/v1{}", path.replace("{id}", &some_id)));
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let response = stack
            .http
            .request(method.clone(), url)
            .send()
            .await
            .expect("sent");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !body.contains("Cannot "),
            "{method} {path} is not routed: {body}"
        );
    }

    let docs = stack
        .http
        .get(stack.url("/api/v1/docs/"))
        .send()
        .await
        .expect("sent");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.expect("body").contains("swagger"),
        "a browsable docs page"
    );
}
