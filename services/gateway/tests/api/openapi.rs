//! The OpenAPI document lists exactly what the router serves, and a maintained validator accepts it as
//! OpenAPI 3.1 (client generators refuse what it refuses).

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_stack;

/// Every public route of CONTRACT.md, and those added since.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/auth/register"),
    ("post", "/auth/login"),
    ("get", "/auth/is-logged-in"),
    // Issue 9: the original's client declares logout; logout-all ends every session.
    ("post", "/auth/logout"),
    ("post", "/auth/logout-all"),
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
    // Issue 13: read-up-to, blocking, reporting, search.
    ("post", "/conversations/{id}/read"),
    ("put", "/users/{id}/block"),
    ("delete", "/users/{id}/block"),
    ("get", "/users/me/blocked"),
    ("post", "/messages/{id}/report"),
    ("get", "/reports"),
    ("patch", "/reports/{id}"),
    ("get", "/messages/search"),
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

/// Where `scripts/test.sh` installs the maintained OpenAPI validator (openapi-spec-validator, pinned there).
fn validator_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/deploy-checks/bin/python")
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let python = validator_python();
    let installed = Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        installed,
        "the OpenAPI validator is missing: run scripts/test.sh once, which installs openapi-spec-validator \
         into target/deploy-checks ({} not found or without it)",
        python.display()
    );

    let stack = spawn_stack().await;
    let document = stack
        .http
        .get(stack.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    let file = std::env::temp_dir().join(format!("junqo-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, &document).expect("document written");
    let outcome = Command::new(&python)
        .args([
            "-m",
            "openapi_spec_validator",
            "--schema",
            "3.1",
            "--validation-errors",
            "all",
        ])
        .arg(&file)
        .output()
        .expect("the validator runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        outcome.status.success(),
        "openapi-spec-validator refuses /api/v1/openapi.json:\n{}{}",
        String::from_utf8_lossy(&outcome.stdout),
        String::from_utf8_lossy(&outcome.stderr)
    );
}
