//! `/users/{id}/block` and `/users/me/blocked`: the caller blocks and unblocks other users. The
//! conversations service keeps the blocks (they are relations between users in conversations) and
//! enforces them there.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use junqo_proto::conversations::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Caller;
use super::dto::{BlockDto, ErrorDto, Rows};
use super::extract::PathId;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(block, unblock))
        .routes(routes!(list_blocked))
}

fn block_request(id: PathId) -> pb::BlockRequest {
    pb::BlockRequest {
        user_id: id.0.to_string(),
    }
}

/// Block a user (blocking again changes nothing). While either of two users blocks the other, neither
/// can start a conversation with the other, add the other to one, or message the other in a
/// conversation of just the two of them; existing messages stay readable.
#[utoipa::path(put, path = "/users/{id}/block", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the user to block")),
    responses((status = 200, description = "The block", body = BlockDto), (status = 400, description = "The caller cannot block themselves", body = ErrorDto), (status = 404, description = "No such user", body = ErrorDto)))]
async fn block(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<Json<BlockDto>, ApiError> {
    let block = state
        .conversations
        .clone()
        .block_user(caller.call(block_request(id)))
        .await?;
    Ok(Json(block.into_inner().into()))
}

/// Unblock a user (unblocking one who is not blocked changes nothing).
#[utoipa::path(delete, path = "/users/{id}/block", tag = "users", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "the user to unblock")),
    responses((status = 200, description = "Unblocked"), (status = 400, description = "The caller cannot block themselves", body = ErrorDto)))]
async fn unblock(
    State(state): State<AppState>,
    caller: Caller,
    id: PathId,
) -> Result<StatusCode, ApiError> {
    state
        .conversations
        .clone()
        .unblock_user(caller.call(block_request(id)))
        .await?;
    Ok(StatusCode::OK)
}

/// The users the caller blocked, newest first.
#[utoipa::path(get, path = "/users/me/blocked", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The caller's blocks", body = Rows<BlockDto>), (status = 401, description = "Missing, invalid or expired token", body = ErrorDto)))]
async fn list_blocked(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Rows<BlockDto>>, ApiError> {
    let blocks = state
        .conversations
        .clone()
        .list_blocked(caller.call(pb::ListBlockedRequest {}))
        .await?
        .into_inner()
        .blocks;
    Ok(Json(Rows {
        count: blocks.len() as u64,
        rows: blocks.into_iter().map(Into::into).collect(),
    }))
}
