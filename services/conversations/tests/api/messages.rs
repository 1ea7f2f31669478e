use junqo_proto::conversations::v1::{
    CreateMessageRequest, ListMessagesRequest, MessageRef, UpdateMessageRequest,
};
use tonic::Code;

use crate::helpers::{admin, at, spawn, violations};

fn message_ref(actor: &crate::helpers::Actor, id: &str) -> tonic::Request<MessageRef> {
    actor.call(MessageRef {
        message_id: id.into(),
    })
}

#[tokio::test]
async fn a_message_is_numbered_timed_and_readable_by_participants_only() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let eve = service.user("Eve").await;
    let conversation = service.conversation(&alice, &[&bob]).await;

    let first = service.send(&alice, &conversation, "Hello Bob").await;
    let second = service.send(&bob, &conversation, "Hi Alice").await;
    assert_eq!((first.seq, second.seq), (1, 2));
    assert_eq!(first.sender_id, alice.user_id);
    assert!(at(&first.created_at) < at(&second.created_at));

    let read = service
        .messages
        .clone()
        .get_message(message_ref(&bob, &first.id))
        .await
        .expect("bob reads it")
        .into_inner();
    assert_eq!(read.content, "Hello Bob");

    let hidden = service
        .messages
        .clone()
        .get_message(message_ref(&eve, &first.id))
        .await
        .expect_err("eve may not");
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(hidden.message(), format!("Message #{} not found", first.id));

    let refused = service
        .messages
        .clone()
        .create_message(eve.call(CreateMessageRequest {
            conversation_id: conversation.id.clone(),
            content: "let me in".into(),
            client_message_id: None,
        }))
        .await
        .expect_err("eve cannot post");
    assert_eq!(refused.code(), Code::NotFound);
}

#[tokio::test]
async fn content_must_be_present_and_bounded() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    for (content, expected) in [
        ("   ".to_owned(), "Content is required"),
        (
            "x".repeat(10_001),
            "Content must be at most 10000 characters long",
        ),
    ] {
        let status = service
            .messages
            .clone()
            .create_message(alice.call(CreateMessageRequest {
                conversation_id: conversation.id.clone(),
                content,
                client_message_id: None,
            }))
            .await
            .expect_err("invalid content");
        assert_eq!(violations(&status), [expected]);
    }
}

#[tokio::test]
async fn paging_with_before_returns_each_message_exactly_once() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    // Sent concurrently, so several land in one batch and share a commit.
    let sends = (0..25).map(|i| {
        let service = &service;
        let alice = &alice;
        let conversation = &conversation;
        async move {
            service
                .send(alice, conversation, &format!("message {i}"))
                .await
        }
    });
    futures::future::join_all(sends).await;

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = service
            .messages
            .clone()
            .list_messages(alice.call(ListMessagesRequest {
                conversation_id: conversation.id.clone(),
                limit: 7,
                before,
                after_seq: None,
            }))
            .await
            .expect("page")
            .into_inner();
        if page.messages.is_empty() {
            break;
        }
        assert!(
            page.messages.windows(2).all(|w| w[0].seq > w[1].seq),
            "newest first"
        );
        before = page.messages.last().and_then(|m| m.created_at);
        seen.extend(page.messages.into_iter().map(|m| m.seq));
    }
    assert_eq!(seen, (1..=25).rev().collect::<Vec<i64>>());
}

#[tokio::test]
async fn after_seq_returns_what_was_missed_in_order() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    for i in 1..=5 {
        service.send(&alice, &conversation, &format!("m{i}")).await;
    }
    let missed = service
        .messages
        .clone()
        .list_messages(alice.call(ListMessagesRequest {
            conversation_id: conversation.id.clone(),
            limit: 0,
            before: None,
            after_seq: Some(2),
        }))
        .await
        .expect("catch-up")
        .into_inner();
    let contents: Vec<&str> = missed.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["m3", "m4", "m5"]);
}

#[tokio::test]
async fn only_the_sender_or_an_admin_edits_and_deletes() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let message = service.send(&alice, &conversation, "tpyo").await;
    let update = |actor: &crate::helpers::Actor, content: &str| {
        actor.call(UpdateMessageRequest {
            message_id: message.id.clone(),
            content: content.into(),
        })
    };

    let by_bob = service
        .messages
        .clone()
        .update_message(update(&bob, "hacked"))
        .await
        .expect_err("not bob's");
    assert_eq!(by_bob.code(), Code::PermissionDenied);
    assert_eq!(
        by_bob.message(),
        "You do not have permission to update this message"
    );

    let fixed = service
        .messages
        .clone()
        .update_message(update(&alice, "typo"))
        .await
        .expect("alice fixes it")
        .into_inner();
    assert_eq!(fixed.content, "typo");
    assert!(at(&fixed.updated_at) >= at(&fixed.created_at));

    let moderated = service
        .messages
        .clone()
        .update_message(update(&admin(), "[moderated]"))
        .await
        .expect("an admin may")
        .into_inner();
    assert_eq!(moderated.content, "[moderated]");

    let delete_by_bob = service
        .messages
        .clone()
        .delete_message(message_ref(&bob, &message.id))
        .await
        .expect_err("not bob's");
    assert_eq!(
        delete_by_bob.message(),
        "You do not have permission to delete this message"
    );
    service
        .messages
        .clone()
        .delete_message(message_ref(&alice, &message.id))
        .await
        .expect("alice deletes it");
    let gone = service
        .messages
        .clone()
        .get_message(message_ref(&alice, &message.id))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn read_receipts_record_who_read_and_when() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let message = service
        .send(&alice, &conversation, "did you read this?")
        .await;

    let receipt = service
        .messages
        .clone()
        .mark_read(message_ref(&bob, &message.id))
        .await
        .expect("bob reads")
        .into_inner();
    let again = service
        .messages
        .clone()
        .mark_read(message_ref(&bob, &message.id))
        .await
        .expect("reading twice is fine")
        .into_inner();
    assert_eq!(receipt, again, "the first read time is kept");

    let read = service
        .messages
        .clone()
        .get_message(message_ref(&alice, &message.id))
        .await
        .expect("alice looks")
        .into_inner();
    assert_eq!(read.read_status.len(), 1);
    assert_eq!(read.read_status[0].user_id, bob.user_id);
    assert_eq!(read.read_status[0].message_id, message.id);
}
