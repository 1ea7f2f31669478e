use junqo_proto::conversations::v1::{
    ConversationRef, CreateConversationRequest, ListConversationsRequest, ParticipantsRequest,
    SetTitleRequest,
};
use tonic::Code;

use crate::helpers::{admin, spawn, violations};

fn conversation_ref(actor: &crate::helpers::Actor, id: &str) -> tonic::Request<ConversationRef> {
    actor.call(ConversationRef {
        conversation_id: id.into(),
    })
}

#[tokio::test]
async fn the_creator_is_always_a_participant() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let created = service
        .conversations
        .clone()
        .create_conversation(alice.call(CreateConversationRequest {
            participant_ids: vec![bob.user_id.clone()],
            title: Some("Internship at Junqo".into()),
            offer_id: Some(uuid::Uuid::new_v4().to_string()),
            application_id: None,
        }))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(
        created.participant_ids,
        [alice.user_id.clone(), bob.user_id.clone()]
    );
    assert_eq!(created.title.as_deref(), Some("Internship at Junqo"));
    assert!(created.offer_id.is_some() && created.application_id.is_none());
    assert!(created.last_message.is_none());

    let seen_by_bob = service
        .conversations
        .clone()
        .get_conversation(conversation_ref(&bob, &created.id))
        .await
        .expect("bob sees it")
        .into_inner();
    assert_eq!(seen_by_bob.participant_ids, created.participant_ids);
}

#[tokio::test]
async fn creation_checks_every_field_and_that_participants_exist() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let status = service
        .conversations
        .clone()
        .create_conversation(alice.call(CreateConversationRequest {
            participant_ids: vec!["not-a-uuid".into()],
            title: Some("t".repeat(51)),
            offer_id: Some("nope".into()),
            application_id: Some("nope".into()),
        }))
        .await
        .expect_err("invalid");
    assert_eq!(
        violations(&status),
        [
            "Each participant ID must be a valid UUID",
            "The title length must be shorter than 50",
            "Offer ID must be a valid UUID",
            "Application ID must be a valid UUID",
        ]
    );

    let ghost = uuid::Uuid::new_v4().to_string();
    let status = service
        .conversations
        .clone()
        .create_conversation(alice.call(CreateConversationRequest {
            participant_ids: vec![ghost.clone()],
            ..Default::default()
        }))
        .await
        .expect_err("unknown user");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        format!("Participant {ghost} does not exist")
    );
}

#[tokio::test]
async fn outsiders_learn_nothing_and_admins_see_everything() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let eve = service.user("Eve").await;
    let conversation = service.conversation(&alice, &[&bob]).await;

    let outsider = service
        .conversations
        .clone()
        .get_conversation(conversation_ref(&eve, &conversation.id))
        .await
        .expect_err("eve is not a participant");
    let missing_id = uuid::Uuid::new_v4().to_string();
    let missing = service
        .conversations
        .clone()
        .get_conversation(conversation_ref(&eve, &missing_id))
        .await
        .expect_err("does not exist");
    assert_eq!(outsider.code(), Code::NotFound);
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        outsider.message(),
        format!("Conversation with ID {} not found", conversation.id)
    );

    for denied in [
        service
            .conversations
            .clone()
            .delete_conversation(conversation_ref(&eve, &conversation.id))
            .await
            .err(),
        service
            .conversations
            .clone()
            .check_access(conversation_ref(&eve, &conversation.id))
            .await
            .err(),
        service
            .conversations
            .clone()
            .add_participants(eve.call(ParticipantsRequest {
                conversation_id: conversation.id.clone(),
                participant_ids: vec![eve.user_id.clone()],
            }))
            .await
            .err(),
    ] {
        assert_eq!(denied.expect("refused").code(), Code::NotFound);
    }

    let as_admin = service
        .conversations
        .clone()
        .get_conversation(conversation_ref(&admin(), &conversation.id))
        .await
        .expect("admins see any conversation")
        .into_inner();
    assert_eq!(as_admin.id, conversation.id);
}

#[tokio::test]
async fn lists_are_the_callers_own_newest_activity_first_with_paging() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let with_bob = service.conversation(&alice, &[&bob]).await;
    let with_carol = service.conversation(&alice, &[&carol]).await;
    let _not_alices = service.conversation(&bob, &[&carol]).await;
    service.send(&bob, &with_bob, "newest activity").await;

    let list = |participant_id: Option<String>, limit: u32, offset: u32| {
        let mut client = service.conversations.clone();
        let request = alice.call(ListConversationsRequest {
            participant_id,
            limit,
            offset,
        });
        async move { client.list_conversations(request).await }
    };
    let all = list(None, 0, 0).await.expect("listed").into_inner();
    assert_eq!(all.count, 2);
    let ids: Vec<&str> = all.conversations.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [with_bob.id.as_str(), with_carol.id.as_str()]);
    assert_eq!(
        all.conversations[0]
            .last_message
            .as_ref()
            .map(|m| m.content.as_str()),
        Some("newest activity")
    );

    let second_page = list(None, 1, 1).await.expect("listed").into_inner();
    assert_eq!(second_page.count, 2);
    assert_eq!(second_page.conversations.len(), 1);
    assert_eq!(second_page.conversations[0].id, with_carol.id);

    let with_carol_only = list(Some(carol.user_id.clone()), 0, 0)
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(with_carol_only.count, 1);
    assert_eq!(with_carol_only.conversations[0].id, with_carol.id);
}

#[tokio::test]
async fn participants_are_added_and_removed_but_never_all() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let carol = service.user("Carol").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let request = |users: Vec<String>| {
        bob.call(ParticipantsRequest {
            conversation_id: conversation.id.clone(),
            participant_ids: users,
        })
    };

    let added = service
        .conversations
        .clone()
        .add_participants(request(vec![carol.user_id.clone()]))
        .await
        .expect("bob adds carol")
        .into_inner();
    assert_eq!(
        added.participant_ids,
        [
            alice.user_id.clone(),
            bob.user_id.clone(),
            carol.user_id.clone()
        ]
    );

    let removed = service
        .conversations
        .clone()
        .remove_participants(request(vec![alice.user_id.clone()]))
        .await
        .expect("bob removes alice")
        .into_inner();
    assert_eq!(
        removed.participant_ids,
        [bob.user_id.clone(), carol.user_id.clone()]
    );
    let gone = service
        .conversations
        .clone()
        .get_conversation(conversation_ref(&alice, &conversation.id))
        .await
        .expect_err("alice no longer sees it");
    assert_eq!(gone.code(), Code::NotFound);

    let everyone = service
        .conversations
        .clone()
        .remove_participants(request(vec![bob.user_id.clone(), carol.user_id.clone()]))
        .await
        .expect_err("cannot empty a conversation");
    assert_eq!(everyone.code(), Code::PermissionDenied);
    assert_eq!(
        everyone.message(),
        "Cannot remove all participants from a conversation"
    );
}

#[tokio::test]
async fn titles_are_personal() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    service
        .conversations
        .clone()
        .set_title(bob.call(SetTitleRequest {
            conversation_id: conversation.id.clone(),
            title: "Chat with Alice".into(),
        }))
        .await
        .expect("bob names it");

    let title_of = |actor: &crate::helpers::Actor| {
        let request = conversation_ref(actor, &conversation.id);
        let mut client = service.conversations.clone();
        async move {
            client
                .get_conversation(request)
                .await
                .expect("visible")
                .into_inner()
                .title
        }
    };
    assert_eq!(title_of(&bob).await.as_deref(), Some("Chat with Alice"));
    assert_eq!(title_of(&alice).await, None);

    service
        .conversations
        .clone()
        .delete_title(conversation_ref(&bob, &conversation.id))
        .await
        .expect("bob clears it");
    assert_eq!(title_of(&bob).await, None);
    let again = service
        .conversations
        .clone()
        .delete_title(conversation_ref(&bob, &conversation.id))
        .await
        .expect_err("nothing to delete");
    assert_eq!(
        again.message(),
        format!(
            "Title for user {} in conversation {} not found",
            bob.user_id, conversation.id
        )
    );
}

#[tokio::test]
async fn deleting_a_conversation_removes_everything_in_it() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    service.send(&alice, &conversation, "hello").await;
    service
        .conversations
        .clone()
        .delete_conversation(conversation_ref(&bob, &conversation.id))
        .await
        .expect("a participant deletes it");

    let mut db = service.db.connect().await;
    for table in [
        "conversations",
        "participants",
        "titles",
        "messages",
        "read_receipts",
    ] {
        let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM conversations.{table}"
        )))
        .fetch_one(&mut db)
        .await
        .expect("count");
        assert_eq!(left, 0, "{table}");
    }
}
