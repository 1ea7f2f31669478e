//! `/metrics` on every service is Prometheus text, and its counters move with traffic.

use std::collections::HashMap;

use std::time::Duration;

use e2e::{Stack, process};
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::auth::v1::{SignInRequest, SignUpRequest};
use serde_json::{Value, json};
use testkit::{TestBroker, TestDatabase, sio};

/// Samples of a Prometheus text exposition, keyed by the line's name and labels as written. Fails on
/// any line that is not a comment, blank, or `name{labels} value`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        samples.insert(series.to_owned(), value);
    }
    samples
}

fn total(samples: &HashMap<String, f64>, prefix: &str, containing: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.starts_with(prefix) && containing.iter().all(|c| series.contains(c))
        })
        .map(|(_, value)| value)
        .sum()
}

async fn scrape(http: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let response = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics answer");
    assert!(
        response.status().is_success(),
        "{url}/metrics: {}",
        response.status()
    );
    parse(&response.text().await.expect("text"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_exposes_metrics_that_follow_traffic() {
    let stack = Stack::start(|_| {}).await;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", stack.gateway_url);

    let register = |name: &'static str| {
        let http = http.clone();
        let url = api("/auth/register");
        async move {
            let body: Value = http
                .post(url)
                .json(&json!({"name": name, "email": format!("{}@example.com", name.to_lowercase()), "type": "STUDENT", "password": "password123"}))
                .send()
                .await
                .expect("sent")
                .json()
                .await
                .expect("JSON");
            (
                body["token"].as_str().expect("token").to_owned(),
                body["user"]["id"].as_str().expect("id").to_owned(),
            )
        }
    };
    let (alice, _) = register("Alice").await;
    let (bob, bob_id) = register("Bob").await;
    let created: Value = http
        .post(api("/conversations"))
        .bearer_auth(&alice)
        .json(&json!({"participantsIds": [bob_id]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let conversation = created["id"].as_str().expect("id").to_owned();

    // A live socket in the room, so realtime binds it and consumes the message's event.
    let (socket, mut events) = sio::connect(&stack.realtime_a_url, &bob)
        .await
        .expect("socket connects");
    let joined = socket
        .ask("joinRoom", json!({"conversationId": conversation}))
        .await
        .expect("ack");
    assert_eq!(joined["success"], true);
    let posted = http
        .post(api(&format!("/conversations/{conversation}/messages")))
        .bearer_auth(&alice)
        .json(&json!({"content": "counted"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 201);
    let delivered = sio::wait_for(&mut events, Duration::from_secs(10), |(name, _)| {
        name == "receiveMessage"
    })
    .await;
    assert!(
        delivered.is_some(),
        "the message reaches the socket in the room"
    );

    let gateway = scrape(&http, &stack.gateway_url).await;
    assert!(
        total(
            &gateway,
            "gateway_http_requests_total",
            &[
                r#"route="/api/v1/conversations/{id}/messages""#,
                r#"status="201""#
            ]
        ) >= 1.0,
        "gateway counts the POST per declared route"
    );
    assert!(total(&gateway, "gateway_http_request_duration_seconds_count", &[]) >= 4.0);

    let auth = scrape(&http, &stack.auth_admin_url).await;
    assert!(
        total(
            &auth,
            "auth_grpc_requests_total",
            &[r#"method="SignUp""#, r#"code="0""#]
        ) >= 2.0
    );
    assert!(total(&auth, "auth_password_hashes_total", &[]) >= 2.0);

    let conversations = scrape(&http, &stack.conversations_admin_url).await;
    assert!(total(&conversations, "conversations_messages_written_total", &[]) >= 1.0);
    assert!(total(&conversations, "conversations_events_published_total", &[]) >= 2.0);
    assert!(
        total(
            &conversations,
            "conversations_grpc_requests_total",
            &[r#"method="CreateMessage""#]
        ) >= 1.0
    );
    assert!(
        total(
            &conversations,
            "conversations_db_pool_connections",
            &[r#"state="open""#]
        ) >= 1.0
    );

    let realtime = scrape(&http, &stack.realtime_a_url).await;
    assert!(
        total(
            &realtime,
            "realtime_events_consumed_total",
            &[r#"kind="message.created""#]
        ) >= 1.0
    );
    assert!(
        total(
            &realtime,
            "realtime_socket_events_total",
            &[r#"event="joinRoom""#, r#"status="200""#]
        ) >= 1.0
    );
    assert!(total(&realtime, "realtime_connected_sockets", &[]) >= 1.0);
    assert!(total(&realtime, "realtime_rooms", &[]) >= 1.0);
}

/// A lone auth process (nothing else in it installs a metrics recorder) counts from its first request:
/// the first scrape after a sign-up and a sign-in shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_auth_process_exposes_its_own_metrics() {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let auth = process::start("auth", &process::base_env(&db, &broker)).await;
    let mut client = AuthServiceClient::connect(format!("http://127.0.0.1:{}", auth.port))
        .await
        .expect("auth answers");
    client
        .sign_up(SignUpRequest {
            name: Some("Alice".into()),
            email: Some("alice@example.com".into()),
            r#type: Some("STUDENT".into()),
            password: Some("password123".into()),
        })
        .await
        .expect("signed up");
    client
        .sign_in(SignInRequest {
            email: Some("alice@example.com".into()),
            password: Some("password123".into()),
        })
        .await
        .expect("signed in");

    let admin = format!(
        "http://127.0.0.1:{}",
        auth.admin_port.expect("auth reports its admin port")
    );
    let samples = scrape(&reqwest::Client::new(), &admin).await;
    let success = [r#"outcome="success""#];
    assert_eq!(total(&samples, "auth_sign_ups_total", &success), 1.0);
    assert_eq!(total(&samples, "auth_sign_ins_total", &success), 1.0);
    assert_eq!(total(&samples, "auth_password_hashes_total", &[]), 2.0);
    assert_eq!(
        total(&samples, "auth_password_hash_queue_depth", &[]),
        0.0,
        "nothing waits once both are answered"
    );
    assert!(
        samples
            .keys()
            .any(|series| series.starts_with("auth_password_hash_queue_depth")),
        "the queue depth is exposed"
    );
    assert!(
        total(
            &samples,
            "auth_grpc_requests_total",
            &[r#"method="SignUp""#, r#"code="0""#]
        ) >= 1.0
    );
}
