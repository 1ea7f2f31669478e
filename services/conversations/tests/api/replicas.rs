//! Two conversations replicas on one database: each outbox row is published by one of them only.

use std::collections::HashMap;
use std::time::Duration;

use junqo_proto::auth::v1::SignUpRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{CreateConversationRequest, CreateMessageRequest};
use junqo_proto::events::v1::Event;
use junqo_proto::events::v1::event::Payload;
use prost::Message as _;
use testkit::{Services, TcpProxy, TestBroker, TestDatabase};
use tonic::transport::Channel;

use crate::helpers::{Actor, SECRET};

async fn connect(url: String) -> Channel {
    Channel::from_shared(url)
        .expect("valid url")
        .connect()
        .await
        .expect("the replica answers")
}

#[tokio::test]
async fn two_replicas_publish_each_event_once_when_the_broker_comes_back() {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, SECRET);
    services
        .env
        .set("OUTBOX_RELAY_INTERVAL_MS", "100")
        .set("OUTBOX_RELAY_GRACE_MS", "300");
    let auth = services.start::<auth::Application>().await;
    services.env.set("RABBITMQ_URL", proxy.amqp_url());
    let replicas = [
        connect(services.start::<conversations::Application>().await.url).await,
        connect(services.start::<conversations::Application>().await.url).await,
    ];
    let mut tap = broker.tap("conversation.*.message.created").await;

    let signed_up = AuthServiceClient::connect(auth.url)
        .await
        .expect("auth answers")
        .sign_up(SignUpRequest {
            name: Some("Alice".into()),
            email: Some(format!(
                "alice-{}@example.com",
                uuid::Uuid::new_v4().simple()
            )),
            r#type: Some("STUDENT".into()),
            password: Some("password123".into()),
        })
        .await
        .expect("sign-up succeeds")
        .into_inner();
    let alice = Actor {
        user_id: signed_up.user.expect("user").id,
        token: signed_up.token,
    };
    let conversation = ConversationsServiceClient::new(replicas[0].clone())
        .create_conversation(alice.call(CreateConversationRequest::default()))
        .await
        .expect("conversation created")
        .into_inner();
    // The creation event is published before the cut; only messages are counted below.

    proxy.cut();
    // Messages written through both replicas while neither reaches the broker: each replica holds a
    // claim on the rows it wrote.
    let mut sent = Vec::new();
    for i in 0..60 {
        let message = MessagesServiceClient::new(replicas[i % 2].clone())
            .create_message(alice.call(CreateMessageRequest {
                conversation_id: conversation.id.clone(),
                content: format!("message {i}"),
                client_message_id: None,
            }))
            .await
            .expect("stored while the broker is away")
            .into_inner();
        sent.push(message.id);
    }
    // Rows nobody holds, as if written by a third replica that died: both relays compete for them.
    // They copy stored events under new event ids.
    let mut raw = db.connect().await;
    let stored: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT routing_key, payload FROM conversations.outbox
             WHERE routing_key LIKE '%.message.created' LIMIT 20",
    )
    .fetch_all(&mut raw)
    .await
    .expect("outbox read");
    let mut orphans = Vec::new();
    for (routing_key, payload) in stored {
        let mut event = Event::decode(payload.as_slice()).expect("an event");
        let event_id = uuid::Uuid::new_v4();
        event.event_id = event_id.to_string();
        sqlx::query(
            "INSERT INTO conversations.outbox (event_id, routing_key, payload, created_at)
             VALUES ($1, $2, $3, now() - interval '1 minute')",
        )
        .bind(event_id)
        .bind(routing_key)
        .bind(event.encode_to_vec())
        .execute(&mut raw)
        .await
        .expect("orphan row inserted");
        orphans.push(event_id.to_string());
    }
    assert_eq!(orphans.len(), 20);
    // Long enough for every row to have been claimed and its claim renewed by the relays meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();

    // Every message event arrives, and the orphan copies (same payloads, new event ids).
    let mut by_event: HashMap<String, usize> = HashMap::new();
    let mut by_message: HashMap<String, usize> = HashMap::new();
    let expected_events = sent.len() + orphans.len();
    while by_event.len() < expected_events {
        let delivered = tap
            .next_within(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "only {} of {expected_events} events were published",
                    by_event.len()
                )
            });
        *by_event
            .entry(delivered.event.event_id.clone())
            .or_default() += 1;
        if let Some(Payload::MessageCreated(created)) = delivered.event.payload {
            *by_message
                .entry(created.message.expect("a message").id)
                .or_default() += 1;
        }
    }
    // Confirmed rows are marked published; once none is left unpublished nothing is published again.
    for _ in 0..100 {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversations.outbox WHERE published_at IS NULL",
        )
        .fetch_one(&mut raw)
        .await
        .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while let Some(late) = tap.next_within(Duration::from_secs(1)).await {
        *by_event.entry(late.event.event_id).or_default() += 1;
    }

    let twice: Vec<_> = by_event.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events published more than once: {twice:?}"
    );
    for id in &sent {
        assert!(
            by_message.contains_key(id),
            "message {id} was never published"
        );
    }
    for event_id in &orphans {
        assert_eq!(by_event.get(event_id), Some(&1), "orphan {event_id}");
    }
}
