//! What realtime's per-room sequencer reads: the latest `seq` with every access check, and the messages
//! after a `seq`, for services only.

use junqo_proto::conversations::v1::{ConversationRef, ListMessagesSinceRequest};
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{Actor, SECRET, spawn};

fn since(
    token: &str,
    conversation: &str,
    after_seq: i64,
    limit: u32,
) -> tonic::Request<ListMessagesSinceRequest> {
    Actor {
        user_id: String::new(),
        token: token.to_owned(),
    }
    .call(ListMessagesSinceRequest {
        conversation_id: conversation.to_owned(),
        after_seq,
        limit,
    })
}

#[tokio::test]
async fn an_access_check_answers_the_latest_seq_and_services_alone_read_by_seq() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let check = async |who: &Actor| {
        let mut conversations = service.conversations.clone();
        conversations
            .check_access(who.call(ConversationRef {
                conversation_id: conversation.id.clone(),
            }))
            .await
    };
    assert_eq!(
        check(&bob)
            .await
            .expect("a participant")
            .into_inner()
            .latest_seq,
        0
    );
    for i in 0..5 {
        service.send(&alice, &conversation, &format!("m{i}")).await;
    }
    assert_eq!(
        check(&bob)
            .await
            .expect("a participant")
            .into_inner()
            .latest_seq,
        5
    );

    let realtime = jwt::ServiceSigner::new(&SecretString::from(SECRET), "realtime")
        .sign(None)
        .expect("signs");
    let page = service
        .messages
        .clone()
        .list_messages_since(since(&realtime, &conversation.id, 2, 2))
        .await
        .expect("a service reads")
        .into_inner();
    let seqs: Vec<i64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [3, 4], "oldest first, after the seq, up to the limit");
    assert_eq!(page.messages[0].content, "m2");

    let refused = service
        .messages
        .clone()
        .list_messages_since(since(&bob.token, &conversation.id, 0, 10))
        .await
        .expect_err("a user's token is refused, even a participant's");
    assert_eq!(refused.code(), Code::PermissionDenied);

    let invalid = service
        .messages
        .clone()
        .list_messages_since(since(&realtime, "nope", -1, 10))
        .await
        .expect_err("invalid");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(
        invalid.message().contains("Conversation ID"),
        "{}",
        invalid.message()
    );
}
