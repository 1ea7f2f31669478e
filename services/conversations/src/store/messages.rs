//! Messages and read receipts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{MessageRow, ReceiptRow};
use crate::ConversationsError;

const COLUMNS: &str = "id, conversation_id, seq, sender_id, content, created_at, updated_at";

/// What a batch of new messages reserves in one conversation.
pub struct Reservation {
    pub conversation_id: Uuid,
    pub count: i32,
    pub last_message_id: Uuid,
}

/// The numbers reserved: the conversation's new last sequence number and last message time.
#[derive(Debug, sqlx::FromRow)]
pub struct Reserved {
    pub id: Uuid,
    pub last_seq: i64,
    pub last_message_at: DateTime<Utc>,
}

/// Reserves sequence numbers and creation times for new messages, under each conversation row's lock:
/// the `count` messages of a conversation get the `count` numbers after its `last_seq`, and times that
/// are strictly increasing at millisecond precision (never before now, always after the previous message).
/// Conversations that no longer exist are absent from the answer.
pub async fn reserve(
    tx: &mut PgConnection,
    reservations: &[Reservation],
) -> Result<Vec<Reserved>, ConversationsError> {
    let ids: Vec<Uuid> = reservations.iter().map(|r| r.conversation_id).collect();
    let counts: Vec<i32> = reservations.iter().map(|r| r.count).collect();
    let last_ids: Vec<Uuid> = reservations.iter().map(|r| r.last_message_id).collect();
    Ok(sqlx::query_as(
        "UPDATE conversations c SET
            last_seq = c.last_seq + v.k,
            last_message_id = v.last_id,
            last_message_at = GREATEST(
                date_trunc('milliseconds', clock_timestamp()) + (v.k - 1) * interval '1 millisecond',
                c.last_message_at + v.k * interval '1 millisecond')
         FROM unnest($1::uuid[], $2::int4[], $3::uuid[]) AS v(id, k, last_id)
         WHERE c.id = v.id
         RETURNING c.id, c.last_seq, c.last_message_at",
    )
    .bind(&ids)
    .bind(&counts)
    .bind(&last_ids)
    .fetch_all(&mut *tx)
    .await?)
}

pub async fn insert_many(
    tx: &mut PgConnection,
    rows: &[MessageRow],
    client_ids: &[Option<&str>],
) -> Result<(), ConversationsError> {
    let column = |f: fn(&MessageRow) -> Uuid| rows.iter().map(f).collect::<Vec<_>>();
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let contents: Vec<&str> = rows.iter().map(|r| r.content.as_str()).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.created_at).collect();
    // One statement: the messages, and each sender's read-up-to moved to their newest message (a sender
    // has read what they wrote), so the batch pays no extra round trip for it.
    sqlx::query(
        "WITH stored AS (
            INSERT INTO messages (id, conversation_id, seq, sender_id, content, client_message_id, created_at, updated_at)
            SELECT id, conversation_id, seq, sender_id, content, client_id, created_at, created_at
            FROM unnest($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[])
                 AS x(id, conversation_id, seq, sender_id, content, client_id, created_at)
            RETURNING conversation_id, sender_id, seq)
         UPDATE participants p SET last_read_seq = s.seq
         FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM stored
               GROUP BY conversation_id, sender_id) s
         WHERE p.conversation_id = s.conversation_id AND p.user_id = s.sender_id
           AND p.last_read_seq < s.seq",
    )
    .bind(column(|r| r.id))
    .bind(column(|r| r.conversation_id))
    .bind(&seqs)
    .bind(column(|r| r.sender_id))
    .bind(&contents)
    .bind(client_ids)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Messages already stored under these (sender, conversation, client message id) keys, with their
/// client ids.
pub async fn find_by_client_ids(
    db: &PgPool,
    senders: &[Uuid],
    conversations: &[Uuid],
    client_ids: &[&str],
) -> Result<Vec<(MessageRow, String)>, ConversationsError> {
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        message: MessageRow,
        client_message_id: String,
    }
    let found: Vec<Found> = sqlx::query_as(
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.created_at, m.updated_at,
                m.client_message_id
         FROM messages m JOIN unnest($1::uuid[], $2::uuid[], $3::text[]) AS k(sender_id, conversation_id, client_id)
           ON m.sender_id = k.sender_id AND m.conversation_id = k.conversation_id
          AND m.client_message_id = k.client_id",
    )
    .bind(senders)
    .bind(conversations)
    .bind(client_ids)
    .fetch_all(db)
    .await?;
    Ok(found
        .into_iter()
        .map(|f| (f.message, f.client_message_id))
        .collect())
}

/// Whether a batch whose COMMIT got no answer (the connection broke, or the answer was late) was
/// committed. Its transaction held the lock on each of its conversations' rows from its `UPDATE` until it
/// ended, so once this transaction holds them too (`FOR SHARE` conflicts with that `UPDATE`), the batch
/// has ended one way or the other for good, and a statement started afterwards sees its messages if and
/// only if it committed. Waits for the locks at most `lock_wait`; run it on a fresh connection.
pub async fn batch_committed(
    tx: &mut PgConnection,
    conversations: &[Uuid],
    ids: &[Uuid],
    lock_wait: std::time::Duration,
) -> Result<bool, ConversationsError> {
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", lock_wait.as_millis().max(1)))
        .execute(&mut *tx)
        .await?;
    // In id order, as the writer locks them, so this never deadlocks with a batch.
    sqlx::query("SELECT 1 FROM conversations WHERE id = ANY($1) ORDER BY id FOR SHARE")
        .bind(conversations)
        .execute(&mut *tx)
        .await?;
    // A new statement, so a new snapshot: taken after the locks were granted.
    let stored: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE id = ANY($1))")
            .bind(ids)
            .fetch_one(&mut *tx)
            .await?;
    Ok(stored)
}

pub async fn find(db: &PgPool, id: Uuid) -> Result<Option<MessageRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Locks a message for an edit or a delete.
pub async fn lock(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<Option<MessageRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// Newest first, strictly older than `before` when given.
pub async fn history(
    db: &PgPool,
    conversation: Uuid,
    limit: u32,
    before: Option<DateTime<Utc>>,
) -> Result<Vec<MessageRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages
         WHERE conversation_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2)
         ORDER BY created_at DESC LIMIT $3"
    )))
    .bind(conversation)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?)
}

/// Messages of `user`'s conversations (or of one of them) whose words match `tsquery` (in the 'simple'
/// configuration, as the `search` column is built), newest first, strictly older than `before`. The GIN
/// index on `search` finds the matches; membership is a semi-join on the participants' user index.
pub async fn search(
    db: &PgPool,
    user: Uuid,
    tsquery: &str,
    conversation: Option<Uuid>,
    before: Option<DateTime<Utc>>,
    limit: u32,
) -> Result<Vec<MessageRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages
         WHERE search @@ to_tsquery('simple', $2)
           AND conversation_id IN (SELECT conversation_id FROM participants WHERE user_id = $1)
           AND ($3::uuid IS NULL OR conversation_id = $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
         ORDER BY created_at DESC LIMIT $5"
    )))
    .bind(user)
    .bind(tsquery)
    .bind(conversation)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?)
}

/// Oldest first, strictly after sequence number `after`: what a reconnecting client missed.
pub async fn after_seq(
    db: &PgPool,
    conversation: Uuid,
    after: i64,
    limit: u32,
) -> Result<Vec<MessageRow>, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    )))
    .bind(conversation)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await?)
}

pub async fn update_content(
    tx: &mut PgConnection,
    id: Uuid,
    content: &str,
) -> Result<MessageRow, ConversationsError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE messages SET content = $2, updated_at = greatest(now(), created_at) WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(content)
    .fetch_one(&mut *tx)
    .await?)
}

/// Deletes a message; if it was its conversation's newest, the previous one becomes the last message.
pub async fn delete(tx: &mut PgConnection, message: &MessageRow) -> Result<(), ConversationsError> {
    sqlx::query("DELETE FROM messages WHERE id = $1")
        .bind(message.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE conversations SET last_message_id =
            (SELECT id FROM messages WHERE conversation_id = $1 ORDER BY seq DESC LIMIT 1)
         WHERE id = $1 AND last_message_id = $2",
    )
    .bind(message.conversation_id)
    .bind(message.id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Locks `user`'s participant row in the conversation; returns their read-up-to and the conversation's
/// last sequence number, or `None` if they take no part in it.
pub async fn lock_read_state(
    tx: &mut PgConnection,
    conversation: Uuid,
    user: Uuid,
) -> Result<Option<(i64, i64)>, ConversationsError> {
    Ok(sqlx::query_as(
        "SELECT p.last_read_seq, c.last_seq FROM participants p
         JOIN conversations c ON c.id = p.conversation_id
         WHERE p.conversation_id = $1 AND p.user_id = $2 FOR UPDATE OF p",
    )
    .bind(conversation)
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?)
}

/// Moves `user`'s read-up-to to `seq` if that is further (never backwards).
pub async fn read_up_to(
    tx: &mut PgConnection,
    conversation: Uuid,
    user: Uuid,
    seq: i64,
) -> Result<(), ConversationsError> {
    sqlx::query(
        "UPDATE participants SET last_read_seq = $3
         WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3",
    )
    .bind(conversation)
    .bind(user)
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Messages from others after `user`'s read-up-to in the conversation.
pub async fn unread_count<'c>(
    db: impl sqlx::PgExecutor<'c>,
    conversation: Uuid,
    user: Uuid,
    last_read_seq: i64,
) -> Result<i64, ConversationsError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE conversation_id = $1 AND seq > $3 AND sender_id <> $2",
    )
    .bind(conversation)
    .bind(user)
    .bind(last_read_seq)
    .fetch_one(db)
    .await?)
}

/// Records that `user` read the message; reading again keeps the first time.
pub async fn mark_read(
    tx: &mut PgConnection,
    message: Uuid,
    user: Uuid,
) -> Result<ReceiptRow, ConversationsError> {
    Ok(sqlx::query_as(
        "INSERT INTO read_receipts (id, message_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = read_receipts.read_at
         RETURNING id, message_id, user_id, read_at",
    )
    .bind(Uuid::new_v4())
    .bind(message)
    .bind(user)
    .fetch_one(&mut *tx)
    .await?)
}

pub async fn receipts<'c>(
    db: impl sqlx::PgExecutor<'c>,
    messages: &[Uuid],
) -> Result<Vec<ReceiptRow>, ConversationsError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT id, message_id, user_id, read_at FROM read_receipts WHERE message_id = ANY($1) ORDER BY read_at, user_id",
    )
    .bind(messages)
    .fetch_all(db)
    .await?)
}
