//! `/users/me`: the caller's own profile. The auth service acts on the user named by the forwarded
//! token, never on an id from the request.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use junqo_proto::auth::v1::{DeleteUserRequest, GetUserRequest, UpdateUserRequest};
use serde_json::{Value, json};

use super::dto::UserDto;
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/users/me", get(me).patch(update_me).delete(delete_me))
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<UserDto>, ApiError> {
    let request = GetUserRequest {
        user_id: caller.claims.sub.to_string(),
    };
    let user = state.auth.clone().get_user(request).await?.into_inner();
    Ok(Json(user.into()))
}

async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<Json<UserDto>, ApiError> {
    body.allow_only(&["name", "email", "password", "type"])?;
    let request = UpdateUserRequest {
        name: body.text("name"),
        email: body.text("email"),
        password: body.text("password"),
        r#type: body.text("type"),
    };
    let user = state
        .auth
        .clone()
        .update_user(caller.request(request)?)
        .await?
        .into_inner();
    Ok(Json(user.into()))
}

async fn delete_me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    state
        .auth
        .clone()
        .delete_user(caller.request(DeleteUserRequest {})?)
        .await?;
    Ok(Json(json!({ "isSuccessful": true })))
}
