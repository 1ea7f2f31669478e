//! `/socket.io/`: forwarded to the realtime service, so clients use one origin
//! (`io("http://localhost:3000")`, as in the seed's examples). Long-polling requests are forwarded as
//! they are; a WebSocket upgrade is forwarded, and once both sides have switched protocols the two
//! connections are spliced with `copy_bidirectional`, so the gateway adds two socket buffers per
//! connection and nothing else. In Kubernetes the Ingress sends `/socket.io/` straight to realtime.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, HOST, UPGRADE};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::error::ApiError;

#[derive(Clone)]
pub struct SocketProxy {
    client: Client<HttpConnector, Body>,
    target: Uri,
}

impl SocketProxy {
    pub fn new(realtime_url: &str) -> Result<Self, axum::http::uri::InvalidUri> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            target: realtime_url.parse()?,
        })
    }
}

pub fn router(proxy: SocketProxy) -> Router {
    Router::new()
        .route("/socket.io", any(forward))
        .route("/socket.io/", any(forward))
        .route("/socket.io/{*rest}", any(forward))
        .with_state(proxy)
}

/// Hop-by-hop headers (RFC 9110 7.6.1) are not forwarded, except the upgrade handshake itself.
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "proxy-authorization",
];
/// CORS is the gateway's to answer; realtime's own headers would duplicate it.
const CORS_PREFIX: &str = "access-control-";

fn strip(headers: &mut HeaderMap, keep_upgrade: bool) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if !keep_upgrade {
        headers.remove(CONNECTION);
        headers.remove(UPGRADE);
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn forward(State(proxy): State<SocketProxy>, mut request: Request) -> Response {
    let upgrade = is_upgrade(request.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));

    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/socket.io/"));
    let mut parts = proxy.target.clone().into_parts();
    parts.path_and_query = Some(path);
    let Ok(uri) = Uri::from_parts(parts) else {
        return ApiError::internal().into_response();
    };
    *request.uri_mut() = uri;
    strip(request.headers_mut(), upgrade);
    request.headers_mut().remove(HOST);

    let mut response = match proxy.client.request(request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, "realtime unreachable");
            return ApiError::new(StatusCode::BAD_GATEWAY, "Realtime service unavailable")
                .into_response();
        }
    };

    if let Some(client_upgrade) =
        client_upgrade.filter(|_| response.status() == StatusCode::SWITCHING_PROTOCOLS)
    {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            match tokio::try_join!(client_upgrade, upstream_upgrade) {
                Ok((client, upstream)) => {
                    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(error) => tracing::debug!(%error, "WebSocket upgrade abandoned"),
            }
        });
    }

    let (mut parts, body) = response.into_parts();
    strip(&mut parts.headers, upgrade);
    let cors: Vec<HeaderName> = parts
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with(CORS_PREFIX))
        .cloned()
        .collect();
    for name in cors {
        parts.headers.remove(name);
    }
    Response::from_parts(parts, Body::new(body))
}
