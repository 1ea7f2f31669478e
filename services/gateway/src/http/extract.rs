//! Extractors: who is asking ([`Caller`]) and what they sent ([`JsonObject`]). Handlers that take them
//! read as the business rule alone.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// The verified user behind the request's `Authorization: Bearer` token; 401 otherwise.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: jwt::Claims,
    /// The token itself, forwarded to services that act on the user's own account.
    pub token: String,
}

impl Caller {
    /// The caller from the request headers, if the token is present and valid.
    pub fn from_parts(parts: &Parts, state: &AppState) -> Option<Self> {
        let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let token = jwt::bearer(header)?;
        let claims = state.verifier.verify(token).ok()?;
        Some(Self {
            claims,
            token: token.to_owned(),
        })
    }

    /// A gRPC request carrying this caller's token, for RPCs that act on the caller's own account.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ApiError> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.token)
            .parse()
            .map_err(|_| ApiError::unauthorized())?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts, state).ok_or_else(ApiError::unauthorized)
    }
}

/// A JSON object body. Unknown properties are refused as the original did ("property X should not
/// exist"), and values are read with the original's implicit conversion to strings.
#[derive(Debug, Default)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Refuses any property not in `allowed`, naming each one.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        let unknown: Vec<String> = self
            .0
            .keys()
            .filter(|key| !allowed.contains(&key.as_str()))
            .map(|key| format!("property {key} should not exist"))
            .collect();
        if unknown.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::validation(unknown))
        }
    }

    /// The field as text: strings as they are, numbers and booleans written out, `None` when absent,
    /// null, or not convertible (an array), so that the owning service reports it as missing.
    pub fn text(&self, field: &str) -> Option<String> {
        match self.0.get(field)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Object(_) => Some("[object Object]".to_owned()),
            Value::Null | Value::Array(_) => None,
        }
    }

    pub fn get(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "Request body is too large")
                } else {
                    ApiError::new(status, rejection.body_text())
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Request body must be a JSON object",
            )),
            Err(error) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("Malformed JSON body: {error}"),
            )),
        }
    }
}
