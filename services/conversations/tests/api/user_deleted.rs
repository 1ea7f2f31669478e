//! A deleted account leaves every conversation (auth announces `user.deleted`), with the usual
//! `participants.removed` event per conversation; its messages stay, with its sender id.

use std::time::{Duration, Instant};

use junqo_proto::conversations::v1::{ConversationRef, ListMessagesRequest};
use junqo_proto::events::v1::event::Payload;

use crate::helpers::spawn;

#[tokio::test]
async fn a_deleted_user_leaves_every_conversation_and_their_messages_stay() {
    let service = spawn().await;
    let (alice, token) = service.user_with_token("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let with_bob = service.conversation(&alice, &[&bob]).await;
    let with_carol = service.conversation(&carol, &[&alice]).await;
    let sent = service.send(&alice, &with_bob, "Goodbye").await;
    let mut tap = service
        .broker
        .tap("conversation.*.participants.removed")
        .await;

    service.delete_account(&token).await;

    let mut left = Vec::new();
    for _ in 0..2 {
        let event = tap.next().await;
        match event.event.payload {
            Some(Payload::ParticipantsRemoved(removed)) => {
                assert_eq!(removed.user_ids, std::slice::from_ref(&alice.user_id));
                left.push(event.event.conversation_id);
            }
            other => panic!("expected participants.removed, got {other:?}"),
        }
    }
    left.sort();
    let mut expected = vec![with_bob.id.clone(), with_carol.id.clone()];
    expected.sort();
    assert_eq!(left, expected);

    // The events come after the commit: the rows are gone by now.
    let deadline = Instant::now() + Duration::from_secs(5);
    let participants = loop {
        let conversation = service
            .conversations
            .clone()
            .get_conversation(bob.call(ConversationRef {
                conversation_id: with_bob.id.clone(),
            }))
            .await
            .expect("bob still sees it")
            .into_inner();
        if !conversation.participant_ids.contains(&alice.user_id) || Instant::now() > deadline {
            break conversation.participant_ids;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(participants, std::slice::from_ref(&bob.user_id));

    let history = service
        .messages
        .clone()
        .list_messages(bob.call(ListMessagesRequest {
            conversation_id: with_bob.id.clone(),
            limit: 10,
            ..Default::default()
        }))
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].id, sent.id);
    assert_eq!(history.messages[0].sender_id, alice.user_id);
}
