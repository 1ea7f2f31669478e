//! The conversations service's RabbitMQ connection cut (through a TCP proxy) while messages of many
//! conversations are being published in batches per shard: batches whose confirm never came are published
//! again, whole, by the relay, and realtime hands each event to its rooms once. Members receive every
//! acknowledged message exactly once, in `seq` order, whichever batch (or repeat) carried it.

use std::time::Duration;

use e2e::JWT_SECRET;
use e2e::users::{self, User};
use futures::future::join_all;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{CreateConversationRequest, CreateMessageRequest};
use serde_json::json;
use testkit::sio::{self, Incoming};
use testkit::{Services, TcpProxy, TestBroker, TestDatabase};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(60);
const ROOMS: usize = 6;
const PER_ROOM: i64 = 60;

struct Stack {
    realtime_url: String,
    channel: Channel,
    proxy: TcpProxy,
    db: TestDatabase,
    _broker: TestBroker,
    _services: Services,
}

/// Conversations publishes through the proxy; realtime consumes from the broker itself. Few shards, so
/// every batch holds several rooms' events.
async fn start() -> Stack {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, JWT_SECRET);
    services.env.set("RATE_LIMITS", "off");
    services.env.set("EVENT_SHARDS", "2");
    services.start::<auth::Application>().await;
    services.env.set(
        "RABBITMQ_URL",
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port),
    );
    services.env.set("OUTBOX_RELAY_INTERVAL_MS", "200");
    services.env.set("OUTBOX_RELAY_GRACE_MS", "500");
    let conversations = services.start::<conversations::Application>().await;
    services.env.set("RABBITMQ_URL", broker.url.clone());
    let realtime = services.start::<realtime::Application>().await;
    let channel = Channel::from_shared(conversations.url)
        .expect("a url")
        .connect()
        .await
        .expect("conversations answers");
    Stack {
        realtime_url: realtime.url,
        channel,
        proxy,
        db,
        _broker: broker,
        _services: services,
    }
}

async fn conversation(stack: &Stack, owner: &User, other: &User) -> String {
    ConversationsServiceClient::new(stack.channel.clone())
        .create_conversation(owner.call(CreateConversationRequest {
            participant_ids: vec![other.id.to_string()],
            ..Default::default()
        }))
        .await
        .expect("created")
        .into_inner()
        .id
}

async fn send(stack: &Stack, who: &User, room: &str, content: String) -> i64 {
    MessagesServiceClient::new(stack.channel.clone())
        .create_message(who.call(CreateMessageRequest {
            conversation_id: room.to_owned(),
            content,
            client_message_id: None,
        }))
        .await
        .expect("acknowledged")
        .into_inner()
        .seq
}

/// The `seq` of every `receiveMessage` of `room`, in arrival order, until `last` arrives.
async fn received_until(
    events: &mut UnboundedReceiver<Incoming>,
    room: &str,
    last: i64,
) -> Vec<i64> {
    let mut seqs = Vec::new();
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some((name, body)) = events.recv().await {
            if name == "receiveMessage" && body["conversationId"] == room {
                let seq = body["seq"].as_i64().expect("a seq");
                seqs.push(seq);
                if seq == last {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        outcome,
        Ok(true),
        "seq {last} within {WAIT:?}; received {} messages, the last {:?}",
        seqs.len(),
        seqs.last()
    );
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_receive_every_message_once_in_order_when_the_publisher_loses_the_broker_mid_batch()
{
    let stack = start().await;
    let people = users::insert(&stack.db, ROOMS + 1).await;
    let sender = &people[ROOMS];
    let mut rooms = Vec::new();
    let mut members = Vec::new();
    for member in &people[..ROOMS] {
        let room = conversation(&stack, sender, member).await;
        let (client, events) = sio::connect(&stack.realtime_url, &member.token)
            .await
            .expect("connected");
        let ack = client
            .ask("joinRoom", json!({ "conversationId": room }))
            .await
            .expect("ack");
        assert_eq!(ack["success"], true, "{ack}");
        rooms.push(room);
        members.push((client, events));
    }

    // Every room at once, so the publisher's wakes carry events of several rooms per shard; the
    // connection is cut halfway through, while batches are in flight.
    let last: Vec<i64> = join_all(rooms.iter().enumerate().map(|(r, room)| {
        let stack = &stack;
        async move {
            let mut last = 0;
            for i in 0..PER_ROOM {
                if r == 0 && i == PER_ROOM / 2 {
                    stack.proxy.cut();
                }
                last = send(stack, sender, room, format!("message {i}")).await;
            }
            last
        }
    }))
    .await;
    stack.proxy.restore();

    for ((room, last), (_client, events)) in rooms.iter().zip(&last).zip(&mut members) {
        assert_eq!(*last, PER_ROOM);
        assert_eq!(
            received_until(events, room, *last).await,
            (1..=*last).collect::<Vec<_>>(),
            "every acknowledged message of {room}, once, in seq order"
        );
    }
}
