//! One REST-posted message yields one trace with spans from the gateway, the conversations service and
//! the realtime instance that delivers it. The four services run as separate processes (the real
//! binaries, as deployed), exporting over OTLP to a collector inside this test.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{Value, json};
use testkit::{TestBroker, TestDatabase, sio};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;

#[derive(Debug, Clone)]
struct ExportedSpan {
    service: String,
    trace_id: String,
    name: String,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<ExportedSpan>>>,
    arrived: Arc<Notify>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut spans = self.spans.lock().expect("collector lock");
        for resource_spans in &request.get_ref().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| match &v.value {
                    Some(AnyValue::StringValue(name)) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    spans.push(ExportedSpan {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        name: span.name.clone(),
                    });
                }
            }
        }
        drop(spans);
        self.arrived.notify_waiters();
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A service binary built by `cargo test --workspace`, next to this test's own executable.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the workspace tests (cargo test --workspace)",
        path.display()
    );
    path
}

/// Starts a service binary and waits for its "listening" log line; returns the child and its port.
async fn start(name: &str, env: &HashMap<String, String>) -> (Child, u16) {
    let mut child = Command::new(binary(name))
        .envs(env)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the service starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let port = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{name} did not report listening within 30 s"))
            .expect("log is readable")
            .unwrap_or_else(|| panic!("{name} exited before listening"));
        if let Ok(entry) = serde_json::from_str::<Value>(&line)
            && entry["message"]
                .as_str()
                .is_some_and(|m| m.contains("listening"))
            && let Some(port) = entry["port"].as_u64()
        {
            break u16::try_from(port).expect("a port");
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_posted_message_is_one_trace_across_gateway_conversations_and_realtime() {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let collector_url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("bound").port()
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut env: HashMap<String, String> = db
        .env_pairs()
        .into_iter()
        .chain(broker.env_pairs())
        .collect();
    for (key, value) in [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("JWT_SECRET", "trace-test-secret".into()),
        ("BIND_ADDRESS", "127.0.0.1".into()),
        ("LOG_FORMAT", "json".into()),
        ("RUST_LOG", "info".into()),
        ("AUTH_PORT", "0".into()),
        ("CONVERSATIONS_PORT", "0".into()),
        ("REALTIME_PORT", "0".into()),
        ("GATEWAY_PORT", "0".into()),
        ("ADMIN_PORT", "0".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector_url),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ] {
        env.insert(key.into(), value);
    }
    let (_auth, auth_port) = start("auth", &env).await;
    env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{auth_port}"));
    let (_conversations, conversations_port) = start("conversations", &env).await;
    env.insert(
        "CONVERSATIONS_URL".into(),
        format!("http://127.0.0.1:{conversations_port}"),
    );
    let (_realtime, realtime_port) = start("realtime", &env).await;
    env.insert(
        "REALTIME_URL".into(),
        format!("http://127.0.0.1:{realtime_port}"),
    );
    let (_gateway, gateway_port) = start("gateway", &env).await;
    let api = |path: &str| format!("http://127.0.0.1:{gateway_port}/api/v1{path}");
    let http = reqwest::Client::new();

    let mut tokens = Vec::new();
    for name in ["Alice", "Bob"] {
        let body: Value = http
            .post(api("/auth/register"))
            .json(&json!({"name": name, "email": format!("{}@example.com", name.to_lowercase()), "type": "STUDENT", "password": "password123"}))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("JSON");
        tokens.push((
            body["token"].as_str().expect("token").to_owned(),
            body["user"]["id"].as_str().expect("id").to_owned(),
        ));
    }
    let (alice, _) = &tokens[0];
    let (bob, bob_id) = &tokens[1];
    let created: Value = http
        .post(api("/conversations"))
        .bearer_auth(alice)
        .json(&json!({"participantsIds": [bob_id]}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    let conversation = created["id"].as_str().expect("id").to_owned();

    let (socket, mut events) = sio::connect(&format!("http://127.0.0.1:{realtime_port}"), bob)
        .await
        .expect("socket");
    assert_eq!(
        socket
            .ask("joinRoom", json!({"conversationId": conversation}))
            .await
            .expect("ack")["success"],
        true
    );
    let posted = http
        .post(api(&format!("/conversations/{conversation}/messages")))
        .bearer_auth(alice)
        .json(&json!({"content": "traced"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(posted.status(), 201);
    loop {
        let (name, _) = events.recv().await.expect("the socket stays open");
        if name == "receiveMessage" {
            break;
        }
    }

    // Wait (on exports, not on a clock) until one trace holds spans from all three services.
    let wanted: HashSet<&str> = ["junqo-gateway", "junqo-conversations", "junqo-realtime"].into();
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let arrived = collector.arrived.notified();
            {
                let spans = collector.spans.lock().expect("collector lock");
                let post = spans.iter().find(|s| {
                    s.service == "junqo-gateway"
                        && s.name.starts_with("POST ")
                        && s.name.ends_with("/messages")
                });
                if let Some(post) = post {
                    let services: HashSet<&str> = spans
                        .iter()
                        .filter(|s| s.trace_id == post.trace_id)
                        .map(|s| s.service.as_str())
                        .collect();
                    if wanted.is_subset(&services) {
                        let names: Vec<String> = spans
                            .iter()
                            .filter(|s| s.trace_id == post.trace_id)
                            .map(|s| format!("{}: {}", s.service, s.name))
                            .collect();
                        return names;
                    }
                }
            }
            arrived.await;
        }
    })
    .await;
    let names = found.unwrap_or_else(|_| {
        let spans = collector.spans.lock().expect("collector lock");
        panic!(
            "no single trace spans the three services; exported: {:#?}",
            *spans
        )
    });
    println!("one trace: {names:#?}");
    assert!(
        names.iter().any(|n| n.starts_with(
            "junqo-conversations: /junqo.conversations.v1.MessagesService/CreateMessage"
        )),
        "{names:#?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "junqo-realtime: deliver message.created"),
        "{names:#?}"
    );
}
