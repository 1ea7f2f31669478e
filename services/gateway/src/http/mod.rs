//! The HTTP surface: one module per area of the public API, merged here under `/api/v1`, together with
//! the OpenAPI document generated from the same handlers (so the document cannot drift from the routes).

mod auth;
mod blocks;
mod conversations;
mod dto;
mod extract;
mod health;
mod layers;
mod messages;
mod profiles;
mod rate_limit;
mod reports;
mod socket_proxy;
mod users;

use axum::Router;
use axum::http::{Method, Uri};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::GatewayConfig;
use crate::error::ApiError;
use crate::state::AppState;

pub use extract::{Caller, JsonObject};
pub use profiles::{PROFILE_TTL, Profiles};
pub use rate_limit::{ClientAddress, RestLimits, parse_trusted_proxies};
pub use socket_proxy::SocketProxy;

#[derive(OpenApi)]
#[openapi(
    info(title = "Junqo API", description = "The public REST API of the Junqo messaging backend."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-up, sign-in and token check"),
        (name = "users", description = "The caller's own profile, and the users they block"),
        (name = "conversations", description = "Conversations, participants and titles"),
        (name = "messages", description = "Messages, their history and search"),
        (name = "reports", description = "Reported messages and the moderators' queue"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The public routes and their OpenAPI document, built together.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(blocks::router())
        .merge(conversations::router())
        .merge(messages::router())
        .merge(reports::router())
        .split_for_parts()
}

pub fn router(state: AppState, proxy: SocketProxy, config: &GatewayConfig) -> Router {
    let (api, document) = api();
    // After routing, so requests are counted per declared route, not per raw path.
    let api = api
        .route_layer(axum::middleware::from_fn(|request, next| {
            platform::metrics::track_http("gateway", request, next)
        }))
        // Outside the metrics: a refused request is counted by the limiter, not as a route's.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::rate_limit,
        ));
    let app = Router::new()
        .nest("/api/v1", api)
        .route(
            "/metrics",
            axum::routing::get(|| async { platform::metrics::render() }),
        )
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", document))
        .merge(health::router())
        .fallback(not_found)
        .with_state(state)
        .merge(socket_proxy::router(proxy));
    layers::apply(app, config)
}

/// The original's answer for a route it does not have.
async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", uri.path()),
    )
}
