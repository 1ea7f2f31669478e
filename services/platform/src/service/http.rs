//! Serving an axum router on a listener with its [`Limits`].
//!
//! `axum::serve` builds hyper without a timer, and hyper then silently drops its header-read timeout; it
//! has no idle timeout and no connection cap either. This loop is its replacement: it takes a place under
//! the cap before accepting (so clients beyond it wait in the listen backlog), sets TCP_NODELAY, and
//! serves each connection with hyper's HTTP/1.1 server (upgrades allowed, for WebSocket) and the
//! connection's own [`HeadTimer`]. HTTP/1.1 only: every client of these ports speaks it (browsers through
//! the ingress, Socket.IO, probes and scrapers), and cleartext HTTP/2 would need limits of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::Limits;
use super::limits::{Connection, HeadTimer};

/// Serves `router` until `shutdown` resolves; then stops accepting, lets every connection finish the
/// request it is serving (idle ones close at once), and returns when they have. Upgraded connections
/// (WebSocket) are the service's to close: they outlive this function.
///
/// Handlers can read the peer's address with axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    crate::metrics::install();
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    let stop = CancellationToken::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let place = tokio::select! {
            () = &mut shutdown => break,
            place = places.clone().acquire_owned() => place,
        };
        // The semaphore is never closed; the arm only makes that explicit.
        let Ok(place) = place else { break };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_per_connection(&error) => continue,
                Err(error) => {
                    // Out of descriptors or memory: give connections time to close rather than spin.
                    tracing::error!(%error, "cannot accept connections; retrying in 1 s");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        connections.spawn(serve_connection(
            stream,
            peer,
            place,
            router.clone(),
            limits,
            stop.clone(),
        ));
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
}

/// Errors that concern one client only (it went away during the handshake), not the listener.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    place: OwnedSemaphorePermit,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
) {
    // Small writes (Socket.IO packets, short JSON answers) go out at once instead of waiting for an ACK.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let (io, reads) = Connection::new(stream, place);
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(HeadTimer::new(limits, reads))
        .header_read_timeout(limits.header_read_timeout);
    let mut connection = pin!(
        builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
    );
    let outcome = tokio::select! {
        outcome = connection.as_mut() => outcome,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(%error, %peer, "connection ended with an error");
    }
}
