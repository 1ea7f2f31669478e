//! The SQL over the `conversations` schema, one module per table group. Connections run with
//! `search_path = conversations`. Writes that live clients must see also insert their event into the
//! outbox in the same transaction ([`outbox`]).

pub mod conversations;
pub mod messages;
pub mod outbox;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A conversation as the actor sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub shared_title: Option<String>,
    pub own_title: Option<String>,
    pub offer_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub participant_ids: Vec<Uuid>,
    pub last_message_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
