//! The HTTP surface: one module per area of the public API, merged here under `/api/v1`.

mod auth;
mod dto;
mod extract;
mod health;
mod layers;
mod users;

use axum::Router;
use axum::http::{Method, Uri};

use crate::GatewayConfig;
use crate::error::ApiError;
use crate::state::AppState;

pub use extract::{Caller, JsonObject};

pub fn router(state: AppState, config: &GatewayConfig) -> Router {
    let api = Router::new().merge(auth::router()).merge(users::router());
    let app = Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .fallback(not_found)
        .with_state(state);
    layers::apply(app, config)
}

/// The original's answer for a route it does not have.
async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", uri.path()),
    )
}
