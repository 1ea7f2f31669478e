//! `CreateMessages`: each item answered as its own `CreateMessage` would have been, in one call.

use junqo_proto::conversations::v1::create_message_result::Outcome;
use junqo_proto::conversations::v1::{
    CallError, CreateMessageRequest, CreateMessagesRequest, ListMessagesRequest, MessageToCreate,
};
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{Actor, SECRET, TestService, spawn, violations};

fn item(sender_token: &str, conversation_id: &str, content: &str) -> MessageToCreate {
    MessageToCreate {
        conversation_id: conversation_id.into(),
        content: content.into(),
        token: sender_token.into(),
        ..Default::default()
    }
}

fn service_token() -> String {
    jwt::ServiceSigner::new(&SecretString::from(SECRET), "realtime")
        .sign(None)
        .expect("signs")
}

/// A call as realtime makes it: a service token for the call, a user's token in each item.
fn batch(items: Vec<MessageToCreate>) -> tonic::Request<CreateMessagesRequest> {
    let mut request = tonic::Request::new(CreateMessagesRequest { items });
    platform::grpc::authorize(&mut request, &service_token());
    request
}

/// What the same item gets as a call of its own, as a status.
async fn alone(service: &TestService, item: &MessageToCreate) -> tonic::Status {
    let actor = Actor {
        user_id: String::new(),
        token: item.token.clone(),
    };
    service
        .messages
        .clone()
        .create_message(actor.call(CreateMessageRequest {
            conversation_id: item.conversation_id.clone(),
            content: item.content.clone(),
            client_message_id: item.client_message_id.clone(),
        }))
        .await
        .expect_err("fails alone too")
}

fn as_status(error: &CallError) -> tonic::Status {
    tonic::Status::with_details(
        Code::from(error.code),
        error.message.clone(),
        error.details.clone().into(),
    )
}

#[tokio::test]
async fn each_item_is_answered_as_its_own_call_and_the_valid_ones_are_stored() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let eve = service.user("Eve").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let id = conversation.id.as_str();

    let items = vec![
        item(&alice.token, id, "one"),
        item(&alice.token, id, "   "),
        item("not-a-token", id, "forged"),
        item(&eve.token, id, "let me in"),
        item(&service_token(), id, "a service is nobody"),
        item(&bob.token, id, "two"),
        // Its sender waits 600 ms: too little for the writer's commit margin, whatever the others wait.
        MessageToCreate {
            timeout_ms: 600,
            ..item(&bob.token, id, "too late")
        },
    ];
    let results = service
        .messages
        .clone()
        .create_messages(batch(items.clone()))
        .await
        .expect("the call succeeds")
        .into_inner()
        .results;
    assert_eq!(results.len(), items.len(), "one result per item");
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|r| r.outcome.expect("an outcome"))
        .collect();

    let mut stored = Vec::new();
    for (index, (item, outcome)) in items.iter().zip(&outcomes).enumerate() {
        match outcome {
            Outcome::Message(message) => {
                assert!([0, 5].contains(&index), "item {index} stored: {message:?}");
                assert_eq!(message.content, item.content);
                stored.push(message.clone());
            }
            Outcome::Error(error) if index == 6 => {
                assert_eq!(
                    (Code::from(error.code), error.message.as_str()),
                    (
                        Code::DeadlineExceeded,
                        "Message not stored: the request timed out before it could be written; try again"
                    ),
                    "the item's own deadline counts"
                );
            }
            Outcome::Error(error) => {
                let batched = as_status(error);
                let single = alone(&service, item).await;
                assert_eq!(
                    (batched.code(), batched.message(), batched.details()),
                    (single.code(), single.message(), single.details()),
                    "item {index} as its own call"
                );
            }
        }
    }
    assert_eq!(stored.len(), 2, "{outcomes:?}");
    assert_eq!(stored[0].sender_id, alice.user_id);
    assert_eq!(stored[1].sender_id, bob.user_id);

    // What each item was told, spelled out.
    let Outcome::Error(invalid) = &outcomes[1] else {
        panic!("blank content refused")
    };
    assert_eq!(violations(&as_status(invalid)), ["Content is required"]);
    let Outcome::Error(forged) = &outcomes[2] else {
        panic!("a bad token refused")
    };
    assert_eq!(
        (Code::from(forged.code), forged.message.as_str()),
        (Code::Unauthenticated, "Unauthorized")
    );
    let Outcome::Error(outsider) = &outcomes[3] else {
        panic!("a non-participant refused")
    };
    assert_eq!(
        (Code::from(outsider.code), outsider.message.clone()),
        (
            Code::NotFound,
            format!("Conversation with ID {id} not found")
        )
    );
    let Outcome::Error(service_item) = &outcomes[4] else {
        panic!("a service token is no sender")
    };
    assert_eq!(Code::from(service_item.code), Code::Unauthenticated);

    let history = service
        .messages
        .clone()
        .list_messages(alice.call(ListMessagesRequest {
            conversation_id: conversation.id.clone(),
            limit: 10,
            ..Default::default()
        }))
        .await
        .expect("history")
        .into_inner()
        .messages;
    let mut seqs: Vec<(i64, String)> = history.iter().map(|m| (m.seq, m.id.clone())).collect();
    seqs.sort();
    let mut expected: Vec<(i64, String)> = stored.iter().map(|m| (m.seq, m.id.clone())).collect();
    expected.sort();
    assert_eq!(seqs, expected, "exactly the valid items are stored");
    assert_eq!(
        expected.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[tokio::test]
async fn only_a_service_may_call_and_a_batch_is_bounded() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;

    let as_user = service
        .messages
        .clone()
        .create_messages(alice.call(CreateMessagesRequest {
            items: vec![item(&alice.token, &conversation.id, "hi")],
        }))
        .await
        .expect_err("a user cannot batch");
    assert_eq!(as_user.code(), Code::PermissionDenied);

    let too_many = (0..257)
        .map(|_| item(&alice.token, &conversation.id, "hi"))
        .collect();
    let refused = service
        .messages
        .clone()
        .create_messages(batch(too_many))
        .await
        .expect_err("too many items");
    assert_eq!(violations(&refused), ["At most 256 messages per call"]);

    let empty = service
        .messages
        .clone()
        .create_messages(batch(Vec::new()))
        .await
        .expect("an empty batch is answered")
        .into_inner();
    assert!(empty.results.is_empty());
}
