//! The auth service's one error type. Each variant maps to one gRPC status here and nowhere else; causes
//! are logged once, at this edge, and never sent to the caller.

use tonic::Status;
use validation::Violations;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One sentence per broken rule, in the order the rules were checked.
    #[error(transparent)]
    Validation(#[from] Violations),
    #[error("Email already exists")]
    EmailTaken,
    /// The same answer for an unknown email and a wrong password, so accounts cannot be enumerated.
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("Unauthorized")]
    Unauthenticated,
    /// `currentPassword` of a profile update does not match.
    #[error("Current password is incorrect")]
    WrongCurrentPassword,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("User #{0} not found")]
    UserNotFound(uuid::Uuid),
    /// A user id that is not a UUID.
    #[error("Invalid user ID")]
    InvalidUserId,
    /// Too many password operations are already queued (or this client address has its share).
    #[error("Too many requests, try again later")]
    Busy,
    /// Too many sign-in failures or sign-ups in the current window ([`crate::attempts`]).
    #[error("Too many attempts, try again later")]
    TooManyAttempts { retry_after: std::time::Duration },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

/// `RESOURCE_EXHAUSTED` with when to come back, in whole seconds, as `retry-after` metadata (the
/// gateway turns it into the `Retry-After` header).
fn retry_after(message: String, seconds: u64) -> Status {
    let mut status = Status::resource_exhausted(message);
    status
        .metadata_mut()
        .insert("retry-after", tonic::metadata::MetadataValue::from(seconds));
    status
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Validation(violations) => violations.into_status(),
            AuthError::EmailTaken => Status::already_exists(error.to_string()),
            AuthError::InvalidCredentials
            | AuthError::Unauthenticated
            | AuthError::WrongCurrentPassword => Status::unauthenticated(error.to_string()),
            AuthError::Forbidden(_) => Status::permission_denied(error.to_string()),
            AuthError::UserNotFound(_) => Status::not_found(error.to_string()),
            AuthError::InvalidUserId => Status::invalid_argument(error.to_string()),
            AuthError::Busy => retry_after(error.to_string(), 1),
            AuthError::TooManyAttempts { retry_after: wait } => {
                retry_after(error.to_string(), platform::rate::seconds_ceil(wait))
            }
            AuthError::Database(_) | AuthError::Internal(_) => {
                tracing::error!(%error, "request failed");
                Status::internal("Internal server error")
            }
        }
    }
}
