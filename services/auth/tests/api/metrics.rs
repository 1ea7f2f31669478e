//! auth's own metrics on its admin port: sign-ups and sign-ins by outcome, and the hashing queue.

use junqo_proto::auth::v1::SignInRequest;

use crate::helpers::{TestApp, spawn_app};

/// The sum of every sample of `name` whose labels contain `labels` (tests share one recorder per
/// process, so callers compare before and after).
async fn scrape(app: &TestApp, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", app.admin_url))
        .await
        .expect("the admin port answers")
        .text()
        .await
        .expect("Prometheus text");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| series.split('{').next() == Some(name) && series.contains(labels))
        .filter_map(|(_, value)| value.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn sign_ups_and_sign_ins_are_counted_by_outcome() {
    let app = spawn_app().await;
    let counters = [
        ("auth_sign_ups_total", r#"outcome="success""#),
        ("auth_sign_ups_total", r#"outcome="email_taken""#),
        ("auth_sign_ins_total", r#"outcome="success""#),
        ("auth_sign_ins_total", r#"outcome="refused""#),
        ("auth_password_hashes_total", ""),
    ];
    let mut before = Vec::new();
    for (name, labels) in counters {
        before.push(scrape(&app, name, labels).await);
    }

    app.sign_up("Alice", "alice@example.com").await;
    let taken = app
        .client
        .clone()
        .sign_up(crate::helpers::sign_up_request(
            "Alice",
            "alice@example.com",
            "STUDENT",
            "password123",
        ))
        .await;
    assert!(taken.is_err(), "the email is taken");
    let mut client = app.client.clone();
    for (password, accepted) in [("password123", true), ("wrong password", false)] {
        let answer = client
            .sign_in(SignInRequest {
                email: Some("alice@example.com".into()),
                password: Some(password.into()),
            })
            .await;
        assert_eq!(answer.is_ok(), accepted);
    }

    // One sign-up, one taken email, one sign-in, one refusal; three hashes (sign-up, two verifications).
    let expected = [1.0, 1.0, 1.0, 1.0, 3.0];
    for (((name, labels), before), grew_by) in counters.into_iter().zip(before).zip(expected) {
        let after = scrape(&app, name, labels).await;
        assert!(
            after - before >= grew_by,
            "{name}{{{labels}}} went from {before} to {after}"
        );
    }
    let text = reqwest::get(format!("{}/metrics", app.admin_url))
        .await
        .expect("the admin port answers")
        .text()
        .await
        .expect("Prometheus text");
    assert!(
        text.contains("auth_password_hash_queue_depth"),
        "the hashing queue's depth is exposed"
    );
}
