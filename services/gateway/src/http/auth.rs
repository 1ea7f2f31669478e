//! `/auth`: sign-up, sign-in and the token check (the only routes that need no token), and logout.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use junqo_proto::auth::v1::{LogoutRequest, SignInRequest, SignUpRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::dto::{AuthPayload, ErrorDto, IsLoggedIn, LoggedOut, LoginBody, RegisterBody};
use super::extract::outgoing;
use super::{Caller, ClientAddress, JsonObject};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(is_logged_in))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
}

/// Revoke the token this request carries. Other tokens of the user stay valid.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The token is revoked: from now on it gets 401 everywhere and its sockets are closed", body = LoggedOut),
              (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorDto)))]
async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LoggedOut>, ApiError> {
    state
        .auth
        .clone()
        .logout(caller.call(LogoutRequest {}))
        .await?;
    Ok(Json(LoggedOut {
        is_successful: true,
    }))
}

/// Revoke every token of the caller issued until now, this one included.
#[utoipa::path(post, path = "/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Every token of the user is revoked", body = LoggedOut),
              (status = 401, description = "Missing, invalid, expired or revoked token", body = ErrorDto)))]
async fn logout_all(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<LoggedOut>, ApiError> {
    state
        .auth
        .clone()
        .logout_all(caller.call(LogoutRequest {}))
        .await?;
    Ok(Json(LoggedOut {
        is_successful: true,
    }))
}

/// Create an account and get a token for it.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, description = "Signed up: a token and the new user", body = AuthPayload),
              (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 403, description = "ADMIN cannot be chosen at sign-up", body = ErrorDto),
              (status = 409, description = "Email already exists", body = ErrorDto),
              (status = 429, description = "Too many sign-ups from this address; `Retry-After` says when to come back", body = ErrorDto)))]
async fn register(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    body: JsonObject,
) -> Result<(StatusCode, Json<AuthPayload>), ApiError> {
    body.allow_fields_of::<RegisterBody>()?;
    let request = SignUpRequest {
        name: body.text("name"),
        email: body.text("email"),
        r#type: body.text("type"),
        password: body.text("password"),
    };
    let response = state
        .auth
        .clone()
        .sign_up(from_client(outgoing(request, None), client))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(response.into())))
}

/// Exchange an email and password for a token.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Signed in: a token and the user", body = AuthPayload),
              (status = 400, description = "Bad input: `message` lists one sentence per broken rule", body = ErrorDto),
              (status = 401, description = "Invalid email or password", body = ErrorDto),
              (status = 429, description = "Too many failed sign-ins for this account or address; `Retry-After` says when to come back", body = ErrorDto)))]
async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<ClientAddress>,
    body: JsonObject,
) -> Result<Json<AuthPayload>, ApiError> {
    body.allow_fields_of::<LoginBody>()?;
    let request = SignInRequest {
        email: body.text("email"),
        password: body.text("password"),
    };
    let response = state
        .auth
        .clone()
        .sign_in(from_client(outgoing(request, None), client))
        .await?
        .into_inner();
    Ok(Json(response.into()))
}

/// Tells auth where the attempt comes from, for its per-address limits.
fn from_client<T>(mut request: tonic::Request<T>, client: ClientAddress) -> tonic::Request<T> {
    if let Ok(value) = client.0.to_string().parse() {
        request.metadata_mut().insert("x-client-address", value);
    }
    request
}

/// Whether the request carries a valid token. Never 401.
#[utoipa::path(get, path = "/auth/is-logged-in", tag = "auth",
    responses((status = 200, description = "Whether the request carries a valid token", body = IsLoggedIn)))]
async fn is_logged_in(State(state): State<AppState>, parts: Parts) -> Json<IsLoggedIn> {
    Json(IsLoggedIn {
        is_logged_in: Caller::from_parts(&parts, &state).is_some(),
    })
}
