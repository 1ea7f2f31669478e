//! `/health` answers while the process runs (liveness); `/ready` only while the gRPC services behind the
//! REST API (auth and conversations) answer their health checks (readiness), so a gateway whose peers
//! are down gets no traffic, and while the token revocations are not loaded yet. Realtime is not asked: only `/socket.io/` needs it (and in Kubernetes the
//! Ingress sends that straight to realtime), so its outage must not take the REST API down.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use junqo_proto::auth::v1::auth_service_server;
use junqo_proto::conversations::v1::conversations_service_server;
use platform::grpc::is_serving;
use serde_json::{Value, json};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (auth, conversations) = tokio::join!(
        is_serving(
            state.auth_channel.clone(),
            auth_service_server::SERVICE_NAME
        ),
        is_serving(
            state.conversations_channel.clone(),
            conversations_service_server::SERVICE_NAME
        ),
    );
    // Without the revocations a token cannot be checked: not ready until they are loaded.
    let revocations = state.revocations.is_loaded();
    let status = if auth && conversations && revocations {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "up" } else { "down" };
    (
        status,
        Json(json!({
            "status": word(auth && conversations && revocations),
            "dependencies": {
                "auth": word(auth),
                "conversations": word(conversations),
                "revocations": if revocations { "loaded" } else { "loading" },
            },
        })),
    )
}
