//! The transactional outbox: events are inserted with the change they describe, and deleted once the
//! broker has confirmed them. Each row carries a claim (which replica publishes it, until when), so two
//! conversations replicas never relay the same row.

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

/// A replica's hold on outbox rows: no other replica's relay takes them until `lease_ms` has passed
/// (renewed by the holder's own relay while it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub by: Uuid,
    pub lease_ms: i64,
}

/// Inserts events in the caller's transaction, claimed by the replica that will publish them; returns
/// them with their outbox ids, in the given order.
pub async fn insert(
    tx: &mut PgConnection,
    events: Vec<NewEvent>,
    claim: Claim,
) -> Result<Vec<OutboxEvent>, ConversationsError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
    let traceparents: Vec<Option<&str>> = events.iter().map(|e| e.traceparent.as_deref()).collect();
    let ids: Vec<(i64, Uuid)> = sqlx::query_as(
        "INSERT INTO outbox (event_id, routing_key, payload, traceparent, claimed_by, claimed_until)
         SELECT e.*, $5::uuid, now() + make_interval(secs => $6::double precision / 1000)
         FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[]) AS e
         RETURNING id, event_id",
    )
    .bind(&event_ids)
    .bind(&keys)
    .bind(&payloads)
    .bind(&traceparents)
    .bind(claim.by)
    .bind(claim.lease_ms)
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

/// Extends this replica's claim on every row it holds.
pub async fn renew_claims(db: &PgPool, claim: Claim) -> Result<(), ConversationsError> {
    sqlx::query(
        "UPDATE outbox
         SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
         WHERE claimed_by = $1",
    )
    .bind(claim.by)
    .bind(claim.lease_ms)
    .execute(db)
    .await?;
    Ok(())
}

/// Claims rows old enough that their fast-path publish has surely failed or been lost: this replica's
/// own, and any whose claim has lapsed (its replica died or lost the broker for long). Rows another
/// replica is claiming at this very moment are skipped, not waited for. Returns them in id order.
pub async fn claim_stale(
    db: &PgPool,
    claim: Claim,
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
    let mut rows: Vec<Row> = sqlx::query_as(
        "UPDATE outbox
         SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2::double precision / 1000)
         WHERE id IN (
             SELECT id FROM outbox
             WHERE created_at < now() - make_interval(secs => $3::double precision / 1000)
               AND (claimed_by = $1 OR claimed_until IS NULL OR claimed_until < now())
             ORDER BY id LIMIT $4
             FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, routing_key, payload, traceparent",
    )
    .bind(claim.by)
    .bind(claim.lease_ms)
    .bind(older_than_ms)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.sort_unstable_by_key(|row| row.id);
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
