//! Realtime's RabbitMQ connection cut (through a TCP proxy) while messages keep being sent: members who
//! stayed connected still receive every acknowledged message exactly once, in `seq` order, and the
//! edits and deletions made meanwhile (the broker keeps realtime's queue through a short loss); and when
//! the queue itself was lost, the rooms are filled from the conversations service after the
//! reconnection (every durable event: messages, edits, deletions, receipts, once and in order) and a
//! participant removed meanwhile stops receiving (memberships are re-checked).

use std::time::Duration;

use e2e::JWT_SECRET;
use e2e::chat;
use e2e::users::{self, User};
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{
    CreateMessageRequest, MessageRef, ParticipantsRequest, UpdateMessageRequest,
};
use serde_json::json;
use testkit::sio::{self, Incoming};
use testkit::{Services, TcpProxy, TestBroker, TestDatabase};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(60);
/// How long the broker stays unreachable: longer than realtime's first reconnection attempts.
const CUT: Duration = Duration::from_secs(3);

struct Stack {
    realtime_url: String,
    channel: Channel,
    proxy: TcpProxy,
    db: TestDatabase,
    _broker: TestBroker,
    _services: Services,
}

/// Auth and conversations on the broker itself; realtime through the proxy, its queue kept by the
/// broker for `queue_expires_ms` once its connection is gone.
async fn start(queue_expires_ms: u64) -> Stack {
    let proxy = TcpProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, JWT_SECRET);
    services.env.set("RATE_LIMITS", "off");
    services.start::<auth::Application>().await;
    let conversations = services.start::<conversations::Application>().await;
    services
        .env
        .set("EVENT_QUEUE_EXPIRES_MS", queue_expires_ms.to_string());
    services.env.set("RABBITMQ_URL", proxy.amqp_url());
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

async fn conversation(stack: &Stack, owner: &User, others: &[&User]) -> String {
    chat::conversation(&stack.channel, owner, others).await
}

async fn send(stack: &Stack, who: &User, room: &str, content: String) -> i64 {
    chat::send(&stack.channel, who, room, content).await
}

async fn member(
    stack: &Stack,
    who: &User,
    room: &str,
) -> (sio::Client, UnboundedReceiver<Incoming>) {
    chat::member(&stack.realtime_url, who, room).await
}

/// Sends for `during`, one message every 10 ms (in order); returns the last acknowledged `seq`.
async fn send_for(stack: &Stack, who: &User, room: &str, during: Duration) -> i64 {
    let mut last = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let started = tokio::time::Instant::now();
    let mut i = 0;
    while started.elapsed() < during {
        tick.tick().await;
        last = send(stack, who, room, format!("message {i}")).await;
        i += 1;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_who_stay_connected_receive_every_message_once_in_order_through_a_broker_cut() {
    // The queue is gone by the time the connection is back: the rooms are filled from the store.
    let stack = start(1_000).await;
    let people = users::insert(&stack.db, 3).await;
    let (alice, bob, carol) = (&people[0], &people[1], &people[2]);
    let room = conversation(&stack, alice, &[bob, carol]).await;
    let (_bob, mut bob_events) = member(&stack, bob, &room).await;
    let (_carol, mut carol_events) = member(&stack, carol, &room).await;

    let before = send_for(&stack, alice, &room, Duration::from_secs(1)).await;
    stack.proxy.cut();
    let during = send_for(&stack, alice, &room, CUT).await;
    stack.proxy.restore();
    let after = send_for(&stack, alice, &room, Duration::from_secs(1)).await;
    assert!(during > before && after > during);
    assert!(after >= 300, "several hundred messages: {after}");

    for events in [&mut bob_events, &mut carol_events] {
        assert_eq!(
            chat::received_until(events, &room, after, WAIT).await,
            (1..=after).collect::<Vec<_>>(),
            "every acknowledged message, once, in seq order"
        );
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_removed_while_the_broker_was_away_stops_receiving_after_the_reconnection() {
    let stack = start(1_000).await;
    let people = users::insert(&stack.db, 3).await;
    let (alice, bob, carol) = (&people[0], &people[1], &people[2]);
    let room = conversation(&stack, alice, &[bob, carol]).await;
    let (_bob, mut bob_events) = member(&stack, bob, &room).await;
    let (carol_client, mut carol_events) = member(&stack, carol, &room).await;
    let first = send(&stack, alice, &room, "before".into()).await;
    chat::received_until(&mut carol_events, &room, first, WAIT).await;

    stack.proxy.cut();
    // The removal event is routed while realtime's queue is gone (it expires within the cut): it never
    // arrives.
    ConversationsServiceClient::new(stack.channel.clone())
        .remove_participants(alice.call(ParticipantsRequest {
            conversation_id: room.clone(),
            participant_ids: vec![carol.id.to_string()],
        }))
        .await
        .expect("removed");
    let during = send(&stack, alice, &room, "while away".into()).await;
    // The outage lasts (a fault of a few seconds, as in the test above), so realtime loses its queue
    // and retries before the broker is back.
    tokio::time::sleep(CUT).await;
    stack.proxy.restore();

    // After the reconnection the room is filled (Bob gets what was sent meanwhile) and Carol's membership
    // checked again: she leaves the room, and Bob is told. The fill and the check run side by side, so
    // either may reach Bob first.
    let (mut filled, mut left) = (false, false);
    let seen = tokio::time::timeout(WAIT, async {
        while !(filled && left) {
            let Some((name, body)) = bob_events.recv().await else {
                break;
            };
            filled |= name == "receiveMessage" && body["seq"] == during;
            left |= name == "userLeaveRoom" && body["userId"] == carol.id.to_string();
        }
    })
    .await;
    assert!(
        seen.is_ok() && filled,
        "Bob gets the message sent while away"
    );
    assert!(left, "Carol is taken out of the room");

    let marker = send(&stack, alice, &room, "after".into()).await;
    chat::received_until(&mut bob_events, &room, marker, WAIT).await;
    // Anything emitted to Carol before Bob got the marker is queued on her socket before this ack.
    let ack = carol_client
        .ask("getOnlineUsers", json!({}))
        .await
        .expect("ack");
    assert_eq!(ack["success"], true, "{ack}");
    let mut carol_seqs = Vec::new();
    while let Ok((name, body)) = carol_events.try_recv() {
        if name == "receiveMessage" {
            carol_seqs.push(body["seq"].as_i64().expect("a seq"));
        }
    }
    assert!(
        !carol_seqs.contains(&marker),
        "Carol, removed, receives nothing more: {carol_seqs:?}"
    );
}

/// Waits for the socket event `name` about message `id`; its body.
async fn event_about(
    events: &mut UnboundedReceiver<Incoming>,
    name: &str,
    id: &str,
) -> serde_json::Value {
    let found = sio::wait_for(events, WAIT, |(event, body)| {
        event == name && (body["id"] == id || body["messageId"] == id)
    })
    .await;
    found
        .map(|(_, body)| body)
        .unwrap_or_else(|| panic!("{name} for {id} within {WAIT:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletions_made_during_a_short_broker_cut_reach_members_who_stayed_connected() {
    // The default keeps the queue far longer than the cut.
    let stack = start(30_000).await;
    let people = users::insert(&stack.db, 2).await;
    let (alice, bob) = (&people[0], &people[1]);
    let room = conversation(&stack, alice, &[bob]).await;
    let (_bob, mut bob_events) = member(&stack, bob, &room).await;
    let mut messages = MessagesServiceClient::new(stack.channel.clone());
    let mut ids = Vec::new();
    for content in ["to edit", "to delete"] {
        let sent = messages
            .create_message(alice.call(CreateMessageRequest {
                conversation_id: room.clone(),
                content: content.into(),
                client_message_id: None,
            }))
            .await
            .expect("acknowledged")
            .into_inner();
        ids.push(sent.id);
    }
    chat::received_until(&mut bob_events, &room, 2, WAIT).await;

    stack.proxy.cut();
    messages
        .update_message(alice.call(UpdateMessageRequest {
            message_id: ids[0].clone(),
            content: "edited while away".into(),
        }))
        .await
        .expect("edited");
    messages
        .delete_message(alice.call(MessageRef {
            message_id: ids[1].clone(),
        }))
        .await
        .expect("deleted");
    // Longer than realtime's first reconnection attempts, shorter than the queue's expiry.
    tokio::time::sleep(CUT).await;
    stack.proxy.restore();

    let edited = event_about(&mut bob_events, "messageUpdated", &ids[0]).await;
    assert_eq!(edited["content"], "edited while away", "{edited}");
    event_about(&mut bob_events, "messageDeleted", &ids[1]).await;
}

/// A member's durable events about messages of `room`, in arrival order, until `receiveMessage` with
/// `last` arrives: `receiveMessage <seq>`, or `<event> <message id>`.
async fn durable_until(
    events: &mut UnboundedReceiver<Incoming>,
    room: &str,
    last: i64,
) -> Vec<String> {
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some((name, body)) = events.recv().await {
            if body["conversationId"] != room {
                continue;
            }
            match name.as_str() {
                "receiveMessage" => {
                    seen.push(format!("receiveMessage {}", body["seq"]));
                    if body["seq"] == last {
                        return;
                    }
                }
                "messageUpdated" => seen.push(format!("messageUpdated {}", body["id"])),
                "messageDeleted" | "messageRead" => {
                    seen.push(format!("{name} {}", body["messageId"]));
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "seq {last} within {WAIT:?}: {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_and_receipts_made_while_the_queue_was_gone_reach_members_once_in_order() {
    // The queue is gone by the time the connection is back: the rooms are filled from the store.
    let stack = start(1_000).await;
    let people = users::insert(&stack.db, 3).await;
    let (alice, bob, carol) = (&people[0], &people[1], &people[2]);
    let room = conversation(&stack, alice, &[bob, carol]).await;
    let (_bob, mut bob_events) = member(&stack, bob, &room).await;
    let mut messages = MessagesServiceClient::new(stack.channel.clone());
    let create = |content: &str| {
        alice.call(CreateMessageRequest {
            conversation_id: room.clone(),
            content: content.into(),
            client_message_id: None,
        })
    };
    let first = messages
        .create_message(create("to edit"))
        .await
        .expect("acknowledged")
        .into_inner();
    let second = messages
        .create_message(create("to delete"))
        .await
        .expect("acknowledged")
        .into_inner();
    chat::received_until(&mut bob_events, &room, second.seq, WAIT).await;

    stack.proxy.cut();
    messages
        .update_message(alice.call(UpdateMessageRequest {
            message_id: first.id.clone(),
            content: "edited while away".into(),
        }))
        .await
        .expect("edited");
    messages
        .delete_message(alice.call(MessageRef {
            message_id: second.id.clone(),
        }))
        .await
        .expect("deleted");
    let third = messages
        .create_message(create("sent while away"))
        .await
        .expect("acknowledged")
        .into_inner();
    messages
        .update_message(alice.call(UpdateMessageRequest {
            message_id: third.id.clone(),
            content: "sent and edited while away".into(),
        }))
        .await
        .expect("edited");
    messages
        .mark_read(carol.call(MessageRef {
            message_id: third.id.clone(),
        }))
        .await
        .expect("read");
    // Longer than realtime's first reconnection attempts and than the queue's expiry.
    tokio::time::sleep(CUT).await;
    stack.proxy.restore();

    let after = send(&stack, alice, &room, "after".into()).await;
    let id = |message: &junqo_proto::conversations::v1::Message| format!("\"{}\"", message.id);
    assert_eq!(
        durable_until(&mut bob_events, &room, after).await,
        [
            format!("messageUpdated {}", id(&first)),
            format!("messageDeleted {}", id(&second)),
            format!("receiveMessage {}", third.seq),
            format!("messageUpdated {}", id(&third)),
            format!("messageRead {}", id(&third)),
            format!("receiveMessage {after}"),
        ],
        "what was done while the queue was gone, once, in the order it was done"
    );
    // Nothing comes twice later either.
    let marker = send(&stack, alice, &room, "marker".into()).await;
    assert_eq!(
        durable_until(&mut bob_events, &room, marker).await,
        [format!("receiveMessage {marker}")]
    );
}
