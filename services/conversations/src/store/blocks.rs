//! Blocks between users: who blocked whom, and whether a pair is kept apart (either direction).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ConversationsError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BlockRow {
    pub blocker_id: Uuid,
    pub blocked_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Blocks `blocked` for `blocker`; blocking again keeps the first block (and its time). The rows of the
/// conversations the two share are locked first (in id order, as the message writer locks them), so a
/// message between them is either committed before the block or checked after it: the writer checks
/// under the same locks.
pub async fn insert(
    db: &PgPool,
    blocker: Uuid,
    blocked: Uuid,
) -> Result<BlockRow, ConversationsError> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "SELECT 1 FROM conversations WHERE id IN (
             SELECT mine.conversation_id FROM participants mine
             JOIN participants theirs ON theirs.conversation_id = mine.conversation_id
             WHERE mine.user_id = $1 AND theirs.user_id = $2)
         ORDER BY id FOR SHARE",
    )
    .bind(blocker)
    .bind(blocked)
    .execute(&mut *tx)
    .await?;
    let block = sqlx::query_as(
        "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)
         ON CONFLICT (blocker_id, blocked_id) DO UPDATE SET created_at = blocks.created_at
         RETURNING blocker_id, blocked_id, created_at",
    )
    .bind(blocker)
    .bind(blocked)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(block)
}

pub async fn delete(db: &PgPool, blocker: Uuid, blocked: Uuid) -> Result<(), ConversationsError> {
    sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .bind(blocker)
        .bind(blocked)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn list(db: &PgPool, blocker: Uuid) -> Result<Vec<BlockRow>, ConversationsError> {
    Ok(sqlx::query_as(
        "SELECT blocker_id, blocked_id, created_at FROM blocks WHERE blocker_id = $1
         ORDER BY created_at DESC, blocked_id",
    )
    .bind(blocker)
    .fetch_all(db)
    .await?)
}

/// Whether `user` and any of `others` are kept apart: one blocked the other, either way.
pub async fn any_between(
    db: &PgPool,
    user: Uuid,
    others: &[Uuid],
) -> Result<bool, ConversationsError> {
    if others.is_empty() {
        return Ok(false);
    }
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = ANY($2))
             OR EXISTS (SELECT 1 FROM blocks WHERE blocked_id = $1 AND blocker_id = ANY($2))",
    )
    .bind(user)
    .bind(others)
    .fetch_one(db)
    .await?)
}

/// Everyone kept apart from `user` by a block, either way.
pub async fn kept_apart(db: &PgPool, user: Uuid) -> Result<Vec<Uuid>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "SELECT blocked_id FROM blocks WHERE blocker_id = $1
         UNION SELECT blocker_id FROM blocks WHERE blocked_id = $1",
    )
    .bind(user)
    .fetch_all(db)
    .await?)
}
