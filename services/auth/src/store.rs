//! The SQL over `auth.users`. Connections run with `search_path = auth`.

use jwt::UserType;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::AuthError;
use crate::domain::{Email, UserName};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[sqlx(rename = "type")]
    pub user_type: String,
    pub password_hash: String,
}

impl UserRow {
    pub fn user_type(&self) -> Result<UserType, AuthError> {
        self.user_type
            .parse()
            .map_err(|_| AuthError::Internal(format!("user {} has an unknown type", self.id)))
    }
}

/// What an update writes; `None` leaves a column as it is.
#[derive(Debug, Default)]
pub struct UserUpdate<'a> {
    pub name: Option<&'a UserName>,
    pub email: Option<&'a Email>,
    pub user_type: Option<UserType>,
    pub password_hash: Option<String>,
}

#[derive(Clone)]
pub struct UserStore {
    pool: PgPool,
}

const UNIQUE_VIOLATION: &str = "23505";

fn email_taken(error: sqlx::Error) -> AuthError {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            AuthError::EmailTaken
        }
        _ => AuthError::Database(error),
    }
}

impl UserStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn insert(
        &self,
        name: &UserName,
        email: &Email,
        user_type: UserType,
        password_hash: &str,
    ) -> Result<UserRow, AuthError> {
        sqlx::query_as(
            "INSERT INTO users (id, name, email, type, password_hash) VALUES ($1, $2, $3, $4, $5)
             RETURNING id, name, email, type, password_hash",
        )
        .bind(Uuid::new_v4())
        .bind(name.as_str())
        .bind(email.as_str())
        .bind(user_type.as_str())
        .bind(password_hash)
        .fetch_one(&self.pool)
        .await
        .map_err(email_taken)
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<UserRow>, AuthError> {
        Ok(sqlx::query_as(
            "SELECT id, name, email, type, password_hash FROM users WHERE lower(email) = lower($1)",
        )
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn find(&self, id: Uuid) -> Result<Option<UserRow>, AuthError> {
        Ok(
            sqlx::query_as("SELECT id, name, email, type, password_hash FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn find_many(&self, ids: &[Uuid]) -> Result<Vec<UserRow>, AuthError> {
        Ok(sqlx::query_as(
            "SELECT id, name, email, type, password_hash FROM users WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies an update in the caller's transaction (a credential change commits with its revocation).
    pub async fn update(
        tx: &mut PgConnection,
        id: Uuid,
        update: UserUpdate<'_>,
    ) -> Result<Option<UserRow>, AuthError> {
        sqlx::query_as(
            "UPDATE users SET
                name = COALESCE($2, name),
                email = COALESCE($3, email),
                type = COALESCE($4, type),
                password_hash = COALESCE($5, password_hash),
                updated_at = now()
             WHERE id = $1
             RETURNING id, name, email, type, password_hash",
        )
        .bind(id)
        .bind(update.name.map(UserName::as_str))
        .bind(update.email.map(Email::as_str))
        .bind(update.user_type.map(UserType::as_str))
        .bind(update.password_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(email_taken)
    }

    /// Whether a user was deleted, in the caller's transaction (it commits with the revocation).
    pub async fn delete(tx: &mut PgConnection, id: Uuid) -> Result<bool, AuthError> {
        let result = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}
