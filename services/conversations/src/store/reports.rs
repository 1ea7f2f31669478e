//! Reports of messages, with the message copied as it was when reported.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::MessageRow;
use crate::ConversationsError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub reporter_id: Uuid,
    pub reason: String,
    pub status: String,
    pub message_content: String,
    pub message_sender_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, message_id, conversation_id, reporter_id, reason, status, message_content,
    message_sender_id, created_at, updated_at";

/// Files a report; `None` if the reporter already has an open report of this message.
pub async fn insert(
    db: &PgPool,
    message: &MessageRow,
    reporter: Uuid,
    reason: &str,
) -> Result<Option<ReportRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO reports (id, message_id, conversation_id, reporter_id, reason, message_content,
                              message_sender_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (message_id, reporter_id) WHERE status = 'open' DO NOTHING
         RETURNING {COLUMNS}"
    )))
    .bind(Uuid::new_v4())
    .bind(message.id)
    .bind(message.conversation_id)
    .bind(reporter)
    .bind(reason)
    .bind(&message.content)
    .bind(message.sender_id)
    .fetch_optional(db)
    .await?)
}

/// A page of reports, oldest first (a queue), of one status or all, and how many there are.
pub async fn list(
    db: &PgPool,
    status: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<ReportRow>, i64), ConversationsError> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reports WHERE ($1::text IS NULL OR status = $1)
         ORDER BY created_at, id LIMIT $2 OFFSET $3"
    )))
    .bind(status)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(db)
    .await?;
    let count =
        sqlx::query_scalar("SELECT count(*) FROM reports WHERE ($1::text IS NULL OR status = $1)")
            .bind(status)
            .fetch_one(db)
            .await?;
    Ok((rows, count))
}

pub async fn set_status(
    db: &PgPool,
    id: Uuid,
    status: &str,
) -> Result<Option<ReportRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE reports SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .fetch_optional(db)
    .await?)
}
