//! Conversations, participants and per-user titles.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::ConversationRow;
use crate::ConversationsError;

/// The columns of [`ConversationRow`] for actor `$1`, over `conversations c`.
const VIEW: &str = "SELECT c.id, c.title AS shared_title, c.offer_id, c.application_id, c.last_message_id,
        c.created_at, c.updated_at,
        (SELECT t.title FROM titles t WHERE t.conversation_id = c.id AND t.user_id = $1) AS own_title,
        ARRAY(SELECT p.user_id FROM participants p WHERE p.conversation_id = c.id
              ORDER BY p.position) AS participant_ids
    FROM conversations c";

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
/// first, and how many there are in all.
pub async fn list(
    db: &PgPool,
    actor: Uuid,
    with: Option<Uuid>,
    limit: u32,
    offset: u32,
) -> Result<(Vec<ConversationRow>, i64), ConversationsError> {
    const FILTER: &str =
        "WHERE c.id IN (SELECT conversation_id FROM participants WHERE user_id = $1)
          AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM participants w
                                           WHERE w.conversation_id = c.id AND w.user_id = $2))";
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{VIEW} {FILTER} ORDER BY COALESCE(c.last_message_at, c.updated_at) DESC, c.id LIMIT $3 OFFSET $4"
    )))
    .bind(actor)
    .bind(with)
    .bind(i64::from(limit))
    .bind(i64::from(offset))
    .fetch_all(db)
    .await?;
    let count = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM conversations c {FILTER}"
    )))
    .bind(actor)
    .bind(with)
    .fetch_one(db)
    .await?;
    Ok((rows, count))
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

/// Everyone who shares at least one conversation with `user`, excluding `user`.
pub async fn contacts(db: &PgPool, user: Uuid) -> Result<Vec<Uuid>, ConversationsError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT other.user_id FROM participants mine
         JOIN participants other ON other.conversation_id = mine.conversation_id
         WHERE mine.user_id = $1 AND other.user_id <> $1",
    )
    .bind(user)
    .fetch_all(db)
    .await?)
}
