//! Extractors: who is asking ([`Caller`]) and what they sent ([`JsonObject`]). Handlers that take them
//! read as the business rule alone.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use utoipa::PartialSchema;
use utoipa::openapi::{RefOr, Schema};
use uuid::Uuid;
use validation::{Checked, Violations, rules};

use crate::error::ApiError;
use crate::state::AppState;

/// The verified user behind the request's `Authorization: Bearer` token; 401 otherwise, with the same
/// answer for a revoked token as for an invalid one.
#[derive(Clone)]
pub struct Caller {
    pub claims: jwt::Claims,
    /// The token itself, forwarded on every call made for the user: services verify it themselves.
    pub token: String,
    /// The request's W3C trace context, passed on to the services it calls.
    pub traceparent: Option<String>,
}

/// Who, never the token itself.
impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user", &self.claims.sub)
            .field("type", &self.claims.user_type)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// The caller from the request headers, if the token is present and valid.
    pub fn from_parts(parts: &Parts, state: &AppState) -> Option<Self> {
        let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let token = jwt::bearer(header)?;
        let claims = state.verifier.verify(token).ok()?;
        if state.revocations.is_revoked(&claims) {
            return None;
        }
        let traceparent = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(platform::trace::parse_traceparent)
            .map(str::to_owned);
        Some(Self {
            claims,
            token: token.to_owned(),
            traceparent,
        })
    }

    /// A gRPC request on the caller's behalf: it carries the caller's own token, from which the service
    /// called takes the acting user, and the trace context.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = outgoing(message, self.traceparent.as_deref());
        platform::grpc::authorize(&mut request, &self.token);
        request
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Until the revocations are loaded, no token can be known to be valid (auth is unreachable,
        // or the gateway just started): answer as for an unreachable service, not as for a bad token.
        if !state.revocations.is_loaded() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
            ));
        }
        // The rate limiter verified the token a moment ago: verifying it again would double the cost of
        // authentication (HMAC, base64, JSON) on every request for the same answer.
        let verified = match parts.extensions.remove::<Verified>() {
            Some(Verified(caller)) => caller,
            None => Self::from_parts(parts, state),
        };
        verified.ok_or_else(ApiError::unauthorized)
    }
}

/// What the rate limiter found when it verified the request's token (`None`: no valid token), kept in
/// the request's extensions so that [`Caller`]'s extractor does not verify it a second time.
#[derive(Clone)]
pub(super) struct Verified(pub Option<Caller>);

/// A JSON object body. Unknown properties are refused as the original did ("property X should not
/// exist"), and values are read with the original's implicit conversion to strings.
#[derive(Debug, Default)]
pub struct JsonObject(Map<String, Value>);

impl JsonObject {
    /// Refuses any property that the documented body `T` does not have, so the OpenAPI schema and
    /// what the route accepts cannot disagree.
    pub fn allow_fields_of<T: PartialSchema>(&self) -> Result<&Self, ApiError> {
        let allowed: Vec<String> = match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        self.allow_only(&allowed)
    }

    /// Refuses any property not in `allowed`, naming each one.
    pub fn allow_only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        unknown_names(self.0.keys(), allowed).map_or(Ok(self), |unknown| Err(unknown.into()))
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

/// A UUID path segment (`/conversations/{id}`); anything else is 400 with the original's sentence.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Validation failed (uuid v 4 is expected)",
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| invalid())?;
        raw.parse().map(Self).map_err(|_| invalid())
    }
}

/// The query string as name/value pairs, refusing names a route does not take.
#[derive(Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Malformed query string"))?;
        Ok(Self(pairs))
    }
}

impl QueryParams {
    pub fn allow_only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        let names = self.0.iter().map(|(name, _)| name);
        unknown_names(names, allowed).map_or(Ok(self), |unknown| Err(unknown.into()))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An optional integer parameter with the original's sentences: `label` names it ("Limit"), `min`
    /// and `max` bound it, and each broken rule is listed (the bound first, as the original did).
    pub fn integer(
        &self,
        name: &str,
        label: &str,
        min: i64,
        max: Option<i64>,
    ) -> Checked<Option<i64>> {
        let raw = self.get(name);
        let number = raw.and_then(|text| text.trim().parse::<f64>().ok());
        rules::optional_integer(raw.is_some(), number, label, min, max)
    }
}

/// The original's refusal of every name a body or query may not carry, if there is any.
fn unknown_names<'a>(
    names: impl Iterator<Item = &'a String>,
    allowed: &[&str],
) -> Option<Violations> {
    Violations::from_sentences(
        names
            .filter(|name| !allowed.contains(&name.as_str()))
            .map(|name| format!("property {name} should not exist"))
            .collect(),
    )
}

/// A gRPC request carrying the trace context (this request's span when traces are exported, else the
/// `traceparent` the client sent, if any) and how long the gateway waits for the answer (`grpc-timeout`).
pub fn outgoing<T>(message: T, incoming: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    platform::grpc::set_deadline(&mut request);
    let traceparent =
        platform::trace::current_traceparent().or_else(|| incoming.map(str::to_owned));
    if let Some(value) = traceparent.and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert("traceparent", value);
    }
    request
}
