//! Who may send is checked by the message writer, in one statement per batch, under the conversation
//! rows' locks: each sender of a batch gets their own answer, refused messages take no sequence number
//! and fail nobody else, and a participant removed (or a block made) while the batch waits for the locks
//! is seen.

use std::collections::BTreeMap;

use conversations::store::messages::{self, Submitted};
use junqo_proto::conversations::v1::{
    BlockRequest, Conversation, ConversationRef, CreateMessageRequest, Message,
};
use sqlx::Connection;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Actor, TestService, admin, spawn, writer_blocked};

async fn send(
    service: &TestService,
    sender: &Actor,
    conversation: &str,
    content: &str,
    client_message_id: Option<&str>,
) -> Result<Message, tonic::Status> {
    service
        .messages
        .clone()
        .create_message(sender.call(CreateMessageRequest {
            conversation_id: conversation.into(),
            content: content.into(),
            client_message_id: client_message_id.map(str::to_owned),
        }))
        .await
        .map(tonic::Response::into_inner)
}

/// Every stored message as (conversation, seq, content), in that order.
async fn stored(db: &mut sqlx::PgConnection) -> Vec<(String, i64, String)> {
    let rows: Vec<(Uuid, i64, String)> = sqlx::query_as(
        "SELECT conversation_id, seq, content FROM conversations.messages
         ORDER BY conversation_id, seq",
    )
    .fetch_all(&mut *db)
    .await
    .expect("messages");
    rows.into_iter()
        .map(|(c, seq, content)| (c.to_string(), seq, content))
        .collect()
}

fn assert_refused(answer: &Result<Message, tonic::Status>, code: Code, message: &str) {
    match answer {
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            assert_eq!(status.message(), message, "{status:?}");
        }
        Ok(stored) => panic!("stored {stored:?}, expected {code:?} {message}"),
    }
}

fn not_found(conversation: &str) -> String {
    format!("Conversation with ID {conversation} not found")
}

/// Four users and their conversations: alice and bob talk; carol and dave talk without alice; dave
/// blocked alice after they started talking; alice and bob's second conversation is deleted.
struct World {
    alice: Actor,
    bob: Actor,
    dave: Actor,
    talk: Conversation,
    without_alice: Conversation,
    blocked: Conversation,
    deleted: Conversation,
}

async fn world(service: &TestService) -> World {
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let dave = service.user("Dave").await;
    let talk = service.conversation(&alice, &[&bob]).await;
    let without_alice = service.conversation(&carol, &[&dave]).await;
    let blocked = service.conversation(&alice, &[&dave]).await;
    let deleted = service.conversation(&alice, &[&bob]).await;
    service
        .conversations
        .clone()
        .block_user(dave.call(BlockRequest {
            user_id: alice.user_id.clone(),
        }))
        .await
        .expect("blocked");
    service
        .conversations
        .clone()
        .delete_conversation(alice.call(ConversationRef {
            conversation_id: deleted.id.clone(),
        }))
        .await
        .expect("deleted");
    World {
        alice,
        bob,
        dave,
        talk,
        without_alice,
        blocked,
        deleted,
    }
}

#[tokio::test]
async fn concurrent_sends_sharing_a_batch_each_get_their_own_answer() {
    let service = spawn().await;
    let w = world(&service).await;
    let earlier = send(&service, &w.alice, &w.talk.id, "earlier", Some("earlier"))
        .await
        .expect("stored");
    let mut db = service.db.connect().await;

    // The writer is held on the conversation's row while the sends queue, so they share a batch.
    let mut holder = service.db.connect().await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM conversations.conversations WHERE id = $1::uuid FOR UPDATE")
        .bind(&w.talk.id)
        .execute(&mut *held)
        .await
        .expect("lock the conversation");
    let first = send(&service, &w.alice, &w.talk.id, "first", None);
    let admin = admin();
    let (talk, s) = (w.talk.id.as_str(), &service);
    let sends = futures::future::join_all([
        send(s, &w.alice, talk, "alice 1", None),
        send(s, &w.bob, talk, "bob 1", None),
        send(s, &w.alice, &w.without_alice.id, "not a participant", None),
        send(s, &admin, talk, "admin looking in", None),
        send(s, &w.alice, &w.blocked.id, "alice to dave", None),
        send(s, &w.dave, &w.blocked.id, "dave to alice", None),
        send(s, &w.alice, &w.deleted.id, "to a deleted one", None),
        send(s, &w.alice, talk, "earlier, retried", Some("earlier")),
        send(s, &w.alice, talk, "twice", Some("twice")),
        send(s, &w.alice, talk, "twice", Some("twice")),
        send(s, &w.bob, talk, "bob 2", None),
        send(s, &w.alice, talk, "alice 2", None),
    ]);
    let release = async {
        writer_blocked(&mut db).await;
        held.rollback().await.expect("release");
    };
    let (first, answers, ()) = tokio::join!(first, sends, release);
    let first = first.expect("first stored");

    let [
        alice_1,
        bob_1,
        outsider,
        admin_send,
        alice_to_dave,
        dave_to_alice,
        to_deleted,
        retried,
        twice_a,
        twice_b,
        bob_2,
        alice_2,
    ] = answers.try_into().expect("twelve answers");
    assert_refused(&outsider, Code::NotFound, &not_found(&w.without_alice.id));
    assert_refused(&admin_send, Code::NotFound, &not_found(talk));
    let kept_apart = "You cannot message this user";
    assert_refused(&alice_to_dave, Code::PermissionDenied, kept_apart);
    assert_refused(&dave_to_alice, Code::PermissionDenied, kept_apart);
    assert_refused(&to_deleted, Code::NotFound, &not_found(&w.deleted.id));
    assert_eq!(retried.expect("the stored message"), earlier);
    let twice = twice_a.expect("stored");
    assert_eq!(twice_b.expect("the same message"), twice);

    // The valid ones, and nothing else, numbered without gaps after the earlier messages.
    let mut valid: Vec<Message> = [alice_1, bob_1, bob_2, alice_2]
        .into_iter()
        .map(|a| a.expect("a valid send is stored"))
        .collect();
    valid.extend([first, twice]);
    valid.sort_by_key(|m| m.seq);
    assert_eq!(
        valid.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (2..=7).collect::<Vec<i64>>()
    );
    assert!(
        valid
            .windows(2)
            .all(|pair| crate::helpers::at(&pair[0].created_at)
                < crate::helpers::at(&pair[1].created_at)),
        "times follow the numbers"
    );
    let mut expected = vec![(talk.to_owned(), 1, "earlier".to_owned())];
    expected.extend(
        valid
            .iter()
            .map(|m| (talk.to_owned(), m.seq, m.content.clone())),
    );
    assert_eq!(stored(&mut db).await, expected);
}

#[tokio::test]
async fn one_statement_checks_and_stores_a_whole_batch() {
    let service = spawn().await;
    let w = world(&service).await;
    let earlier = send(&service, &w.alice, &w.talk.id, "earlier", Some("earlier"))
        .await
        .expect("stored");
    let id = |text: &str| Uuid::parse_str(text).expect("uuid");
    let (alice, bob, dave) = (
        id(&w.alice.user_id),
        id(&w.bob.user_id),
        id(&w.dave.user_id),
    );
    let talk = id(&w.talk.id);
    let batch: Vec<(Uuid, Uuid, &str, Option<&str>)> = vec![
        (talk, alice, "one", None),
        (id(&w.without_alice.id), alice, "not a participant", None),
        (talk, bob, "two", None),
        (id(&w.blocked.id), dave, "kept apart", None),
        (id(&w.deleted.id), alice, "gone", None),
        (talk, alice, "earlier, retried", Some("earlier")),
        (talk, Uuid::new_v4(), "a stranger", None),
        (talk, alice, "three", None),
    ];
    let submitted: Vec<Submitted<'_>> = batch
        .iter()
        .map(|&(conversation_id, sender_id, content, client)| Submitted {
            id: Uuid::new_v4(),
            conversation_id,
            sender_id,
            content,
            client_message_id: client,
        })
        .collect();
    let mut conversations: Vec<Uuid> = batch.iter().map(|b| b.0).collect();
    conversations.sort();
    conversations.dedup();

    let mut conn = service.db.connect().await;
    sqlx::query("SET search_path = conversations")
        .execute(&mut conn)
        .await
        .expect("search path");
    let mut tx = messages::begin_locked(&mut conn, &conversations)
        .await
        .expect("begun");
    let verdicts = messages::insert_allowed(&mut tx, &submitted)
        .await
        .expect("one statement");
    tx.commit().await.expect("committed");

    let flags: Vec<(bool, bool, bool)> = verdicts
        .iter()
        .map(|v| (v.is_participant, v.kept_apart, v.inserted))
        .collect();
    assert_eq!(
        flags,
        [
            (true, false, true),
            (false, false, false),
            (true, false, true),
            (true, true, false),
            (false, false, false),
            (true, false, false),
            (false, false, false),
            (true, false, true),
        ]
    );
    let rows: BTreeMap<usize, _> = verdicts
        .iter()
        .zip(&submitted)
        .enumerate()
        .filter_map(|(i, (v, s))| Some((i, v.stored(s)?)))
        .collect();
    let seq_of = |i: usize| rows.get(&i).map(|r| r.seq);
    assert_eq!(
        [seq_of(0), seq_of(2), seq_of(5), seq_of(7)],
        [Some(2), Some(3), Some(earlier.seq), Some(4)]
    );
    assert_eq!(rows[&5].id.to_string(), earlier.id);
    assert_eq!(rows[&5].content, "earlier");
    assert!(rows[&0].created_at < rows[&2].created_at && rows[&2].created_at < rows[&7].created_at);

    let mut db = service.db.connect().await;
    let all: Vec<(i64, String)> = stored(&mut db)
        .await
        .into_iter()
        .map(|(_, seq, content)| (seq, content))
        .collect();
    assert_eq!(
        all,
        [
            (1, "earlier".to_owned()),
            (2, "one".to_owned()),
            (3, "two".to_owned()),
            (4, "three".to_owned())
        ]
    );
    // The conversation's last message and the senders' read-up-to moved with the batch.
    let (last_seq, last_id): (i64, Uuid) = sqlx::query_as(
        "SELECT last_seq, last_message_id FROM conversations.conversations WHERE id = $1",
    )
    .bind(talk)
    .fetch_one(&mut db)
    .await
    .expect("conversation");
    assert_eq!((last_seq, last_id), (4, submitted[7].id));
    let read: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT user_id, last_read_seq FROM conversations.participants
         WHERE conversation_id = $1 ORDER BY last_read_seq",
    )
    .bind(talk)
    .fetch_all(&mut db)
    .await
    .expect("participants");
    assert_eq!(read, [(bob, 3), (alice, 4)]);
}

#[tokio::test]
async fn a_removal_or_a_block_committed_while_the_writer_waits_for_the_lock_is_seen() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let group = service.conversation(&alice, &[&bob, &carol]).await;
    let pair = service.conversation(&alice, &[&bob]).await;
    let mut db = service.db.connect().await;

    // Alice is removed in a transaction that holds the conversation's row while her message waits.
    let mut holder = service.db.connect().await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM conversations.conversations WHERE id = $1::uuid FOR UPDATE")
        .bind(&group.id)
        .execute(&mut *held)
        .await
        .expect("lock the conversation");
    let sent = send(&service, &alice, &group.id, "after removal", None);
    let remove = async {
        writer_blocked(&mut db).await;
        sqlx::query(
            "DELETE FROM conversations.participants
             WHERE conversation_id = $1::uuid AND user_id = $2::uuid",
        )
        .bind(&group.id)
        .bind(&alice.user_id)
        .execute(&mut *held)
        .await
        .expect("removed");
        held.commit().await.expect("commit");
    };
    let (answer, ()) = tokio::join!(sent, remove);
    assert_refused(&answer, Code::NotFound, &not_found(&group.id));

    // Bob blocks alice the same way (a block locks the rows of the conversations the two share).
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM conversations.conversations WHERE id = $1::uuid FOR UPDATE")
        .bind(&pair.id)
        .execute(&mut *held)
        .await
        .expect("lock the conversation");
    let sent = send(&service, &alice, &pair.id, "after the block", None);
    let block = async {
        writer_blocked(&mut db).await;
        sqlx::query(
            "INSERT INTO conversations.blocks (blocker_id, blocked_id) VALUES ($1::uuid, $2::uuid)",
        )
        .bind(&bob.user_id)
        .bind(&alice.user_id)
        .execute(&mut *held)
        .await
        .expect("blocked");
        held.commit().await.expect("commit");
    };
    let (answer, ()) = tokio::join!(sent, block);
    assert_refused(
        &answer,
        Code::PermissionDenied,
        "You cannot message this user",
    );

    // Bob still writes to the group, and nothing refused took a number.
    let later = send(&service, &bob, &group.id, "still here", None)
        .await
        .expect("stored");
    assert_eq!(later.seq, 1);
    assert_eq!(stored(&mut db).await.len(), 1);
}
