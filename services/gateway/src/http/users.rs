//! `/users/me`: the caller's own profile. The auth service acts on the user named by the forwarded
//! token, never on an id from the request.

use axum::Json;
use axum::extract::State;
use junqo_proto::auth::v1::{DeleteUserRequest, GetUserRequest, UpdateUserRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{DeletedAccount, ErrorDto, UpdateMeBody, UpdatedMe, UserDto};
use super::{Caller, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me, update_me, delete_me))
}

#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The caller's profile", body = UserDto), (status = 401, description = "Missing, invalid or expired token", body = ErrorDto),
              (status = 404, description = "The account no longer exists", body = ErrorDto)))]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<UserDto>, ApiError> {
    let id = caller.claims.sub;
    if let Some(user) = state.profiles.get(id) {
        return Ok(Json(user.into()));
    }
    let seen = state.profiles.generation();
    let request = GetUserRequest {
        user_id: id.to_string(),
    };
    let user = state
        .auth
        .clone()
        .get_user(caller.call(request))
        .await?
        .into_inner();
    state.profiles.fill(id, user.clone(), seen);
    Ok(Json(user.into()))
}

#[utoipa::path(patch, path = "/users/me", tag = "users", request_body = UpdateMeBody, security(("bearer" = [])),
    responses((status = 200, description = "The profile, as changed, with a fresh token (after an email or password change, every other token of the user is revoked)", body = UpdatedMe),
              (status = 400, description = "Bad input: `message` lists one sentence per broken rule (`currentPassword` is required to change the email or password)", body = ErrorDto),
              (status = 401, description = "Missing, invalid, expired or revoked token, or a wrong `currentPassword`", body = ErrorDto),
              (status = 403, description = "The type cannot become ADMIN", body = ErrorDto),
              (status = 409, description = "Email already exists", body = ErrorDto)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonObject,
) -> Result<Json<UpdatedMe>, ApiError> {
    body.allow_fields_of::<UpdateMeBody>()?;
    let request = UpdateUserRequest {
        name: body.text("name"),
        email: body.text("email"),
        password: body.text("password"),
        r#type: body.text("type"),
        current_password: body.text("currentPassword"),
    };
    let updated = state.auth.clone().update_user(caller.call(request)).await;
    // Whatever the answer (a timeout may follow a committed change), the next read asks auth.
    state.profiles.forget(caller.claims.sub);
    Ok(Json(updated?.into_inner().into()))
}

#[utoipa::path(delete, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The account is deleted and every token of it revoked", body = DeletedAccount), (status = 401, description = "Missing, invalid or expired token", body = ErrorDto)))]
async fn delete_me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<DeletedAccount>, ApiError> {
    let deleted = state
        .auth
        .clone()
        .delete_user(caller.call(DeleteUserRequest {}))
        .await;
    state.profiles.forget(caller.claims.sub);
    deleted?;
    Ok(Json(DeletedAccount {
        is_successful: true,
    }))
}
