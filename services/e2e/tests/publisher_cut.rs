//! The conversations service's RabbitMQ connection cut (through a TCP proxy) while messages of many
//! conversations are being published in batches per shard: batches whose confirm never came are published
//! again, whole, by the relay, and realtime hands each event to its rooms once. Members receive every
//! acknowledged message exactly once, in `seq` order, whichever batch (or repeat) carried it.

use std::time::Duration;

use e2e::JWT_SECRET;
use e2e::chat;
use e2e::users;
use futures::future::join_all;
use testkit::{Services, TcpProxy, TestBroker, TestDatabase};
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
    services.env.set("RABBITMQ_URL", proxy.amqp_url());
    services.env.set("OUTBOX_RELAY_INTERVAL_MS", "200");
    services.env.set("OUTBOX_RELAY_GRACE_MS", "500");
    let conversations = services.start::<conversations::Application>().await;
    services.env.set("RABBITMQ_URL", broker.url.clone());
    let realtime = services.start::<realtime::Application>().await;
    let channel = chat::connect(conversations.url).await;
    Stack {
        realtime_url: realtime.url,
        channel,
        proxy,
        db,
        _broker: broker,
        _services: services,
    }
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
        let room = chat::conversation(&stack.channel, sender, &[member]).await;
        members.push(chat::member(&stack.realtime_url, member, &room).await);
        rooms.push(room);
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
                last = chat::send(&stack.channel, sender, room, format!("message {i}")).await;
            }
            last
        }
    }))
    .await;
    stack.proxy.restore();

    for ((room, last), (_client, events)) in rooms.iter().zip(&last).zip(&mut members) {
        assert_eq!(*last, PER_ROOM);
        assert_eq!(
            chat::received_until(events, room, *last, WAIT).await,
            (1..=*last).collect::<Vec<_>>(),
            "every acknowledged message of {room}, once, in seq order"
        );
    }
}
