//! `/messages/{id}`: one message. Anyone in the conversation reads it; only its sender edits or deletes it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use junqo_proto::conversations::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use validation::rules::{self, Raw};
use validation::{Broken, Checked};

use super::dto::{EditBody, ErrorDto, MessageDto, Rows};
use super::extract::{PathId, QueryParams};
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_message, update_message, delete_message))
        .routes(routes!(search_messages))
}

/// The `content` of a message body, with the original's sentences when it is missing or not text. Its
/// other rules (blank, length, NUL) are the conversations service's, which owns messages.
pub(super) fn content_of(body: &JsonObject) -> Checked<String> {
    match Raw::json(body.get("content")) {
        Raw::Text(text) => Ok(text.to_owned()),
        Raw::Absent => Err(Broken::from_sentences([
            "Content must be a string",
            "Content is required",
        ])),
        Raw::NotText => Err(Broken::new("Content must be a string")),
    }
}

fn message_ref(id: PathId) -> pb::MessageRef {
    pb::MessageRef {
        message_id: id.0.to_string(),
    }
}

#[utoipa::path(get, path = "/messages/{id}", tag = "messages", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The message", body = MessageDto), (status = 404, description = "No such message, or the caller may not see it", body = ErrorDto)))]
async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<Json<MessageDto>, ApiError> {
    let message = state
        .messages
        .clone()
        .get_message(caller.call(message_ref(id)))
        .await?;
    Ok(Json(message.into_inner().into()))
}

#[utoipa::path(patch, path = "/messages/{id}", tag = "messages", request_body = EditBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The message, as edited", body = MessageDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 403, description = "Only the sender (or an admin) may change a message", body = ErrorDto), (status = 404, description = "No such message, or the caller may not see it", body = ErrorDto)))]
async fn update_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<MessageDto>, ApiError> {
    body.allow_fields_of::<EditBody>()?;
    let content = content_of(&body)?;
    let request = pb::UpdateMessageRequest {
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
    responses((status = 200, description = "Deleted"), (status = 403, description = "Only the sender (or an admin) may change a message", body = ErrorDto), (status = 404, description = "No such message, or the caller may not see it", body = ErrorDto)))]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<StatusCode, ApiError> {
    state
        .messages
        .clone()
        .delete_message(caller.call(message_ref(id)))
        .await?;
    Ok(StatusCode::OK)
}

/// Search the messages of the caller's conversations, newest first. `q` matches whole words in any
/// language, ignoring case, and the last word also as a prefix ("interv" finds "interview"); every word
/// must be in the message.
#[utoipa::path(get, path = "/messages/search", tag = "messages", security(("bearer" = [])),
    params(
        ("q" = String, Query, description = "the words to find, 1 to 200 characters"),
        ("conversationId" = Option<uuid::Uuid>, Query, description = "only in this conversation (one the caller takes part in)"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)"),
        ("before" = Option<String>, Query, description = "ISO date: only messages created strictly before it (the last `createdAt` seen)"),
    ),
    responses((status = 200, description = "A page of matching messages", body = Rows<MessageDto>), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 404, description = "No such conversation, or the caller takes no part in it", body = ErrorDto)))]
async fn search_messages(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Rows<MessageDto>>, ApiError> {
    query.allow_only(&["q", "conversationId", "limit", "before"])?;
    let (q, conversation_id, limit, before) = validation::all((
        rules::required_text(query.get("q"), "Query", 200),
        rules::optional_uuid(query.get("conversationId"), "Conversation ID"),
        query.integer("limit", "Limit", 1, Some(100)),
        super::conversations::optional_before(query.get("before")),
    ))?;
    let request = pb::SearchMessagesRequest {
        query: q,
        conversation_id: conversation_id.map(|id| id.to_string()),
        limit: limit.and_then(|n| u32::try_from(n).ok()).unwrap_or(20),
        before,
    };
    let page = state
        .messages
        .clone()
        .search_messages(caller.call(request))
        .await?
        .into_inner();
    Ok(Json(Rows {
        rows: page.messages.into_iter().map(Into::into).collect(),
        count: page.count,
    }))
}
