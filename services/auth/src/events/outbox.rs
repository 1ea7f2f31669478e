//! The `outbox` table: events inserted with their change, deleted once the broker confirmed them.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::AuthError;

/// An encoded event, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
}

/// An event stored in the outbox, with the row id that deletes it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: Uuid,
    pub routing_key: String,
    pub payload: Vec<u8>,
}

/// Inserts events in the caller's transaction; returns their row ids.
pub async fn insert(tx: &mut PgConnection, events: &[NewEvent]) -> Result<Vec<i64>, AuthError> {
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (event_id, routing_key, payload)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[])
         RETURNING id",
    )
    .bind(&event_ids)
    .bind(&keys)
    .bind(&payloads)
    .fetch_all(&mut *tx)
    .await?)
}

/// The rows named, in order (the fast path, right after their commit).
pub async fn by_ids(db: &PgPool, ids: &[i64]) -> Result<Vec<OutboxRow>, AuthError> {
    Ok(sqlx::query_as(
        "SELECT id, event_id, routing_key, payload FROM outbox WHERE id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}

/// Rows old enough that their fast-path publish has surely failed (or another replica's process died).
pub async fn stale(
    db: &PgPool,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxRow>, AuthError> {
    Ok(sqlx::query_as(
        "SELECT id, event_id, routing_key, payload FROM outbox
         WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY id LIMIT $2",
    )
    .bind(older_than_ms)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

pub async fn delete(db: &PgPool, ids: &[i64]) -> Result<(), AuthError> {
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}
