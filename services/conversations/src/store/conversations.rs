//! Conversations, participants and per-user titles.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::ConversationRow;
use crate::ConversationsError;

/// The columns of [`ConversationRow`] for actor `$1`: one statement reads the conversation, its
/// participants, the actor's title, its last message and the actor's unread count, so a page of
/// conversations costs one round trip. `me` is the actor's participant row (absent for an admin looking
/// in). The unread count walks the `(conversation_id, seq)` index above the actor's read-up-to.
const VIEW: &str = "SELECT c.id, c.title AS shared_title, c.offer_id, c.application_id,
        c.created_at, c.updated_at, c.last_message_at, t.title AS own_title,
        ARRAY(SELECT p.user_id FROM participants p WHERE p.conversation_id = c.id
              ORDER BY p.position) AS participant_ids,
        COALESCE(me.last_read_seq, 0) AS last_read_seq,
        CASE WHEN me.user_id IS NULL THEN 0::bigint ELSE
            (SELECT count(*) FROM messages u WHERE u.conversation_id = c.id
               AND u.seq > me.last_read_seq AND u.sender_id <> $1) END AS unread_count,
        lm.id AS last_id, lm.seq AS last_seq, lm.sender_id AS last_sender_id,
        lm.content AS last_content, lm.created_at AS last_created_at, lm.updated_at AS last_updated_at
    FROM conversations c
    LEFT JOIN participants me ON me.conversation_id = c.id AND me.user_id = $1
    LEFT JOIN titles t ON t.conversation_id = c.id AND t.user_id = $1
    LEFT JOIN messages lm ON lm.id = c.last_message_id";

pub struct NewConversation<'a> {
    pub id: Uuid,
    pub title: Option<&'a str>,
    pub offer_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub participants: &'a [Uuid],
}

pub async fn insert(
    tx: &mut PgConnection,
    new: NewConversation<'_>,
) -> Result<(), ConversationsError> {
    sqlx::query(
        "INSERT INTO conversations (id, title, offer_id, application_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(new.id)
    .bind(new.title)
    .bind(new.offer_id)
    .bind(new.application_id)
    .execute(&mut *tx)
    .await?;
    add_participants(tx, new.id, new.participants).await?;
    Ok(())
}

/// Adds whoever is not yet a participant; returns those actually added.
pub async fn add_participants(
    tx: &mut PgConnection,
    id: Uuid,
    users: &[Uuid],
) -> Result<Vec<Uuid>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO participants (conversation_id, user_id)
         SELECT $1, u FROM unnest($2::uuid[]) WITH ORDINALITY AS x(u, n) ORDER BY n
         ON CONFLICT DO NOTHING RETURNING user_id",
    )
    .bind(id)
    .bind(users)
    .fetch_all(&mut *tx)
    .await?)
}

/// Removes those who are participants; returns those actually removed.
pub async fn remove_participants(
    tx: &mut PgConnection,
    id: Uuid,
    users: &[Uuid],
) -> Result<Vec<Uuid>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "DELETE FROM participants WHERE conversation_id = $1 AND user_id = ANY($2) RETURNING user_id",
    )
    .bind(id)
    .bind(users)
    .fetch_all(&mut *tx)
    .await?)
}

pub async fn touch(tx: &mut PgConnection, id: Uuid) -> Result<(), ConversationsError> {
    sqlx::query("UPDATE conversations SET updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn find(
    db: &PgPool,
    actor: Uuid,
    id: Uuid,
) -> Result<Option<ConversationRow>, ConversationsError> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{VIEW} WHERE c.id = $2")))
            .bind(actor)
            .bind(id)
            .fetch_optional(db)
            .await?,
    )
}

/// The actor's conversations (optionally only those `with` also takes part in), most recent activity
/// first, and how many there are in all: one statement. It picks the page first (from the actor's
/// participant rows, with the total as a window count), then reads the page's rows through [`VIEW`], so
/// the unread counts and participant lists are computed for the page only.
pub async fn list(
    db: &PgPool,
    actor: Uuid,
    with: Option<Uuid>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<ConversationRow>, i64), ConversationsError> {
    #[derive(sqlx::FromRow)]
    struct Counted {
        #[sqlx(flatten)]
        row: ConversationRow,
        total: i64,
    }
    const MINE: &str = "SELECT c.id, COALESCE(c.last_message_at, c.updated_at) AS activity
        FROM participants mine JOIN conversations c ON c.id = mine.conversation_id
        WHERE mine.user_id = $1
          AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM participants w
                                           WHERE w.conversation_id = c.id AND w.user_id = $2))";
    let rows: Vec<Counted> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH page AS (SELECT id, activity, count(*) OVER () AS total FROM ({MINE}) m
                       ORDER BY activity DESC, id LIMIT $3 OFFSET $4)
         SELECT v.*, page.total FROM page
         CROSS JOIN LATERAL ({VIEW} WHERE c.id = page.id) v
         ORDER BY page.activity DESC, page.id"
    )))
    .bind(actor)
    .bind(with)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(db)
    .await?;
    let total = match rows.first() {
        Some(first) => first.total,
        // A page past the end carries no total: count alone (a rare request).
        None if offset > 0 => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM ({MINE}) m"
            )))
            .bind(actor)
            .bind(with)
            .fetch_one(db)
            .await?
        }
        None => 0,
    };
    Ok((rows.into_iter().map(|r| r.row).collect(), total))
}

/// Whether the conversation exists, and whether `user` takes part in it.
pub async fn membership(
    db: &PgPool,
    id: Uuid,
    user: Uuid,
) -> Result<Option<bool>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM participants WHERE conversation_id = $1 AND user_id = $2)
         FROM conversations WHERE id = $1",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await?)
}

/// What CheckAccess reads of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessGrantRow {
    /// Whether the user asked about takes part in it.
    pub is_participant: bool,
    pub latest_seq: i64,
    pub latest_event_seq: i64,
}

/// What CheckAccess needs: `None` if the conversation does not exist, else whether `user` takes part in
/// it and the conversation's latest `seq` and `event_seq`, read together (one row of one snapshot).
pub async fn access_grant(
    db: &PgPool,
    id: Uuid,
    user: Uuid,
) -> Result<Option<AccessGrantRow>, ConversationsError> {
    Ok(sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM participants WHERE conversation_id = $1 AND user_id = $2)
                    AS is_participant,
                last_seq AS latest_seq, last_event_seq AS latest_event_seq
         FROM conversations WHERE id = $1",
    )
    .bind(id)
    .bind(user)
    .fetch_optional(db)
    .await?)
}

/// Locks conversation rows for the rest of the transaction, in id order, as the message writer locks them
/// ([`super::messages::begin_locked`]): for the other changes that number events (receipts, reads), whose
/// outbox insert bumps these rows at the end. The writer locks them before the participant, message and
/// receipt rows it touches, so these changes lock them first too, rather than after rows the writer may
/// be waiting for. (A statement of its own rather than part of `BEGIN`, as the writer does: a `BEGIN` that
/// fails there would leave a pooled connection inside an aborted transaction, while a failure here rolls
/// back with the transaction.)
pub async fn lock_rows(tx: &mut PgConnection, ids: &[Uuid]) -> Result<(), ConversationsError> {
    sqlx::query("SELECT 1 FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(ids)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Locks the conversation row for the rest of the transaction and returns its participants, or `None`
/// if it does not exist.
pub async fn lock(
    tx: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Vec<Uuid>>, ConversationsError> {
    let exists: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Ok(None);
    }
    Ok(Some(
        sqlx::query_scalar(
            "SELECT user_id FROM participants WHERE conversation_id = $1 ORDER BY position",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?,
    ))
}

pub async fn delete(tx: &mut PgConnection, id: Uuid) -> Result<(), ConversationsError> {
    sqlx::query("DELETE FROM conversations WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn title(
    db: &PgPool,
    id: Uuid,
    user: Uuid,
) -> Result<Option<String>, ConversationsError> {
    Ok(
        sqlx::query_scalar("SELECT title FROM titles WHERE conversation_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .fetch_optional(db)
            .await?,
    )
}

/// Sets a participant's own title. The foreign key to `participants` refuses a non-participant.
pub async fn set_title(
    db: &PgPool,
    id: Uuid,
    user: Uuid,
    title: &str,
) -> Result<(), ConversationsError> {
    sqlx::query(
        "INSERT INTO titles (conversation_id, user_id, title) VALUES ($1, $2, $3)
         ON CONFLICT (conversation_id, user_id) DO UPDATE SET title = EXCLUDED.title, updated_at = now()",
    )
    .bind(id)
    .bind(user)
    .bind(title)
    .execute(db)
    .await?;
    Ok(())
}

/// Whether a title was deleted.
pub async fn delete_title(db: &PgPool, id: Uuid, user: Uuid) -> Result<bool, ConversationsError> {
    let result = sqlx::query("DELETE FROM titles WHERE conversation_id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(db)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Everyone who shares at least one conversation with `user`, excluding `user` and anyone kept apart
/// from them by a block (either way): the presence audience, so a blocked pair never learns each
/// other's status.
pub async fn contacts(db: &PgPool, user: Uuid) -> Result<Vec<Uuid>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT other.user_id FROM participants mine
         JOIN participants other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = $1 AND other.user_id <> $1
           AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = other.user_id)
           AND NOT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = other.user_id AND blocked_id = $1)",
    )
    .bind(user)
    .fetch_all(db)
    .await?)
}
