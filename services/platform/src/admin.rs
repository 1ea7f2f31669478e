//! The admin endpoint of the gRPC services (`ADMIN_PORT`, 9090 by default): `/health` (alive),
//! `/ready` (its database answers) and `/metrics` (Prometheus text). Kept off the gRPC port so that
//! probes and scrapers speak plain HTTP and never share a port with clients.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::PgPool;
use tokio::net::TcpListener;

/// Serves the admin routes until `shutdown` resolves. `service` prefixes the pool gauges.
pub async fn serve(
    listener: TcpListener,
    service: &'static str,
    pool: PgPool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
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
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A stop signal that several servers can wait on: resolves for each of them once `shutdown` does.
pub fn shared_stop(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    stop
}
