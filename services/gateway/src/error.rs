//! The gateway's one error type, rendered as the original backend's error body:
//! `{"message": <string | string[]>, "error": "<reason phrase>", "statusCode": <int>}`.
//!
//! Upstream gRPC statuses map to HTTP statuses here and nowhere else. Only the messages of statuses that
//! services raise on purpose (validation, not found, forbidden...) reach the client; internal failures are
//! logged and answered with a fixed sentence.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::Code;
use validation::{Broken, Violations};

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ErrorMessage {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message:?}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: ErrorMessage,
    /// Seconds after which the request may succeed: the `Retry-After` header of a 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    message: &'a ErrorMessage,
    error: &'static str,
    status_code: u16,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: ErrorMessage::One(message.into()),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: &self.message,
            error: self.status.canonical_reason().unwrap_or("Error"),
            status_code: self.status.as_u16(),
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// A 400 listing every broken rule.
impl From<Violations> for ApiError {
    fn from(violations: Violations) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: ErrorMessage::Many(violations.into_sentences()),
            retry_after: None,
        }
    }
}

impl From<Broken> for ApiError {
    fn from(broken: Broken) -> Self {
        Violations::from(broken).into()
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let message = || status.message().to_owned();
        match status.code() {
            Code::InvalidArgument => match Violations::from_status(&status) {
                Some(violations) => violations.into(),
                None => Self::new(StatusCode::BAD_REQUEST, message()),
            },
            Code::Unauthenticated => Self::new(StatusCode::UNAUTHORIZED, message()),
            Code::PermissionDenied => Self::new(StatusCode::FORBIDDEN, message()),
            Code::NotFound => Self::new(StatusCode::NOT_FOUND, message()),
            Code::AlreadyExists => Self::new(StatusCode::CONFLICT, message()),
            Code::FailedPrecondition => Self::new(StatusCode::BAD_REQUEST, message()),
            // A limit or a full queue upstream; auth says when to come back.
            Code::ResourceExhausted => Self {
                retry_after: status
                    .metadata()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok()),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, message())
            },
            Code::Unavailable => {
                tracing::warn!(?status, "upstream unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable",
                )
            }
            // The message may or may not be stored (conversations' own sentence says to retry with the
            // same clientMessageId): the client must hear that, not a generic failure.
            Code::Aborted => Self::new(StatusCode::SERVICE_UNAVAILABLE, message()),
            Code::DeadlineExceeded | Code::Cancelled => {
                tracing::warn!(?status, "upstream timed out");
                Self::new(StatusCode::GATEWAY_TIMEOUT, "Upstream service timed out")
            }
            _ => {
                tracing::error!(?status, "upstream failed");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(error: &ApiError) -> String {
        match &error.message {
            ErrorMessage::One(one) => one.clone(),
            ErrorMessage::Many(many) => many.join(", "),
        }
    }

    #[test]
    fn only_a_send_that_may_be_stored_says_so() {
        let maybe = ApiError::from(tonic::Status::aborted(
            "Message may or may not be stored: retry with the same clientMessageId",
        ));
        assert_eq!(maybe.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            sentence(&maybe),
            "Message may or may not be stored: retry with the same clientMessageId"
        );
        let down = ApiError::from(tonic::Status::unavailable(
            "tcp connect error: 10.0.0.7:50052",
        ));
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            sentence(&down),
            "Service temporarily unavailable",
            "transport details stay in the logs"
        );
    }
}
