use std::collections::BTreeSet;

use junqo_proto::conversations::v1::ListMessagesRequest;

use crate::helpers::{at, spawn};

#[tokio::test]
async fn two_hundred_parallel_sends_get_distinct_gap_free_numbers() {
    let service = spawn().await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let conversation = service.conversation(&alice, &[&bob]).await;

    let sends = (0..200).map(|i| {
        let (service, conversation) = (&service, &conversation);
        let sender = if i % 2 == 0 { &alice } else { &bob };
        async move {
            service
                .send(sender, conversation, &format!("parallel {i}"))
                .await
        }
    });
    let sent = futures::future::join_all(sends).await;

    let numbers: BTreeSet<i64> = sent.iter().map(|m| m.seq).collect();
    assert_eq!(numbers, (1..=200).collect::<BTreeSet<i64>>());

    // Stored order agrees: times strictly increase with the sequence number.
    let mut by_seq = sent.clone();
    by_seq.sort_by_key(|m| m.seq);
    assert!(
        by_seq
            .windows(2)
            .all(|w| at(&w[0].created_at) < at(&w[1].created_at))
    );

    let stored = service
        .messages
        .clone()
        .list_messages(alice.call(ListMessagesRequest {
            conversation_id: conversation.id.clone(),
            limit: 100,
            before: None,
            after_seq: Some(0),
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(stored.messages.first().map(|m| m.seq), Some(1));
    assert_eq!(stored.messages.len(), 100);
}
