//! Who is calling comes from the credential in the call's metadata, verified by the service itself:
//! never from a field of the request.

use junqo_proto::conversations::v1::{
    ConversationRef, CreateConversationRequest, CreateMessageRequest, ListContactsRequest,
    ListConversationsRequest,
};
use secrecy::SecretString;
use tonic::Code;

use crate::helpers::{Actor, SECRET, spawn};

/// The wire shape `ConversationRef` had when it carried a caller-declared actor (field 1), to show that
/// whatever is sent there is ignored.
#[derive(Clone, PartialEq, prost::Message)]
struct ForgedRef {
    #[prost(message, optional, tag = "1")]
    actor: Option<ForgedActor>,
    #[prost(string, tag = "2")]
    conversation_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ForgedActor {
    #[prost(string, tag = "1")]
    user_id: String,
    #[prost(string, tag = "2")]
    user_type: String,
}

#[tokio::test]
async fn a_call_without_a_valid_credential_is_unauthenticated() {
    let service = spawn().await;
    let alice = service.user("Alice").await;

    let status = service
        .conversations
        .clone()
        .create_conversation(CreateConversationRequest::default())
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);

    let status = service
        .conversations
        .clone()
        .list_contacts(ListContactsRequest {})
        .await
        .expect_err("no credential");
    assert_eq!(status.code(), Code::Unauthenticated);

    let forged = jwt::TokenSigner::new(
        &SecretString::from("not-the-deployment-secret"),
        jwt::DEFAULT_TTL,
    )
    .sign(&jwt::Subject {
        id: alice.user_id.parse().expect("uuid"),
        name: "Alice",
        user_type: jwt::UserType::Admin,
        email: "alice@example.com",
    })
    .expect("signs");
    let impostor = Actor {
        user_id: alice.user_id.clone(),
        token: forged,
    };
    let status = service
        .conversations
        .clone()
        .list_conversations(impostor.call(ListConversationsRequest::default()))
        .await
        .expect_err("signed with another secret");
    assert_eq!(status.code(), Code::Unauthenticated);

    let garbage = Actor {
        user_id: alice.user_id.clone(),
        token: "not-a-jwt".into(),
    };
    let status = service
        .messages
        .clone()
        .create_message(garbage.call(CreateMessageRequest::default()))
        .await
        .expect_err("garbage");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_users_token_acts_only_as_that_user() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let private = service.conversation(&bob, &[&carol]).await;
    let shared = service.conversation(&alice, &[&bob]).await;

    let status = service
        .conversations
        .clone()
        .get_conversation(alice.call(ConversationRef {
            conversation_id: private.id.clone(),
        }))
        .await
        .expect_err("alice is not in bob's conversation");
    assert_eq!(status.code(), Code::NotFound);

    // Whatever the old actor field would have said, the sender is the token's user.
    let sent = service.send(&alice, &shared, "from alice").await;
    assert_eq!(sent.sender_id, alice.user_id);

    // Sent in the shape of the old request, claiming to be Bob and an admin, with Alice's token.
    let mut client = tonic::client::Grpc::new(service.channel.clone());
    client.ready().await.expect("channel ready");
    let forged = alice.call(ForgedRef {
        actor: Some(ForgedActor {
            user_id: bob.user_id.clone(),
            user_type: "ADMIN".into(),
        }),
        conversation_id: private.id.clone(),
    });
    let status = client
        .unary::<_, ForgedRef, _>(
            forged,
            "/junqo.conversations.v1.ConversationsService/GetConversation"
                .parse()
                .expect("path"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect_err("the forged actor is ignored");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_service_token_acts_for_a_user_only_where_the_service_needs_it() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let shared = service.conversation(&alice, &[&bob]).await;

    let signer = jwt::ServiceSigner::new(&SecretString::from(SECRET), "realtime");
    let for_alice = Actor {
        user_id: alice.user_id.clone(),
        token: signer.sign(alice.user_id.parse().ok()).expect("signs"),
    };
    let contacts = service
        .conversations
        .clone()
        .list_contacts(for_alice.call(ListContactsRequest {}))
        .await
        .expect("presence asks for alice's contacts")
        .into_inner()
        .user_ids;
    assert_eq!(contacts, std::slice::from_ref(&bob.user_id));

    let status = service
        .conversations
        .clone()
        .get_conversation(for_alice.call(ConversationRef {
            conversation_id: shared.id.clone(),
        }))
        .await
        .expect_err("a service token does not read conversations");
    assert_eq!(status.code(), Code::Unauthenticated);

    let for_itself = Actor {
        user_id: String::new(),
        token: signer.sign(None).expect("signs"),
    };
    let status = service
        .conversations
        .clone()
        .list_contacts(for_itself.call(ListContactsRequest {}))
        .await
        .expect_err("whose contacts?");
    assert_eq!(status.code(), Code::Unauthenticated);
}
