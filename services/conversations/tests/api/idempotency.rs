use junqo_proto::conversations::v1::CreateMessageRequest;

use crate::helpers::spawn;

#[tokio::test]
async fn a_retried_client_message_id_stores_one_message() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;
    let message = |client_id: &str| CreateMessageRequest {
        conversation_id: conversation.id.clone(),
        content: "sent on a flaky network".into(),
        client_message_id: Some(client_id.into()),
    };
    let request = |client_id: &str| alice.call(message(client_id));

    let first = service
        .messages
        .clone()
        .create_message(request("retry-1"))
        .await
        .expect("stored")
        .into_inner();
    let retry = service
        .messages
        .clone()
        .create_message(request("retry-1"))
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(first, retry);

    // Retries racing each other (they may share a batch) still store one message.
    let racing = (0..10).map(|_| {
        let mut client = service.messages.clone();
        let request = request("retry-2");
        async move {
            client
                .create_message(request)
                .await
                .expect("answered")
                .into_inner()
        }
    });
    let answers = futures::future::join_all(racing).await;
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "every retry gets the same message"
    );

    // Another sender may use the same client id for their own message.
    let bobs = service
        .messages
        .clone()
        .create_message(bob.call(message("retry-1")))
        .await
        .expect("stored")
        .into_inner();
    assert_ne!(bobs.id, first.id);

    // The same client id in another conversation is another message, stored there.
    let elsewhere = service.conversation(&alice, &[&bob]).await;
    let other = service
        .messages
        .clone()
        .create_message(alice.call(CreateMessageRequest {
            conversation_id: elsewhere.id.clone(),
            ..message("retry-1")
        }))
        .await
        .expect("stored")
        .into_inner();
    assert_ne!(other.id, first.id);
    assert_eq!(other.conversation_id, elsewhere.id);

    let mut db = service.db.connect().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM conversations.messages")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(stored, 4);
}
