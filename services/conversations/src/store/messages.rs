//! Messages and read receipts.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{MessageRow, ReceiptRow};
use crate::ConversationsError;

const COLUMNS: &str = "id, conversation_id, seq, sender_id, content, created_at, updated_at";

/// Begins a batch's transaction holding the row lock of each of its conversations, in the one round trip
/// of `BEGIN`. The locks are taken in id order, as every batch takes them, so batches never deadlock with
/// each other. Every statement run afterwards in the transaction takes its snapshot after the locks were
/// granted: a change that locks a conversation row (removing a participant, deleting the conversation, a
/// block between two of its members) has either committed before and is seen, or waits for this
/// transaction to end. Conversations that do not exist are skipped.
///
/// On an error the connection's state is unknown (a failed `BEGIN` leaves no transaction for sqlx to roll
/// back): close it.
pub async fn begin_locked<'c>(
    conn: &'c mut PgConnection,
    conversations: &[Uuid],
) -> Result<sqlx::Transaction<'c, sqlx::Postgres>, ConversationsError> {
    // A simple query cannot bind parameters; uuids print as hex and dashes, nothing to escape.
    let ids: Vec<String> = conversations.iter().map(Uuid::to_string).collect();
    let statement = format!(
        "BEGIN; SELECT 1 FROM conversations WHERE id = ANY('{{{}}}'::uuid[]) ORDER BY id FOR NO KEY UPDATE",
        ids.join(",")
    );
    Ok(sqlx::Connection::begin_with(conn, sqlx::AssertSqlSafe(statement)).await?)
}

/// A message of a batch, not yet known to be allowed.
pub struct Submitted<'a> {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub sender_id: Uuid,
    pub content: &'a str,
    pub client_message_id: Option<&'a str>,
}

/// What became of one submitted message.
#[derive(Debug, sqlx::FromRow)]
pub struct Verdict {
    /// Whether the sender takes part in the conversation (false when it does not exist).
    pub is_participant: bool,
    /// Whether the sender, a participant, is in a conversation of exactly two with someone kept apart from
    /// them by a block (either way).
    pub kept_apart: bool,
    /// Whether this statement stored it (else it was refused, or its client message id was stored before).
    pub inserted: bool,
    id: Option<Uuid>,
    seq: Option<i64>,
    content: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

impl Verdict {
    /// The message as stored (by this statement, or before it under the same client message id), if it
    /// is; `submitted` is the message this verdict answers.
    pub fn stored(&self, submitted: &Submitted<'_>) -> Option<MessageRow> {
        Some(MessageRow {
            id: self.id?,
            conversation_id: submitted.conversation_id,
            seq: self.seq?,
            sender_id: submitted.sender_id,
            content: self.content.clone()?,
            created_at: self.created_at?,
            updated_at: self.updated_at?,
        })
    }
}

/// Stores a batch of messages in one statement, each only if its sender may send it: a participant of
/// the conversation, and not in a conversation of two kept apart by a block (the rule of
/// [`crate::access::may_send`] plus the block, decided here so that checking and storing is one round
/// trip). A message whose (sender, conversation, client message id) is stored already is not stored
/// again; its verdict carries the stored message. Run it under [`begin_locked`]'s locks.
///
/// The messages stored in a conversation get the next sequence numbers in submission order, and times
/// that are strictly increasing at millisecond precision (never before now, always after the previous
/// message); the conversation's last message moves to the newest, and each sender's read-up-to to their
/// newest message (a sender has read what they wrote). Returns one verdict per message, in order.
pub async fn insert_allowed(
    tx: &mut PgConnection,
    messages: &[Submitted<'_>],
) -> Result<Vec<Verdict>, ConversationsError> {
    let column = |f: fn(&Submitted<'_>) -> Uuid| messages.iter().map(f).collect::<Vec<_>>();
    let contents: Vec<&str> = messages.iter().map(|m| m.content).collect();
    let client_ids: Vec<Option<&str>> = messages.iter().map(|m| m.client_message_id).collect();
    Ok(sqlx::query_as(
        "WITH m AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[])
                WITH ORDINALITY AS m(id, conversation_id, sender_id, content, client_id, n)),
         judged AS (
            SELECT m.*, me.is_participant, apart.kept_apart,
                s.id AS stored_id, s.seq AS stored_seq, s.content AS stored_content,
                s.created_at AS stored_created_at, s.updated_at AS stored_updated_at
            FROM m
            CROSS JOIN LATERAL (
                SELECT EXISTS (SELECT 1 FROM participants p
                               WHERE p.conversation_id = m.conversation_id AND p.user_id = m.sender_id)
                    AS is_participant) me
            CROSS JOIN LATERAL (
                SELECT me.is_participant AND EXISTS (
                    SELECT 1 FROM participants o
                    WHERE o.conversation_id = m.conversation_id AND o.user_id <> m.sender_id
                      AND (SELECT count(*) FROM participants everyone
                           WHERE everyone.conversation_id = m.conversation_id) = 2
                      AND (EXISTS (SELECT 1 FROM blocks
                                   WHERE blocker_id = m.sender_id AND blocked_id = o.user_id)
                           OR EXISTS (SELECT 1 FROM blocks
                                      WHERE blocker_id = o.user_id AND blocked_id = m.sender_id)))
                    AS kept_apart) apart
            LEFT JOIN messages s
              ON s.sender_id = m.sender_id AND s.conversation_id = m.conversation_id
             AND s.client_message_id = m.client_id AND s.client_message_id IS NOT NULL),
         fresh AS (
            SELECT id, conversation_id, sender_id, content, client_id,
                   row_number() OVER (PARTITION BY conversation_id ORDER BY n) AS pos,
                   count(*) OVER (PARTITION BY conversation_id) AS k
            FROM judged WHERE is_participant AND NOT kept_apart AND stored_id IS NULL),
         counts AS (
            SELECT conversation_id, count(*)::int4 AS k, (array_agg(id ORDER BY pos DESC))[1] AS last_id
            FROM fresh GROUP BY conversation_id),
         reserved AS (
            UPDATE conversations c SET
                last_seq = c.last_seq + v.k,
                last_message_id = v.last_id,
                last_message_at = GREATEST(
                    date_trunc('milliseconds', clock_timestamp()) + (v.k - 1) * interval '1 millisecond',
                    c.last_message_at + v.k * interval '1 millisecond')
            FROM counts v WHERE c.id = v.conversation_id
            RETURNING c.id, c.last_seq, c.last_message_at),
         inserted AS (
            INSERT INTO messages (id, conversation_id, seq, sender_id, content, client_message_id,
                                  created_at, updated_at)
            SELECT f.id, f.conversation_id, r.last_seq - f.k + f.pos, f.sender_id, f.content, f.client_id,
                   t.at, t.at
            FROM fresh f JOIN reserved r ON r.id = f.conversation_id
            CROSS JOIN LATERAL (SELECT r.last_message_at - (f.k - f.pos) * interval '1 millisecond' AS at) t
            RETURNING id, conversation_id, sender_id, seq, created_at),
         read AS (
            UPDATE participants p SET last_read_seq = s.seq
            FROM (SELECT conversation_id, sender_id, max(seq) AS seq FROM inserted
                  GROUP BY conversation_id, sender_id) s
            WHERE p.conversation_id = s.conversation_id AND p.user_id = s.sender_id
              AND p.last_read_seq < s.seq)
         SELECT j.is_participant, j.kept_apart, i.id IS NOT NULL AS inserted,
                COALESCE(i.id, j.stored_id) AS id,
                COALESCE(i.seq, j.stored_seq) AS seq,
                CASE WHEN i.id IS NOT NULL THEN j.content ELSE j.stored_content END AS content,
                COALESCE(i.created_at, j.stored_created_at) AS created_at,
                COALESCE(i.created_at, j.stored_updated_at) AS updated_at
         FROM judged j LEFT JOIN inserted i ON i.id = j.id
         ORDER BY j.n",
    )
    .bind(column(|m| m.id))
    .bind(column(|m| m.conversation_id))
    .bind(column(|m| m.sender_id))
    .bind(&contents)
    .bind(&client_ids)
    .fetch_all(&mut *tx)
    .await?)
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

/// The conversation of a message, unlocked: what an edit or a delete locks first.
pub async fn conversation_of(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Uuid>, ConversationsError> {
    Ok(
        sqlx::query_scalar("SELECT conversation_id FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// Locks a message for an edit or a delete, after its conversation's row (see
/// [`crate::store::outbox::insert`] on the order).
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
