//! A deleted user leaves every conversation. Auth announces `user.deleted` on the `junqo.auth` exchange;
//! this task consumes it from a durable queue shared by every conversations replica (so each deletion is
//! applied once, and one announced while conversations was down waits for it), and removes the user from
//! each of their conversations in one transaction, with the usual `participants.removed` event per
//! conversation so live rooms evict them. Their messages stay, with their `senderId`.
//!
//! Applying it twice is harmless: the second time finds no participant rows. The delivery is acknowledged
//! only after the commit; a failure puts it back on the queue.

use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use broker::lapin::types::{AMQPValue, FieldTable, ShortString};
use futures::StreamExt;
use junqo_proto::events::v1::{AuthEvent, auth_event::Payload};
use prost::Message;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::publisher::EventPublisher;
use crate::ConversationsError;
use crate::store;

/// An unused queue (no replica running) is dropped after a day: deletions older than that are lost,
/// and the queue of a test run does not linger.
const QUEUE_EXPIRES_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct UserDeletedSettings {
    pub url: String,
    pub exchanges: Exchanges,
}

pub fn spawn(
    settings: UserDeletedSettings,
    pool: PgPool,
    publisher: EventPublisher,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match consume(&settings, &pool, &publisher, &stop).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "user.deleted consumer interrupted")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

async fn consume(
    settings: &UserDeletedSettings,
    pool: &PgPool,
    publisher: &EventPublisher,
    stop: &CancellationToken,
) -> Result<(), broker::Error> {
    let connection = broker::connect(&settings.url, "conversations").await?;
    let channel = connection.create_channel().await?;
    broker::declare_auth(&channel, &settings.exchanges).await?;
    channel.basic_qos(16, BasicQosOptions::default()).await?;
    let queue = format!("{}.conversations.user-deleted", settings.exchanges.auth);
    let mut arguments = FieldTable::default();
    arguments.insert(
        ShortString::from("x-expires"),
        AMQPValue::LongLongInt(QUEUE_EXPIRES_MS),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            settings.exchanges.auth.as_str().into(),
            "user.deleted".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => {
                let _ = connection.close(200, "shutting down".into()).await;
                return Ok(());
            }
            delivery = consumer.next() => delivery,
        };
        let delivery =
            delivery.ok_or(broker::Error::Closed("user.deleted consumer cancelled"))??;
        let user = match AuthEvent::decode(delivery.data.as_slice()).map(|e| e.payload) {
            Ok(Some(Payload::UserDeleted(deleted))) => deleted.user_id.parse::<Uuid>().ok(),
            _ => None,
        };
        let Some(user) = user else {
            tracing::warn!("dropping an unreadable user.deleted event");
            delivery.ack(BasicAckOptions::default()).await?;
            continue;
        };
        match leave_everything(pool, publisher, user).await {
            Ok(count) => {
                tracing::info!(user_id = %user, conversations = count, "deleted user left their conversations");
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(error) => {
                tracing::warn!(%error, user_id = %user, "cannot remove a deleted user; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
            }
        }
    }
}

/// Removes the user from every conversation, with one `participants.removed` per conversation (by the
/// user themselves, as if they had left). Returns how many conversations they left.
pub async fn leave_everything(
    pool: &PgPool,
    publisher: &EventPublisher,
    user: Uuid,
) -> Result<usize, ConversationsError> {
    let mut tx = pool.begin().await?;
    // The conversation rows first, in id order, as the message writer locks them: each conversation's
    // event bumps its row, and the writer holds those rows while it waits for participant rows.
    let conversations: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM conversations
         WHERE id IN (SELECT conversation_id FROM participants WHERE user_id = $1)
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(user)
    .fetch_all(&mut *tx)
    .await?;
    // Only those locked: one joined meanwhile is left as one joined after the deletion would be.
    let left: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM participants WHERE user_id = $1 AND conversation_id = ANY($2)
         RETURNING conversation_id",
    )
    .bind(user)
    .bind(&conversations)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::with_capacity(left.len());
    for conversation in &left {
        store::conversations::touch(&mut tx, *conversation).await?;
        events.push(super::participants_removed(
            *conversation,
            &[user],
            user,
            None,
        ));
    }
    let outbox = store::outbox::insert(&mut tx, events, publisher.claim()).await?;
    tx.commit().await?;
    publisher.publish(outbox);
    Ok(left.len())
}
