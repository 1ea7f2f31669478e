//! `/messages/{id}`: one message. Anyone in the conversation reads it; only its sender edits or deletes it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use junqo_proto::conversations::v1 as pb;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{EditBody, ErrorDto, MessageDto};
use super::extract::PathId;
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_message, update_message, delete_message))
}

/// The `content` of a message body, with the original's sentences when it is missing or not text.
pub(super) fn content_of(body: &JsonObject) -> Result<String, ApiError> {
    match body.get("content") {
        Some(Value::String(text)) => Ok(text.clone()),
        None | Some(Value::Null) => Err(ApiError::validation(vec![
            "Content must be a string".into(),
            "Content is required".into(),
        ])),
        Some(_) => Err(ApiError::validation(vec![
            "Content must be a string".into(),
        ])),
    }
}

fn message_ref(caller: &Caller, id: PathId) -> pb::MessageRef {
    pb::MessageRef {
        actor: caller.actor(),
        message_id: id.0.to_string(),
    }
}

#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = MessageDto), (status = 404, body = ErrorDto)))]
async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state
        .messages
        .clone()
        .get_message(caller.call(message_ref(&caller, id)))
        .await?;
    Ok(Json(message.into_inner().into()))
}

#[utoipa::path(patch, path = "/messages/{id}", tag = "messages", request_body = EditBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = MessageDto), (status = 400, body = ErrorDto), (status = 403, body = ErrorDto), (status = 404, body = ErrorDto)))]
async fn update_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<MessageDto>, ApiError> {
    body.allow_fields_of::<EditBody>()?;
    let content = content_of(&body)?;
    let request = pb::UpdateMessageRequest {
        actor: caller.actor(),
        message_id: id.0.to_string(),
        content,
    };
    let message = state
        .messages
        .clone()
        .update_message(caller.call(request))
        .await?;
    Ok(Json(message.into_inner().into()))
}

#[utoipa::path(delete, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "deleted"), (status = 403, body = ErrorDto), (status = 404, body = ErrorDto)))]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<StatusCode, ApiError> {
    state
        .messages
        .clone()
        .delete_message(caller.call(message_ref(&caller, id)))
        .await?;
    Ok(StatusCode::OK)
}
