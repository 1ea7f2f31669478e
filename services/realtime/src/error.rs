//! Errors as a Socket.IO client receives them: on the event's own error event (`messageError`,
//! `joinRoomError`...) as `{message, statusCode, error}`, and in the ack as
//! `{success: false, message, statusCode}` when the client asked for one. A validation failure also
//! carries `details`: every broken rule's sentence, whether realtime found them or the conversations
//! service did. The connection stays open.

use serde::Serialize;
use tonic::Code;
use validation::Violations;

/// What kind of failure, as the `error` field and `statusCode` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    TooManyRequests,
    Internal,
    Unavailable,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::TooManyRequests,
        Self::Internal,
        Self::Unavailable,
    ];

    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::TooManyRequests => 429,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::Internal => "INTERNAL_SERVER_ERROR",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {message}", kind.status(), kind.code())]
pub struct SocketError {
    pub kind: Kind,
    pub message: String,
    /// Every broken rule, for validation failures only.
    pub details: Option<Vec<String>>,
    /// For a refused rate: when the same event would be accepted again, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

impl SocketError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: None,
            retry_after_ms: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Kind::BadRequest, message)
    }

    /// The original's validation message, "Validation failed: A, B", with A and B in `details`.
    pub fn validation(violations: Violations) -> Self {
        Self {
            kind: Kind::BadRequest,
            message: violations.summary(),
            details: Some(violations.into_sentences()),
            retry_after_ms: None,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Kind::Forbidden, message)
    }

    /// An event over its rate limit; it would be accepted again after `wait`.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        Self {
            retry_after_ms: Some(platform::rate::millis_ceil(wait)),
            ..Self::new(Kind::TooManyRequests, "Too many requests, slow down")
        }
    }

    pub fn internal() -> Self {
        Self::new(Kind::Internal, "Internal server error")
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The error event's payload.
    pub fn event_payload(&self) -> impl Serialize + '_ {
        EventBody {
            message: &self.message,
            status_code: self.kind.status(),
            error: self.kind.code(),
            details: self.details.as_deref(),
            retry_after_ms: self.retry_after_ms,
        }
    }

    /// The failed ack's payload.
    pub fn ack_payload(&self) -> impl Serialize + '_ {
        AckBody {
            success: false,
            message: &self.message,
            status_code: self.kind.status(),
            details: self.details.as_deref(),
            retry_after_ms: self.retry_after_ms,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventBody<'a> {
    message: &'a str,
    status_code: u16,
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AckBody<'a> {
    success: bool,
    message: &'a str,
    status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl From<Violations> for SocketError {
    fn from(violations: Violations) -> Self {
        Self::validation(violations)
    }
}

/// What the conversations service said, as the client should hear it. Internal causes stay in the logs.
impl From<tonic::Status> for SocketError {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument => match Violations::from_status(&status) {
                Some(violations) => Self::validation(violations),
                None => Self::bad_request(message),
            },
            Code::FailedPrecondition => Self::bad_request(message),
            Code::Unauthenticated => Self::new(Kind::Unauthorized, message),
            Code::PermissionDenied => Self::forbidden(message),
            Code::NotFound => Self::new(Kind::NotFound, message),
            // The message may or may not be stored: the sentence says to retry with the same
            // clientMessageId, unlike every other failure (which stored nothing).
            Code::Aborted => Self::new(Kind::Unavailable, message),
            Code::ResourceExhausted | Code::Unavailable | Code::DeadlineExceeded => {
                tracing::warn!(?status, "conversations service busy or unreachable");
                Self::new(
                    Kind::Unavailable,
                    "Service temporarily unavailable, try again",
                )
            }
            _ => {
                tracing::error!(?status, "conversations call failed");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn json_of(body: impl Serialize) -> Value {
        serde_json::to_value(body).expect("serializable")
    }

    #[test]
    fn every_sentence_from_the_conversations_service_reaches_the_client() {
        let status = Violations::from_sentences(vec![
            "Content is required".into(),
            "Client message ID must be at most 128 characters long".into(),
        ])
        .expect("not empty")
        .into_status();
        let error = SocketError::from(status);
        let expected_message = "Validation failed: Content is required, Client message ID must be at most 128 characters long";
        assert_eq!(
            json_of(error.event_payload()),
            json!({
                "message": expected_message,
                "statusCode": 400,
                "error": "BAD_REQUEST",
                "details": ["Content is required", "Client message ID must be at most 128 characters long"],
            })
        );
        assert_eq!(
            json_of(error.ack_payload()),
            json!({
                "success": false,
                "message": expected_message,
                "statusCode": 400,
                "details": ["Content is required", "Client message ID must be at most 128 characters long"],
            })
        );
    }

    #[test]
    fn other_failures_carry_no_details() {
        let error = SocketError::from(tonic::Status::not_found("Conversation with ID x not found"));
        assert_eq!(
            json_of(error.ack_payload()),
            json!({"success": false, "message": "Conversation with ID x not found", "statusCode": 404})
        );
        let plain = SocketError::from(tonic::Status::invalid_argument("Bad id"));
        assert_eq!(
            json_of(plain.event_payload()),
            json!({"message": "Bad id", "statusCode": 400, "error": "BAD_REQUEST"})
        );
    }

    #[test]
    fn an_unreachable_service_is_unavailable_not_internal() {
        for status in [
            tonic::Status::unavailable("down"),
            tonic::Status::resource_exhausted("queue full"),
            tonic::Status::deadline_exceeded("slow"),
        ] {
            let error = SocketError::from(status);
            assert_eq!(
                (error.status(), error.kind.code()),
                (503, "SERVICE_UNAVAILABLE")
            );
        }
        let maybe_stored = SocketError::from(tonic::Status::aborted(
            "Message may or may not be stored: retry with the same clientMessageId",
        ));
        assert_eq!(
            json_of(maybe_stored.ack_payload()),
            json!({"success": false, "statusCode": 503,
                   "message": "Message may or may not be stored: retry with the same clientMessageId"}),
            "the one failure that may have stored the message says so"
        );
        let refused = SocketError::too_many_requests(std::time::Duration::from_micros(99_100));
        assert_eq!(
            json_of(refused.ack_payload()),
            json!({"success": false, "message": "Too many requests, slow down", "statusCode": 429, "retryAfterMs": 100})
        );
        assert_eq!(
            json_of(refused.event_payload()),
            json!({"message": "Too many requests, slow down", "statusCode": 429, "error": "TOO_MANY_REQUESTS", "retryAfterMs": 100})
        );
    }
}
