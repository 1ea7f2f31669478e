//! The transactional outbox: events are inserted with the change they describe, and deleted once the
//! broker has confirmed them.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ConversationsError;

/// An event ready for the outbox: its payload is already encoded, so the outbox needs no event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
}

/// An event stored in the outbox, with the row id that deletes it once confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    pub event: NewEvent,
}

/// Inserts events in the caller's transaction; returns them with their outbox ids, in the given order.
pub async fn insert(
    tx: &mut PgConnection,
    events: Vec<NewEvent>,
) -> Result<Vec<OutboxEvent>, ConversationsError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
    let traceparents: Vec<Option<&str>> = events.iter().map(|e| e.traceparent.as_deref()).collect();
    let ids: Vec<(i64, Uuid)> = sqlx::query_as(
        "INSERT INTO outbox (event_id, routing_key, payload, traceparent)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[])
         RETURNING id, event_id",
    )
    .bind(&event_ids)
    .bind(&keys)
    .bind(&payloads)
    .bind(&traceparents)
    .fetch_all(&mut *tx)
    .await?;
    let mut outbox = Vec::with_capacity(events.len());
    for event in events {
        let id = ids
            .iter()
            .find(|(_, event_id)| *event_id == event.event_id)
            .map(|(id, _)| *id)
            .ok_or_else(|| ConversationsError::Internal("outbox insert lost an event".into()))?;
        outbox.push(OutboxEvent { id, event });
    }
    Ok(outbox)
}

/// Rows old enough that their fast-path publish has surely failed or been lost.
pub async fn stale(
    db: &PgPool,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxEvent>, ConversationsError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        event_id: Uuid,
        routing_key: String,
        payload: Vec<u8>,
        traceparent: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, event_id, routing_key, payload, traceparent FROM outbox
         WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY id LIMIT $2",
    )
    .bind(older_than_ms)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| OutboxEvent {
            id: row.id,
            event: NewEvent {
                event_id: row.event_id,
                routing_key: row.routing_key,
                payload: row.payload,
                traceparent: row.traceparent,
            },
        })
        .collect())
}

pub async fn delete(db: &PgPool, ids: &[i64]) -> Result<(), ConversationsError> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn backlog(db: &PgPool) -> Result<i64, ConversationsError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(db)
        .await?)
}
