//! The conversations service's one error type and its mapping to gRPC status codes. Causes of internal
//! failures are logged here, once, and never sent to the caller. Broken input is not an error of this
//! service: the parsers in [`crate::domain`] return [`validation::Violations`], which become
//! `INVALID_ARGUMENT` with every sentence in its details.

use tonic::{Code, Status};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ConversationsError {
    /// The call carries no valid credential of a user this RPC may act for.
    #[error("Unauthorized")]
    NoActor,
    /// Also the answer when the conversation exists but the actor may not see it: a non-participant
    /// learns nothing, not even that it exists.
    #[error("Conversation with ID {0} not found")]
    ConversationNotFound(Uuid),
    #[error("Message #{0} not found")]
    MessageNotFound(Uuid),
    #[error("Title for user {user} in conversation {conversation} not found")]
    TitleNotFound { user: Uuid, conversation: Uuid },
    #[error("{0}")]
    Forbidden(&'static str),
    /// The change exists already (a second open report of one message by one user).
    #[error("{0}")]
    Conflict(&'static str),
    #[error("Report with ID {0} not found")]
    ReportNotFound(Uuid),
    #[error("Participant {0} does not exist")]
    UnknownUser(Uuid),
    /// A user named on their own (to block), who does not exist.
    #[error("User with ID {0} not found")]
    UserNotFound(Uuid),
    /// The caller's deadline came (or the caller left) before the message could be committed: it is not
    /// stored, and a retry stores it once.
    #[error("Message not stored: the request timed out before it could be written; try again")]
    NotStored,
    /// The connection broke while the message was being committed, and whether the commit happened could
    /// not be found out before the caller's deadline. Retrying with the same `clientMessageId` answers the
    /// stored message if there is one, and stores it otherwise.
    #[error("Message may or may not be stored: retry with the same clientMessageId")]
    OutcomeUnknown,
    #[error("auth service: {0}")]
    Auth(Status),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl ConversationsError {
    /// The same error for a second caller (one failed batch answers several). Causes that cannot be
    /// copied travel as their text.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::NoActor => Self::NoActor,
            Self::ConversationNotFound(id) => Self::ConversationNotFound(*id),
            Self::MessageNotFound(id) => Self::MessageNotFound(*id),
            Self::TitleNotFound { user, conversation } => Self::TitleNotFound {
                user: *user,
                conversation: *conversation,
            },
            Self::Forbidden(message) => Self::Forbidden(message),
            Self::Conflict(message) => Self::Conflict(message),
            Self::ReportNotFound(id) => Self::ReportNotFound(*id),
            Self::UnknownUser(id) => Self::UnknownUser(*id),
            Self::UserNotFound(id) => Self::UserNotFound(*id),
            Self::NotStored => Self::NotStored,
            Self::OutcomeUnknown => Self::OutcomeUnknown,
            Self::Auth(status) => Self::Auth(status.clone()),
            Self::Database(_) | Self::Internal(_) => Self::Internal(self.to_string()),
        }
    }
}

impl From<ConversationsError> for Status {
    fn from(error: ConversationsError) -> Self {
        use ConversationsError as E;
        match error {
            E::UnknownUser(_) => Status::invalid_argument(error.to_string()),
            E::NoActor => Status::unauthenticated(error.to_string()),
            E::ConversationNotFound(_)
            | E::MessageNotFound(_)
            | E::TitleNotFound { .. }
            | E::UserNotFound(_)
            | E::ReportNotFound(_) => Status::not_found(error.to_string()),
            E::Forbidden(_) => Status::permission_denied(error.to_string()),
            E::Conflict(_) => Status::already_exists(error.to_string()),
            E::NotStored => Status::deadline_exceeded(error.to_string()),
            E::OutcomeUnknown => {
                tracing::warn!(%error, "commit outcome unknown at the caller's deadline");
                // A code of its own, so the edges can pass the sentence on: unlike any other failure, this
                // one may have stored the message.
                Status::aborted(error.to_string())
            }
            E::Auth(status) if status.code() == Code::Unavailable => {
                tracing::warn!(%status, "auth service unavailable");
                Status::unavailable("User directory unavailable")
            }
            E::Auth(_) | E::Database(_) | E::Internal(_) => {
                tracing::error!(%error, "request failed");

                Status::internal("Internal server error")
            }
        }
    }
}
