//! Errors as a Socket.IO client receives them: on the event's own error event (`messageError`,
//! `joinRoomError`...) as `{message, statusCode, error}`, and in the ack as
//! `{success: false, message, statusCode}` when the client asked for one. The connection stays open.

use serde_json::{Value, json};
use tonic::Code;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct SocketError {
    pub status: u16,
    /// `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND` or `INTERNAL_SERVER_ERROR`.
    pub code: &'static str,
    pub message: String,
}

impl SocketError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "BAD_REQUEST",
            message: message.into(),
        }
    }

    /// The original's validation message: every broken rule, after "Validation failed: ".
    pub fn validation(rules: &[String]) -> Self {
        Self::bad_request(format!("Validation failed: {}", rules.join(", ")))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            code: "FORBIDDEN",
            message: message.into(),
        }
    }

    pub fn internal() -> Self {
        Self {
            status: 500,
            code: "INTERNAL_SERVER_ERROR",
            message: "Internal server error".into(),
        }
    }

    pub fn event_payload(&self) -> Value {
        json!({ "message": self.message, "statusCode": self.status, "error": self.code })
    }

    pub fn ack_payload(&self) -> Value {
        json!({ "success": false, "message": self.message, "statusCode": self.status })
    }
}

/// What the conversations service said, as the client should hear it. Internal causes stay in the logs.
impl From<tonic::Status> for SocketError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition => Self::bad_request(message),
            Code::Unauthenticated => Self {
                status: 401,
                code: "UNAUTHORIZED",
                message,
            },
            Code::PermissionDenied => Self::forbidden(message),
            Code::NotFound => Self {
                status: 404,
                code: "NOT_FOUND",
                message,
            },
            Code::ResourceExhausted | Code::Unavailable | Code::DeadlineExceeded => {
                tracing::warn!(?status, "conversations service busy or unreachable");
                Self {
                    status: 503,
                    code: "INTERNAL_SERVER_ERROR",
                    message: "Service temporarily unavailable, try again".into(),
                }
            }
            _ => {
                tracing::error!(?status, "conversations call failed");
                Self::internal()
            }
        }
    }
}
