//! The admin endpoint of the gRPC services (`ADMIN_PORT`: 9091 for auth and 9092 for conversations by
//! default, 9090 in each Kubernetes pod): `/health` (alive), `/ready` (its database answers) and
//! `/metrics` (Prometheus text). Kept off the gRPC port so that probes and scrapers speak plain HTTP and
//! never share a port with clients.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::service::Limits;

/// Serves the admin routes with `limits` until `shutdown` resolves. `service` prefixes the pool gauges.
pub async fn serve(
    listener: TcpListener,
    service: &'static str,
    pool: PgPool,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let ready_pool = pool.clone();
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/ready",
            get(move || {
                let pool = ready_pool.clone();
                async move {
                    let check = sqlx::query("SELECT 1").execute(&pool);
                    match tokio::time::timeout(Duration::from_secs(2), check).await {
                        Ok(Ok(_)) => (StatusCode::OK, "ready"),
                        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let pool = pool.clone();
                async move {
                    crate::metrics::record_pool(service, &pool);
                    crate::metrics::render()
                }
            }),
        );
    crate::service::serve(listener, router, limits, shutdown).await;
}
