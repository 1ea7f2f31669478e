use std::time::Duration;

use junqo_proto::conversations::v1::CreateMessageRequest;
use junqo_proto::events::v1::event::Payload;
use testkit::TcpProxy;

use crate::helpers::{spawn, spawn_with};

#[tokio::test]
async fn a_new_message_is_published_in_its_shards_batch_with_its_fields_and_id_and_no_made_up_trace()
 {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let mut tap = service
        .broker
        .tap(&format!("conversation.{}.message.*", conversation.id))
        .await;

    let message = service.send(&alice, &conversation, "published?").await;
    let delivered = tap.next().await;

    assert_eq!(
        delivered.routing_key,
        format!("conversation.{}.message.created", conversation.id)
    );
    let id = uuid::Uuid::parse_str(&conversation.id).expect("uuid");
    assert!(delivered.batched, "inside an EventBatch");
    assert_eq!(
        delivered.amqp_routing_key,
        broker::shard_key(broker::EventShards::default().of(&id))
    );
    assert!(uuid::Uuid::parse_str(&delivered.event.event_id).is_ok());
    assert!(delivered.persistent);
    // Tracing is off in this service and the caller sent no trace context: none is invented (with
    // tracing on, the event carries the call's own context: e2e `tracing.rs`).
    assert_eq!(delivered.traceparent, None);
    assert_eq!(delivered.event.conversation_id, conversation.id);
    match delivered.event.payload {
        Some(Payload::MessageCreated(created)) => assert_eq!(created.message, Some(message)),
        other => panic!("expected message.created, got {other:?}"),
    }

    // Confirmed events are marked published, and kept as the conversation's event log.
    let mut db = service.db.connect().await;
    let mut left: i64 = 1;
    for _ in 0..50 {
        left = sqlx::query_scalar(
            "SELECT count(*) FROM conversations.outbox WHERE published_at IS NULL",
        )
        .fetch_one(&mut db)
        .await
        .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left, 0, "confirmed events are marked published");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations.outbox")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(
        kept, 2,
        "the conversation's creation and the message are kept"
    );
}

#[tokio::test]
async fn a_message_event_carries_the_callers_trace_context() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let mut tap = service
        .broker
        .tap(&format!("conversation.{}.message.*", conversation.id))
        .await;

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut request = alice.call(CreateMessageRequest {
        conversation_id: conversation.id.clone(),
        content: "traced".into(),
        client_message_id: None,
    });
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("metadata value"));
    service
        .messages
        .clone()
        .create_message(request)
        .await
        .expect("message sent");

    let delivered = tap.next().await;
    assert!(delivered.batched);
    assert_eq!(
        delivered.event.traceparent, traceparent,
        "each event of a batch carries its own trace context"
    );
    assert_eq!(delivered.traceparent.as_deref(), Some(traceparent));
}

#[tokio::test]
async fn membership_changes_are_published() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let mut tap = service.broker.tap("conversation.*.participants.*").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    match tap.next().await.event.payload {
        Some(Payload::ParticipantsAdded(added)) => {
            assert_eq!(added.user_ids, [alice.user_id.clone(), bob.user_id.clone()]);
            assert_eq!(added.by_user_id, alice.user_id);
        }
        other => panic!("expected participants.added, got {other:?}"),
    }
    let _ = conversation;
}

#[tokio::test]
async fn an_event_the_broker_missed_is_relayed_once_it_is_back() {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let service = spawn_with(|env| {
        env.set("RABBITMQ_URL", proxy.amqp_url());
    })
    .await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    let mut tap = service.broker.tap("conversation.*.message.created").await;

    proxy.cut();
    let message = service
        .send(&alice, &conversation, "sent while the broker was away")
        .await;
    assert!(
        tap.next_within(Duration::from_millis(1500)).await.is_none(),
        "nothing can be published while the broker is unreachable"
    );

    proxy.restore();
    let delivered = tap.next().await;
    match delivered.event.payload {
        Some(Payload::MessageCreated(created)) => {
            assert_eq!(created.message.map(|m| m.id), Some(message.id))
        }
        other => panic!("expected the missed message, got {other:?}"),
    }
}

#[tokio::test]
async fn a_republished_event_keeps_its_event_id() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    let mut tap = service.broker.tap("conversation.*.message.created").await;
    service.send(&alice, &conversation, "once or twice").await;
    let first = tap.next().await;

    // As if the process died after publishing but before deleting the row: the row is back.
    let mut db = service.db.connect().await;
    sqlx::query(
        "INSERT INTO conversations.outbox (event_id, routing_key, payload, created_at)
         VALUES ($1, $2, $3, now() - interval '1 minute')",
    )
    .bind(uuid::Uuid::parse_str(&first.event.event_id).expect("uuid"))
    .bind(&first.routing_key)
    .bind(prost::Message::encode_to_vec(&first.event))
    .execute(&mut db)
    .await
    .expect("row restored");

    let duplicate = tap.next().await;
    assert_eq!(duplicate.event.event_id, first.event.event_id);
    assert_eq!(duplicate.amqp_routing_key, first.amqp_routing_key);
    assert_eq!(duplicate.event, first.event);
}

/// Messages in many conversations (so in several shards), sent concurrently (so batched together), with
/// the broker connection cut while they are being published: batches whose confirm never came are
/// published again by the relay, whole. Every event arrives, each shard's events in `seq` order per
/// conversation apart from the repeats, which keep their event ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_a_batch_cut_off_mid_publish_still_arrives_with_its_id() {
    const CONVERSATIONS: usize = 8;
    const PER_CONVERSATION: usize = 40;
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let service = spawn_with(|env| {
        env.set("RABBITMQ_URL", proxy.amqp_url());
        env.set("EVENT_SHARDS", "4");
        env.set("OUTBOX_RELAY_INTERVAL_MS", "200");
        env.set("OUTBOX_RELAY_GRACE_MS", "500");
    })
    .await;
    let alice = service.user("Alice").await;
    let mut conversations = Vec::new();
    for _ in 0..CONVERSATIONS {
        conversations.push(service.conversation(&alice, &[]).await);
    }
    let mut tap = service.broker.tap("conversation.*.message.created").await;

    let sent: Vec<Vec<String>> =
        futures::future::join_all(conversations.iter().enumerate().map(|(c, conversation)| {
            let service = &service;
            let proxy = &proxy;
            let alice = &alice;
            async move {
                let mut ids = Vec::new();
                for i in 0..PER_CONVERSATION {
                    // The first sender cuts the connection halfway, while the others keep sending.
                    if c == 0 && i == PER_CONVERSATION / 2 {
                        proxy.cut();
                    }
                    let message = service
                        .send(alice, conversation, &format!("message {i}"))
                        .await;
                    ids.push(message.id);
                }
                ids
            }
        }))
        .await;
    proxy.restore();

    let expected: std::collections::HashSet<String> = sent.into_iter().flatten().collect();
    let mut received = std::collections::HashSet::new();
    let mut event_of_message = std::collections::HashMap::new();
    let mut shards = std::collections::HashSet::new();
    while received.len() < expected.len() {
        let Some(delivered) = tap.next_within(Duration::from_secs(20)).await else {
            panic!(
                "{} of {} messages arrived; none for 20 s",
                received.len(),
                expected.len()
            );
        };
        assert!(delivered.batched);
        shards.insert(delivered.amqp_routing_key.clone());
        let Some(Payload::MessageCreated(created)) = delivered.event.payload else {
            panic!("expected message.created");
        };
        let message = created.message.expect("a message").id;
        // A repeat (the batch was published again) keeps the event id of the first time.
        let event_id = event_of_message
            .entry(message.clone())
            .or_insert(delivered.event.event_id.clone());
        assert_eq!(*event_id, delivered.event.event_id);
        received.insert(message);
    }
    assert_eq!(received, expected);
    assert!(shards.len() > 1, "several shards: {shards:?}");
}
