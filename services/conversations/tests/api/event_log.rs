//! The per-conversation event log: every durable event carries the conversation's next `event_seq`, in
//! commit order, on the broker and in ListEventsSince alike; the kept events are pruned after the
//! retention, and a range that lost some to pruning is answered incomplete.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use junqo_proto::conversations::v1::{
    ConversationRef, ListEventsSinceRequest, MarkConversationReadRequest, MessageRef,
    ParticipantsRequest, UpdateMessageRequest,
};
use junqo_proto::events::v1::Event;
use junqo_proto::events::v1::event::Payload;
use prost::Message as _;
use secrecy::SecretString;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use testkit::EventTap;
use tonic::Code;

use crate::helpers::{Actor, SECRET, TestService, spawn};

fn realtime() -> String {
    jwt::ServiceSigner::new(&SecretString::from(SECRET), "realtime")
        .sign(None)
        .expect("signs")
}

fn since(
    token: &str,
    conversation: &str,
    after_event_seq: i64,
    limit: u32,
) -> tonic::Request<ListEventsSinceRequest> {
    Actor {
        user_id: String::new(),
        token: token.to_owned(),
    }
    .call(ListEventsSinceRequest {
        conversation_id: conversation.to_owned(),
        after_event_seq,
        limit,
    })
}

struct Since {
    events: Vec<Event>,
    latest_event_seq: i64,
    complete: bool,
}

async fn events_since(service: &TestService, conversation: &str, after: i64, limit: u32) -> Since {
    let answer = service
        .messages
        .clone()
        .list_events_since(since(&realtime(), conversation, after, limit))
        .await
        .expect("a service reads the event log")
        .into_inner();
    Since {
        events: answer
            .events
            .iter()
            .map(|bytes| Event::decode(bytes.as_slice()).expect("an encoded event"))
            .collect(),
        latest_event_seq: answer.latest_event_seq,
        complete: answer.complete,
    }
}

fn numbers(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.event_seq).collect()
}

/// The events published for each conversation until `count` distinct ones (by event id) have arrived
/// for each, by event_seq; a repeat (a lost confirm) must carry the same number.
async fn published(
    tap: &mut EventTap,
    wanted: &[(&str, usize)],
) -> HashMap<String, BTreeMap<i64, Event>> {
    let mut ids: HashMap<String, HashMap<String, i64>> = HashMap::new();
    let mut by_seq: HashMap<String, BTreeMap<i64, Event>> = HashMap::new();
    let done = |ids: &HashMap<String, HashMap<String, i64>>| {
        wanted
            .iter()
            .all(|(c, count)| ids.get(*c).map_or(0, HashMap::len) >= *count)
    };
    while !done(&ids) {
        let delivered = tap
            .next_within(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("not every event was published: {wanted:?}"));
        let event = delivered.event;
        let seq = *ids
            .entry(event.conversation_id.clone())
            .or_default()
            .entry(event.event_id.clone())
            .or_insert(event.event_seq);
        assert_eq!(seq, event.event_seq, "a repeat keeps its number");
        let earlier = by_seq
            .entry(event.conversation_id.clone())
            .or_default()
            .insert(event.event_seq, event.clone());
        if let Some(earlier) = earlier {
            assert_eq!(earlier.event_id, event.event_id, "one number, one event");
        }
    }
    by_seq
}

fn kind(event: &Event) -> &'static str {
    event.payload.as_ref().map_or("empty", |p| p.kind())
}

async fn latest_event_seq(service: &TestService, who: &Actor, conversation: &str) -> i64 {
    service
        .conversations
        .clone()
        .check_access(who.call(ConversationRef {
            conversation_id: conversation.to_owned(),
        }))
        .await
        .expect("a participant")
        .into_inner()
        .latest_event_seq
}

#[tokio::test]
async fn every_durable_kind_is_numbered_one_by_one_and_published_and_listed_with_its_number() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let mut tap = service.broker.tap("conversation.#").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    assert_eq!(latest_event_seq(&service, &bob, &conversation.id).await, 1);

    let first = service.send(&alice, &conversation, "first").await;
    let mut messages = service.messages.clone();
    messages
        .update_message(alice.call(UpdateMessageRequest {
            message_id: first.id.clone(),
            content: "first, edited".into(),
        }))
        .await
        .expect("edited");
    messages
        .mark_read(bob.call(MessageRef {
            message_id: first.id.clone(),
        }))
        .await
        .expect("read");
    let second = service.send(&alice, &conversation, "second").await;
    service
        .conversations
        .clone()
        .mark_conversation_read(bob.call(MarkConversationReadRequest {
            conversation_id: conversation.id.clone(),
            seq: second.seq,
        }))
        .await
        .expect("read up to");
    let participants = |users: &[&Actor]| ParticipantsRequest {
        conversation_id: conversation.id.clone(),
        participant_ids: users.iter().map(|u| u.user_id.clone()).collect(),
    };
    service
        .conversations
        .clone()
        .add_participants(alice.call(participants(&[&carol])))
        .await
        .expect("added");
    service
        .conversations
        .clone()
        .remove_participants(alice.call(participants(&[&carol])))
        .await
        .expect("removed");
    messages
        .delete_message(alice.call(MessageRef {
            message_id: first.id.clone(),
        }))
        .await
        .expect("deleted");

    let expected = [
        "participants.added",
        "message.created",
        "message.updated",
        "message.read",
        "message.created",
        "conversation.read",
        "participants.added",
        "participants.removed",
        "message.deleted",
    ];
    let on_broker = published(&mut tap, &[(conversation.id.as_str(), expected.len())])
        .await
        .remove(&conversation.id)
        .expect("published");
    assert_eq!(
        on_broker.keys().copied().collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>(),
        "contiguous from 1, no gap, no repeat"
    );
    assert_eq!(
        on_broker.values().map(kind).collect::<Vec<_>>(),
        expected,
        "numbered in the order the changes were made"
    );

    let listed = events_since(&service, &conversation.id, 0, 0).await;
    assert!(listed.complete);
    assert_eq!(listed.latest_event_seq, 9);
    assert_eq!(
        listed.events,
        on_broker.values().cloned().collect::<Vec<_>>(),
        "exactly what was published"
    );
    let page = events_since(&service, &conversation.id, 3, 2).await;
    assert_eq!(
        numbers(&page.events),
        [4, 5],
        "after the number, up to the limit"
    );
    assert!(page.complete);
    assert_eq!(latest_event_seq(&service, &bob, &conversation.id).await, 9);
}

/// Sends racing edits, receipts and reads in the same conversations: every transaction that numbers an
/// event locks its conversation rows first, as the message writer does, so none of them deadlocks, and
/// each conversation's numbers follow commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_racing_edits_receipts_and_reads_all_succeed_and_are_numbered_in_commit_order() {
    const ROUNDS: usize = 30;
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let mut tap = service.broker.tap("conversation.#").await;
    let conversations = [
        service.conversation(&alice, &[&bob]).await,
        service.conversation(&bob, &[&alice]).await,
    ];

    let work = conversations.iter().flat_map(|conversation| {
        let service = &service;
        let (alice, bob) = (&alice, &bob);
        (0..ROUNDS).map(move |i| async move {
            // Alice sends; then Bob reads it (a receipt, and his read-up-to moves: his participant row)
            // and marks the conversation read while he also sends (the writer locks the conversation,
            // then moves his read-up-to), and Alice edits it and sends again.
            let mine = service.send(alice, conversation, &format!("a{i}")).await;
            let mut messages = service.messages.clone();
            let edit = messages.update_message(alice.call(UpdateMessageRequest {
                message_id: mine.id.clone(),
                content: format!("a{i} edited"),
            }));
            let mut messages = service.messages.clone();
            let read = messages.mark_read(bob.call(MessageRef {
                message_id: mine.id.clone(),
            }));
            let mut conversations = service.conversations.clone();
            let read_up_to =
                conversations.mark_conversation_read(bob.call(MarkConversationReadRequest {
                    conversation_id: conversation.id.clone(),
                    seq: mine.seq,
                }));
            let send = |who: &Actor, content: String| {
                let mut messages = service.messages.clone();
                let request = who.call(junqo_proto::conversations::v1::CreateMessageRequest {
                    conversation_id: conversation.id.clone(),
                    content,
                    client_message_id: None,
                });
                async move { messages.create_message(request).await.map(drop) }
            };
            let (edited, read, read_up_to, bob_sent, alice_sent) = tokio::join!(
                edit,
                read,
                read_up_to,
                send(bob, format!("b{i}")),
                send(alice, format!("a{i} again")),
            );
            for outcome in [
                edited.map(drop),
                read.map(drop),
                read_up_to.map(drop),
                bob_sent,
                alice_sent,
            ] {
                outcome.unwrap_or_else(|status| panic!("a racing change failed: {status:?}"));
            }
        })
    });
    futures::future::join_all(work).await;

    let mut listed_by_conversation = Vec::new();
    for conversation in &conversations {
        let listed = events_since(&service, &conversation.id, 0, 0).await;
        assert!(listed.complete);
        let n = listed.latest_event_seq;
        assert_eq!(
            numbers(&listed.events),
            (1..=n).collect::<Vec<_>>(),
            "contiguous from 1, no gap, no repeat"
        );
        // Every change is numbered: the creation, then per round 3 sends, an edit, a receipt, and the
        // reads that moved a read-up-to (the receipt or Bob's own send may have moved it first).
        let count = |wanted: &str| listed.events.iter().filter(|e| kind(e) == wanted).count();
        assert_eq!(count("message.created"), 3 * ROUNDS);
        assert_eq!(count("message.updated"), ROUNDS);
        assert_eq!(count("message.read"), ROUNDS);
        // An edit is numbered after the message it edits.
        let mut created_at = HashMap::new();
        for event in &listed.events {
            match &event.payload {
                Some(Payload::MessageCreated(created)) => {
                    let message = created.message.as_ref().expect("a message");
                    created_at.insert(message.id.clone(), event.event_seq);
                }
                Some(Payload::MessageUpdated(updated)) => {
                    let message = updated.message.as_ref().expect("a message");
                    let created = created_at
                        .get(&message.id)
                        .unwrap_or_else(|| panic!("an edit numbered before its message"));
                    assert!(*created < event.event_seq);
                }
                _ => {}
            }
        }
        listed_by_conversation.push((conversation.id.as_str(), listed.events));
    }
    let wanted: Vec<(&str, usize)> = listed_by_conversation
        .iter()
        .map(|(id, events)| (*id, events.len()))
        .collect();
    let mut on_broker = published(&mut tap, &wanted).await;
    for (id, listed) in listed_by_conversation {
        assert_eq!(
            on_broker
                .remove(id)
                .expect("published")
                .into_values()
                .collect::<Vec<_>>(),
            listed,
            "published with the numbers listed"
        );
    }
}

#[tokio::test]
async fn events_pruned_after_the_retention_make_an_earlier_range_incomplete() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let mut tap = service.broker.tap("conversation.#").await;
    let conversation = service.conversation(&alice, &[]).await;
    for i in 0..3 {
        service.send(&alice, &conversation, &format!("m{i}")).await;
    }
    published(&mut tap, &[(conversation.id.as_str(), 4)]).await;

    let options = PgConnectOptions::new()
        .host(&service.db.host)
        .port(service.db.port)
        .username(&service.db.user)
        .database(&service.db.name)
        .options([("search_path", "conversations")]);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("a pool on the test database");
    // Published rows are marked once their confirm is in, a moment after the broker delivered them.
    loop {
        let unpublished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&pool)
                .await
                .expect("count");
        if unpublished == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Events 1 and 2 were published an hour ago; event 3 is old but, as far as the log knows, not yet
    // published (its confirm was lost): it is kept however old.
    sqlx::query(
        "UPDATE outbox SET published_at = now() - interval '1 hour', created_at = now() - interval '1 hour'
         WHERE event_seq <= 2",
    )
    .execute(&pool)
    .await
    .expect("backdated");
    sqlx::query(
        "UPDATE outbox SET published_at = NULL, created_at = now() - interval '1 hour',
                claimed_by = gen_random_uuid(), claimed_until = now() + interval '1 hour'
         WHERE event_seq = 3",
    )
    .execute(&pool)
    .await
    .expect("as if unconfirmed");

    let pruned = conversations::events::publisher::prune_expired(&pool, Duration::from_secs(60))
        .await
        .expect("pruned");
    assert_eq!(pruned, 2);

    let from_start = events_since(&service, &conversation.id, 0, 0).await;
    assert!(!from_start.complete, "events 1 and 2 are gone");
    assert!(
        from_start.events.is_empty(),
        "what is kept does not continue the range: {:?}",
        numbers(&from_start.events)
    );
    assert_eq!(from_start.latest_event_seq, 4);
    let kept = events_since(&service, &conversation.id, 2, 0).await;
    assert!(kept.complete);
    assert_eq!(numbers(&kept.events), [3, 4]);
    let up_to_date = events_since(&service, &conversation.id, 4, 0).await;
    assert!(up_to_date.complete);
    assert!(up_to_date.events.is_empty());
    assert_eq!(up_to_date.latest_event_seq, 4);

    // Pruning goes by publication time: event 4, published long ago, goes while event 3 (relayed late,
    // still unconfirmed) stays. A range over the hole answers what continues it, and says it is not all.
    sqlx::query("UPDATE outbox SET published_at = now() - interval '1 hour' WHERE event_seq = 4")
        .execute(&pool)
        .await
        .expect("backdated");
    let pruned = conversations::events::publisher::prune_expired(&pool, Duration::from_secs(60))
        .await
        .expect("pruned");
    assert_eq!(pruned, 1);
    let over_the_hole = events_since(&service, &conversation.id, 2, 0).await;
    assert_eq!(numbers(&over_the_hole.events), [3]);
    assert!(!over_the_hole.complete, "event 4 is gone");
    let one = events_since(&service, &conversation.id, 2, 1).await;
    assert_eq!(numbers(&one.events), [3]);
    assert!(one.complete, "a full page says nothing of what follows it");
}

#[tokio::test]
async fn only_services_read_the_event_log_of_a_conversation_that_exists() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    let mut messages = service.messages.clone();

    let refused = messages
        .list_events_since(since(&alice.token, &conversation.id, 0, 0))
        .await
        .expect_err("a user's token is refused, even a participant's");
    assert_eq!(refused.code(), Code::PermissionDenied);

    let invalid = messages
        .list_events_since(since(&realtime(), "nope", -1, 0))
        .await
        .expect_err("invalid");
    let violations = crate::helpers::violations(&invalid);
    assert!(
        violations.iter().any(|v| v.contains("Conversation ID"))
            && violations.iter().any(|v| v.contains("event seq")),
        "{violations:?}"
    );

    let missing = messages
        .list_events_since(since(&realtime(), &uuid::Uuid::new_v4().to_string(), 0, 0))
        .await
        .expect_err("no such conversation");
    assert_eq!(missing.code(), Code::NotFound);
}
