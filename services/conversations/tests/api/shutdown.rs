use junqo_proto::conversations::v1::CreateMessageRequest;
use tokio::sync::mpsc;

use crate::helpers::spawn;

/// SIGTERM during traffic: whatever was acknowledged before the service stopped is in the database.
#[tokio::test]
async fn every_acknowledged_message_survives_a_shutdown_under_load() {
    let mut service = spawn().await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;

    let (acknowledged, mut acks) = mpsc::unbounded_channel::<String>();
    for sender in 0..16 {
        let mut client = service.messages.clone();
        let (actor, conversation_id, acknowledged) =
            (alice.clone(), conversation.id.clone(), acknowledged.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let request = CreateMessageRequest {
                    actor: Some(actor.clone()),
                    conversation_id: conversation_id.clone(),
                    content: format!("sender {sender} message {i}"),
                    client_message_id: None,
                };
                match client.create_message(request).await {
                    Ok(message) => {
                        if acknowledged.send(message.into_inner().id).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }
    drop(acknowledged);

    let mut ids = Vec::new();
    while ids.len() < 200 {
        ids.push(acks.recv().await.expect("senders are running"));
    }
    service.stop().await;
    // Everything acknowledged, including answers that arrived while stopping.
    while let Some(id) = acks.recv().await {
        ids.push(id);
    }

    let mut db = service.db.connect().await;
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.parse().expect("uuid")).collect();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations.messages WHERE id = ANY($1)")
            .bind(&uuids)
            .fetch_one(&mut db)
            .await
            .expect("count");
    assert_eq!(
        stored as usize,
        ids.len(),
        "every acknowledged message is stored"
    );
}
