//! The SQL over the `conversations` schema, one module per table group. Connections run with
//! `search_path = conversations`. Writes that live clients must see also insert their event into the
//! outbox in the same transaction ([`outbox`]).

pub mod blocks;
pub mod conversations;
pub mod messages;
pub mod outbox;
pub mod reports;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A conversation as the actor sees it, with its last message and the actor's read state, as one
/// query reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub shared_title: Option<String>,
    pub own_title: Option<String>,
    pub offer_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub participant_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_read_seq: i64,
    pub unread_count: i64,
    #[sqlx(flatten)]
    pub last: LastMessageColumns,
}

/// The last message's columns, all null when the conversation has none (a `LEFT JOIN`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastMessageColumns {
    pub last_id: Option<Uuid>,
    pub last_seq: Option<i64>,
    pub last_sender_id: Option<Uuid>,
    pub last_content: Option<String>,
    pub last_created_at: Option<DateTime<Utc>>,
    pub last_updated_at: Option<DateTime<Utc>>,
}

impl ConversationRow {
    pub fn last_message(&self) -> Option<MessageRow> {
        let last = &self.last;
        Some(MessageRow {
            id: last.last_id?,
            conversation_id: self.id,
            seq: last.last_seq?,
            sender_id: last.last_sender_id?,
            content: last.last_content.clone()?,
            created_at: last.last_created_at?,
            updated_at: last.last_updated_at?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRow {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub sender_id: Uuid,
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReceiptRow {
    pub id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub read_at: DateTime<Utc>,
}

pub const UNIQUE_VIOLATION: &str = "23505";

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION))
}
