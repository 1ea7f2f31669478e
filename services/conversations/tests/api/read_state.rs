//! Read-up-to over gRPC: what the REST tests cannot reach (one message's receipt moving it, the event
//! telling the room, an admin looking in).

use junqo_proto::conversations::v1::{ConversationRef, MarkConversationReadRequest, MessageRef};
use junqo_proto::events::v1::event::Payload;
use tonic::Code;

use crate::helpers::{admin, spawn};

#[tokio::test]
async fn marking_one_message_read_moves_read_up_to_forward_only() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let first = service.send(&alice, &conversation, "one").await;
    service.send(&alice, &conversation, "two").await;
    let third = service.send(&alice, &conversation, "three").await;

    let mark = |message: &str| {
        bob.call(MessageRef {
            message_id: message.into(),
        })
    };
    let mut messages = service.messages.clone();
    messages.mark_read(mark(&third.id)).await.expect("marked");
    // An older receipt does not move it back.
    messages.mark_read(mark(&first.id)).await.expect("marked");
    let seen = service
        .conversations
        .clone()
        .get_conversation(bob.call(ConversationRef {
            conversation_id: conversation.id.clone(),
        }))
        .await
        .expect("visible")
        .into_inner();
    assert_eq!((seen.last_read_seq, seen.unread_count), (3, 0));
}

#[tokio::test]
async fn a_move_forward_is_announced_and_a_repeat_is_not() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    service.send(&alice, &conversation, "one").await;
    service.send(&alice, &conversation, "two").await;
    let mut tap = service
        .broker
        .tap(&format!(
            "conversation.{}.conversation.read",
            conversation.id
        ))
        .await;

    let request = |seq| {
        bob.call(MarkConversationReadRequest {
            conversation_id: conversation.id.clone(),
            seq,
        })
    };
    let mut conversations = service.conversations.clone();
    let state = conversations
        .mark_conversation_read(request(1))
        .await
        .expect("marked")
        .into_inner();
    assert_eq!((state.last_read_seq, state.unread_count), (1, 1));
    // Not forward: no event. Forward again: the next event says 2, so the repeat published nothing.
    conversations
        .mark_conversation_read(request(1))
        .await
        .expect("marked");
    conversations
        .mark_conversation_read(request(2))
        .await
        .expect("marked");
    for expected in [1, 2] {
        match tap.next().await.event.payload {
            Some(Payload::ConversationRead(read)) => {
                assert_eq!(read.user_id, bob.user_id);
                assert_eq!(read.last_read_seq, expected);
            }
            other => panic!("expected conversation.read, got {other:?}"),
        }
    }

    // Read state is a participant's own: an admin looking in has none to mark.
    let refused = conversations
        .mark_conversation_read(admin().call(MarkConversationReadRequest {
            conversation_id: conversation.id.clone(),
            seq: 1,
        }))
        .await
        .expect_err("not a participant");
    assert_eq!(refused.code(), Code::NotFound);
}
