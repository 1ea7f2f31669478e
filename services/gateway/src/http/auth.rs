//! `/auth`: sign-up, sign-in and the token check. The only routes that need no token.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use junqo_proto::auth::v1::{SignInRequest, SignUpRequest};
use serde_json::{Value, json};

use super::dto::AuthPayload;
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/is-logged-in", get(is_logged_in))
}

async fn register(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<(StatusCode, Json<AuthPayload>), ApiError> {
    body.allow_only(&["name", "email", "type", "password"])?;
    let request = SignUpRequest {
        name: body.text("name"),
        email: body.text("email"),
        r#type: body.text("type"),
        password: body.text("password"),
    };
    let response = state.auth.clone().sign_up(request).await?.into_inner();
    Ok((StatusCode::CREATED, Json(response.into())))
}

async fn login(
    State(state): State<AppState>,
    body: JsonObject,
) -> Result<Json<AuthPayload>, ApiError> {
    body.allow_only(&["email", "password"])?;
    let request = SignInRequest {
        email: body.text("email"),
        password: body.text("password"),
    };
    let response = state.auth.clone().sign_in(request).await?.into_inner();
    Ok(Json(response.into()))
}

/// Never 401: answers whether the request carries a valid token.
async fn is_logged_in(State(state): State<AppState>, parts: Parts) -> Json<Value> {
    Json(json!({ "isLoggedIn": Caller::from_parts(&parts, &state).is_some() }))
}
