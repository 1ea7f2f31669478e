//! gRPC between the services, written once: the channel every client uses ([`channel`]), the health
//! probe ([`is_serving`]), and serving ([`serve`], and [`Ports`] for a service with an admin endpoint and
//! a database).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::health_check_response::ServingStatus as ProbedStatus;

use crate::Error;
use crate::service::{Limits, Listener, listen};

/// A peer that does not accept a connection within this is down: callers get UNAVAILABLE at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// No call waits longer than this for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings, also while idle, find a peer that vanished without closing (a pod that lost its node)
/// before a request waits on it.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a readiness probe waits for a peer's health answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Calls that run longer are cancelled by the server, whatever timeout the caller sent.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The metadata key of a call's credential, as in HTTP.
pub const AUTHORIZATION: &str = "authorization";

/// Gives a call its credential (`authorization: Bearer <token>`): a user's own token when made for a
/// user, a service token otherwise. A token that cannot be a header value is left out, and the callee
/// answers UNAUTHENTICATED as for a missing one.
pub fn authorize<T>(request: &mut tonic::Request<T>, token: &str) {
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert(AUTHORIZATION, value);
    }
}

/// Tells the callee how long the caller waits (`grpc-timeout`, the channel's [`REQUEST_TIMEOUT`]). The
/// channel's own limit is not sent (tonic keeps it client-side), so without this the callee cannot know
/// when its answer stops mattering; the conversations writer uses it never to store a message whose
/// sender has already been told it failed.
pub fn set_deadline<T>(request: &mut tonic::Request<T>) {
    request.set_timeout(REQUEST_TIMEOUT);
}

/// The bearer token of a call's `authorization` metadata, if it has one.
pub fn bearer_token(metadata: &tonic::metadata::MetadataMap) -> Option<&str> {
    let value = metadata.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A lazily connected channel to `url`: a service starts even while its peer is still starting, and
/// reconnects on its own when the peer restarts. Cheap to clone: clones share one HTTP/2 connection.
pub fn channel(url: &str) -> Result<Channel, Error> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|source| Error::Upstream {
        url: url.to_owned(),
        source,
    })?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// Whether the peer behind `channel` reports `service` (e.g. `junqo.auth.v1.AuthService`) as serving,
/// within a couple of seconds.
pub async fn is_serving(channel: Channel, service: &str) -> bool {
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    let check = client.check(tonic_health::pb::HealthCheckRequest {
        service: service.to_owned(),
    });
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, check).await,
        Ok(Ok(answer)) if answer.get_ref().status == ProbedStatus::Serving as i32
    )
}

/// Serves `routes` on `listener` until `shutdown` resolves, then lets in-flight calls finish. Every call
/// gets a span (continuing the caller's trace), the `<service>_grpc_*` metrics and a time limit; accepted
/// connections get TCP_NODELAY (tonic applies its own setting only to listeners it binds itself).
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    crate::metrics::install();
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .timeout(SERVER_TIMEOUT)
        .trace_fn(crate::trace::grpc_server_span)
        .layer(crate::metrics::GrpcMetricsLayer::new(service))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// The two ports of a gRPC service that owns a database: gRPC, and the plain-HTTP admin endpoint.
pub struct Ports {
    grpc: Listener,
    admin: Listener,
    admin_limits: Limits,
}

impl Ports {
    /// Binds both (port 0: the OS picks; read back with [`Self::port`] and [`Self::admin_port`]).
    pub async fn bind(
        grpc: SocketAddr,
        admin: SocketAddr,
        admin_limits: Limits,
    ) -> Result<Self, Error> {
        Ok(Self {
            grpc: listen(grpc).await?,
            admin: listen(admin).await?,
            admin_limits,
        })
    }

    pub fn port(&self) -> u16 {
        self.grpc.port
    }

    pub fn admin_port(&self) -> u16 {
        self.admin.port
    }

    /// Serves `routes` plus gRPC health, and the admin endpoint, until `shutdown` resolves. The health of
    /// each of `services` (their `NamedService::NAME`) follows the database: a service that cannot reach
    /// its data should get no traffic. On shutdown both ports stop accepting and finish what they are
    /// serving; this returns when both have, leaving the pool open for the caller's own drain.
    pub async fn serve(
        self,
        service: &'static str,
        pool: &PgPool,
        routes: Routes,
        services: &'static [&'static str],
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let report = move |status: ServingStatus| {
            let health = health.clone();
            async move {
                for name in services {
                    health.set_service_status(*name, status).await;
                }
            }
        };
        report(ServingStatus::Serving).await;
        let watch = tokio::spawn(crate::database::watch(pool.clone(), move |up| {
            report(if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            })
        }));

        let stop = crate::shutdown::shared(shutdown);
        let admin = tokio::spawn(crate::admin::serve(
            self.admin.listener,
            service,
            pool.clone(),
            self.admin_limits,
            stop.clone().cancelled_owned(),
        ));
        let served = serve(
            service,
            self.grpc.listener,
            routes.add_service(health_service),
            stop.cancelled_owned(),
        )
        .await;
        watch.abort();
        let _ = admin.await;
        served
    }
}
