//! Every HTTP middleware, in one place: panics become 500s, slow requests 408s, oversized bodies 413s,
//! the Authorization header is kept out of traces, CORS follows `CORS_ORIGINS`, and any error response
//! produced by a layer (not a handler) gets the same JSON body as the handlers' errors.

use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::GatewayConfig;
use crate::error::ApiError;

pub fn apply(router: Router, config: &GatewayConfig) -> Router {
    router
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(platform::http::cors(config.cors_origins.as_deref()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetSensitiveRequestHeadersLayer::new([
            AUTHORIZATION,
            COOKIE,
        ]))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// Error responses built by layers or the router itself (405, 408, 413) come without a body; give them
/// the error body clients expect everywhere.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let has_body = response.headers().contains_key(CONTENT_TYPE);
    if (status.is_client_error() || status.is_server_error()) && !has_body {
        let reason = status.canonical_reason().unwrap_or("Error");
        return ApiError::new(status, reason).into_response();
    }
    response
}

/// One span per request, child of the client's span when it sent a `traceparent`; none when spans are
/// not exported (see [`platform::trace::exporting`]).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    if !platform::trace::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        http.method = %request.method(),
        http.path = %request.uri().path(),
    );
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    platform::trace::set_remote_parent(&span, traceparent);
    span
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::internal().into_response()
}
