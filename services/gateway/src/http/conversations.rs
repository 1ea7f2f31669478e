//! `/conversations`: conversations, their participants, the caller's own title, and their messages.
//! The conversations service decides who may do what; a conversation the caller may not see is 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use junqo_proto::conversations::v1 as pb;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use validation::rules::{self, Raw};
use validation::{Broken, Checked};

use super::dto::{
    ContentBody, ConversationDto, ConversationTitleDto, CreateConversationBody, ErrorDto,
    MessageDto, ParticipantsBody, ReadBody, ReadStateDto, Rows, TitleBody,
};
use super::extract::{PathId, QueryParams};
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_conversation, list_conversations))
        .routes(routes!(get_conversation, delete_conversation))
        .routes(routes!(add_participants, remove_participants))
        .routes(routes!(get_title, set_title, delete_title))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(mark_read))
}

/// A list of ids in a body, refused with `not_array` when the property is not an array. Items that are
/// not strings are passed on as empty ids, which the owning service refuses with its own sentence.
fn id_list(body: &JsonObject, field: &str, not_array: &str) -> Checked<Vec<String>> {
    match body.get(field) {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .map(|item| item.as_str().unwrap_or_default().to_owned())
            .collect()),
        _ => Err(Broken::new(not_array)),
    }
}

/// An optional title at creation must at least be text; its rules are the conversations service's.
fn optional_title(body: &JsonObject) -> Checked<Option<String>> {
    match Raw::json(body.get("title")) {
        Raw::Absent => Ok(None),
        Raw::Text(title) => Ok(Some(title.to_owned())),
        Raw::NotText => Err(Broken::new("title must be a string")),
    }
}

/// Start a conversation; the caller is always one of its participants.
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = CreateConversationBody,
    security(("bearer" = [])),
    responses((status = 201, description = "The new conversation", body = ConversationDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 401, description = "Missing, invalid or expired token", body = ErrorDto)))]
async fn create_conversation(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<(StatusCode, Json<ConversationDto>), ApiError> {
    body.allow_fields_of::<CreateConversationBody>()?;
    let (participant_ids, title) = validation::all((
        id_list(&body, "participantsIds", "Participants must be an array"),
        optional_title(&body),
    ))?;
    let request = pb::CreateConversationRequest {
        participant_ids,
        title,
        offer_id: body.text("offerId"),
        application_id: body.text("applicationId"),
    };
    let created = state
        .conversations
        .clone()
        .create_conversation(caller.call(request))
        .await?;
    Ok((StatusCode::CREATED, Json(created.into_inner().into())))
}

/// The caller's conversations, most recent activity first.
#[utoipa::path(get, path = "/conversations", tag = "conversations", security(("bearer" = [])),
    params(
        ("participantId" = Option<uuid::Uuid>, Query, description = "only conversations this user also takes part in"),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 10)"),
        ("offset" = Option<u32>, Query, description = "conversations to skip (default 0)"),
    ),
    responses((status = 200, description = "A page of the caller's conversations", body = Rows<ConversationDto>), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 401, description = "Missing, invalid or expired token", body = ErrorDto)))]
async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryParams,
) -> Result<Json<Rows<ConversationDto>>, ApiError> {
    query.allow_only(&["participantId", "limit", "offset"])?;
    let (participant_id, limit, offset) = validation::all((
        rules::optional_uuid(query.get("participantId"), "Participant ID"),
        query.integer("limit", "Limit", 1, Some(100)),
        query.integer("offset", "Offset", 0, None),
    ))?;
    let request = pb::ListConversationsRequest {
        participant_id: participant_id.map(|id| id.to_string()),
        limit: limit.and_then(|n| u32::try_from(n).ok()).unwrap_or(10),
        offset: offset.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
    };
    let page = state
        .conversations
        .clone()
        .list_conversations(caller.call(request))
        .await?
        .into_inner();
    Ok(Json(Rows {
        rows: page.conversations.into_iter().map(Into::into).collect(),
        count: page.count,
    }))
}

fn conversation_ref(id: PathId) -> pb::ConversationRef {
    pb::ConversationRef {
        conversation_id: id.0.to_string(),
    }
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The conversation", body = ConversationDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<Json<ConversationDto>, ApiError> {
    let request = caller.call(conversation_ref(id));
    let conversation = state
        .conversations
        .clone()
        .get_conversation(request)
        .await?;
    Ok(Json(conversation.into_inner().into()))
}

/// Delete a conversation with its participants, titles, messages and receipts.
#[utoipa::path(delete, path = "/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Deleted"), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn delete_conversation(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<StatusCode, ApiError> {
    let request = caller.call(conversation_ref(id));
    state
        .conversations
        .clone()
        .delete_conversation(request)
        .await?;
    Ok(StatusCode::OK)
}

fn participants_request(
    id: PathId,
    body: &JsonObject,
    not_array: &str,
) -> Result<pb::ParticipantsRequest, ApiError> {
    body.allow_fields_of::<ParticipantsBody>()?;
    let participant_ids = id_list(body, "participantsIds", not_array)?;
    Ok(pb::ParticipantsRequest {
        conversation_id: id.0.to_string(),
        participant_ids,
    })
}

#[utoipa::path(post, path = "/conversations/{id}/participants", tag = "conversations", request_body = ParticipantsBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 201, description = "The conversation with its participants", body = ConversationDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn add_participants(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<(StatusCode, Json<ConversationDto>), ApiError> {
    let request = participants_request(id, &body, "Participants to add must be an array")?;
    let conversation = state
        .conversations
        .clone()
        .add_participants(caller.call(request))
        .await?;
    Ok((StatusCode::CREATED, Json(conversation.into_inner().into())))
}

#[utoipa::path(delete, path = "/conversations/{id}/participants", tag = "conversations", request_body = ParticipantsBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The conversation with its remaining participants", body = ConversationDto),
              (status = 403, description = "A conversation keeps at least one participant", body = ErrorDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn remove_participants(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<ConversationDto>, ApiError> {
    let request = participants_request(id, &body, "Participants to remove must be an array")?;
    let conversation = state
        .conversations
        .clone()
        .remove_participants(caller.call(request))
        .await?;
    Ok(Json(conversation.into_inner().into()))
}

/// The caller's own title; an empty body when they have none.
#[utoipa::path(get, path = "/conversations/{id}/title", tag = "conversations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The caller's own title; an empty body when they have none", body = ConversationTitleDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn get_title(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<Result<Json<ConversationTitleDto>, StatusCode>, ApiError> {
    let title = state
        .conversations
        .clone()
        .get_title(caller.call(conversation_ref(id)))
        .await?
        .into_inner();
    Ok(if title.title.is_empty() {
        Err(StatusCode::OK)
    } else {
        Ok(Json(title.into()))
    })
}

#[utoipa::path(put, path = "/conversations/{id}/title", tag = "conversations", request_body = TitleBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The caller's title, as set", body = ConversationTitleDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 403, description = "Only participants have a title of their own", body = ErrorDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn set_title(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<ConversationTitleDto>, ApiError> {
    body.allow_fields_of::<TitleBody>()?;
    let request = pb::SetTitleRequest {
        conversation_id: id.0.to_string(),
        title: body.text("title").unwrap_or_default(),
    };
    let title = state
        .conversations
        .clone()
        .set_title(caller.call(request))
        .await?;
    Ok(Json(title.into_inner().into()))
}

#[utoipa::path(delete, path = "/conversations/{id}/title", tag = "conversations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Deleted"), (status = 404, description = "No such conversation or title, or the caller may not see it", body = ErrorDto)))]
async fn delete_title(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<StatusCode, ApiError> {
    state
        .conversations
        .clone()
        .delete_title(caller.call(conversation_ref(id)))
        .await?;
    Ok(StatusCode::OK)
}

/// Message history, newest first; page with `before` (the last `createdAt` seen), or catch up with
/// `afterSeq` (oldest first, strictly after that sequence number).
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(
        ("id" = uuid::Uuid, Path),
        ("limit" = Option<u32>, Query, description = "page size, 1 to 100 (default 20)"),
        ("before" = Option<String>, Query, description = "ISO date: only messages created strictly before it"),
        ("afterSeq" = Option<i64>, Query, description = "only messages after this sequence number, oldest first"),
    ),
    responses((status = 200, description = "A page of messages", body = Rows<MessageDto>), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    query: QueryParams,
) -> Result<Json<Rows<MessageDto>>, ApiError> {
    query.allow_only(&["limit", "before", "afterSeq"])?;
    let (limit, after_seq, before) = validation::all((
        query.integer("limit", "Limit", 1, Some(100)),
        query.integer("afterSeq", "After sequence", 0, None),
        optional_before(query.get("before")),
    ))?;
    let request = pb::ListMessagesRequest {
        conversation_id: id.0.to_string(),
        limit: limit.and_then(|n| u32::try_from(n).ok()).unwrap_or(20),
        before,
        after_seq,
    };
    let page = state
        .messages
        .clone()
        .list_messages(caller.call(request))
        .await?
        .into_inner();
    Ok(Json(Rows {
        rows: page.messages.into_iter().map(Into::into).collect(),
        count: page.count,
    }))
}

/// `before` as clients send it: RFC 3339 / ISO 8601 with a time zone, or a date alone (midnight UTC).
pub(super) fn optional_before(raw: Option<&str>) -> Checked<Option<prost_types::Timestamp>> {
    raw.map(|raw| parse_date(raw).ok_or_else(|| Broken::new("Before must be a valid date")))
        .transpose()
}

fn parse_date(raw: &str) -> Option<prost_types::Timestamp> {
    let at = chrono::DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })?;
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).ok()?,
    })
}

/// Send a message; it reaches live sockets in the conversation like one sent over Socket.IO.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "messages", request_body = ContentBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 201, description = "The message, as stored", body = MessageDto), (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto), (status = 404, description = "No such conversation, or the caller may not see it", body = ErrorDto)))]
async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<(StatusCode, Json<MessageDto>), ApiError> {
    body.allow_fields_of::<ContentBody>()?;
    let content = super::messages::content_of(&body)?;
    let request = pb::CreateMessageRequest {
        conversation_id: id.0.to_string(),
        content,
        client_message_id: body.text("clientMessageId"),
    };
    let message = state
        .messages
        .clone()
        .create_message(caller.call(request))
        .await?;
    Ok((StatusCode::CREATED, Json(message.into_inner().into())))
}

/// Mark every message up to `seq` read for the caller. It never moves backwards: an older `seq` answers
/// the current state.
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "conversations", request_body = ReadBody,
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The caller's read state", body = ReadStateDto), (status = 400, description = "Bad input (`Seq must be an integer`...), or a `seq` beyond the newest message", body = ErrorDto), (status = 404, description = "No such conversation, or the caller takes no part in it", body = ErrorDto)))]
async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
    body: JsonObject,
) -> Result<Json<ReadStateDto>, ApiError> {
    body.allow_fields_of::<ReadBody>()?;
    let seq = rules::optional_integer(
        true,
        body.get("seq").and_then(Value::as_f64),
        "Seq",
        0,
        None,
    )?
    .unwrap_or_default();
    let request = pb::MarkConversationReadRequest {
        conversation_id: id.0.to_string(),
        seq,
    };
    let read = state
        .conversations
        .clone()
        .mark_conversation_read(caller.call(request))
        .await?;
    Ok(Json(read.into_inner().into()))
}
