//! One REST-posted message yields one trace with spans from the gateway, the conversations service and
//! the realtime instance that delivers it; one message sent on a socket yields one trace from the socket
//! event on realtime, through the conversations service, to its delivery. The four services run as
//! separate processes (the real binaries, as deployed), exporting over OTLP to a collector inside this
//! test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::process;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::{Value, json};
use testkit::{TestBroker, TestDatabase, sio};
use tokio::net::TcpListener;
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

impl Collector {
    /// The spans (`service: name`) of the first trace that has a span `root` accepts and, for every
    /// entry of `wanted`, a span whose `service: name` starts with it; waiting on exports (not on a
    /// clock) for at most 15 s.
    async fn trace(&self, root: impl Fn(&ExportedSpan) -> bool, wanted: &[&str]) -> Vec<String> {
        let found = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let arrived = self.arrived.notified();
                {
                    let spans = self.spans.lock().expect("collector lock");
                    for root in spans.iter().filter(|s| root(s)) {
                        let names: Vec<String> = spans
                            .iter()
                            .filter(|s| s.trace_id == root.trace_id)
                            .map(|s| format!("{}: {}", s.service, s.name))
                            .collect();
                        if wanted
                            .iter()
                            .all(|w| names.iter().any(|n| n.starts_with(w)))
                        {
                            return names;
                        }
                    }
                }
                arrived.await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            let spans = self.spans.lock().expect("collector lock");
            panic!("no single trace holds {wanted:#?}; exported: {:#?}", *spans)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_one_trace_across_the_services_whether_posted_over_rest_or_sent_on_a_socket() {
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
    let mut env = process::base_env(&db, &broker);
    env.insert("OTEL_EXPORTER_OTLP_ENDPOINT".into(), collector_url);
    env.insert("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into());
    let auth = process::start("auth", &env).await;
    env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{}", auth.port));
    let conversations = process::start("conversations", &env).await;
    env.insert(
        "CONVERSATIONS_URL".into(),
        format!("http://127.0.0.1:{}", conversations.port),
    );
    let realtime = process::start("realtime", &env).await;
    let realtime_port = realtime.port;
    env.insert(
        "REALTIME_URL".into(),
        format!("http://127.0.0.1:{realtime_port}"),
    );
    let gateway = process::start("gateway", &env).await;
    let gateway_port = gateway.port;
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
    let delivered = sio::wait_for(&mut events, Duration::from_secs(10), |(name, _)| {
        name == "receiveMessage"
    })
    .await;
    assert!(
        delivered.is_some(),
        "the message reaches the socket in the room"
    );

    let names = collector
        .trace(
            |s| {
                s.service == "junqo-gateway"
                    && s.name.starts_with("POST ")
                    && s.name.ends_with("/messages")
            },
            &[
                "junqo-conversations: /junqo.conversations.v1.MessagesService/CreateMessage",
                "junqo-realtime: deliver message.created",
            ],
        )
        .await;
    println!("one trace: {names:#?}");

    // The same message path from a socket: the realtime event span is the root, and its gRPC call
    // carries the trace on to conversations, the broker and the delivery.
    let sent = socket
        .ask(
            "sendMessage",
            json!({"conversationId": conversation, "content": "traced by socket"}),
        )
        .await
        .expect("ack");
    assert_eq!(sent["success"], true, "{sent}");
    let delivered = sio::wait_for(&mut events, Duration::from_secs(10), |(name, body)| {
        name == "receiveMessage" && body["content"] == "traced by socket"
    })
    .await;
    assert!(delivered.is_some(), "the socket-sent message is delivered");
    let names = collector
        .trace(
            |s| s.service == "junqo-realtime" && s.name == "sendMessage",
            &[
                "junqo-conversations: /junqo.conversations.v1.MessagesService/CreateMessage",
                "junqo-realtime: deliver message.created",
            ],
        )
        .await;
    println!("one trace from the socket: {names:#?}");
}
