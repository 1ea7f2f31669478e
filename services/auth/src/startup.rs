//! Start-up: connect to Postgres, migrate the `auth` schema, bind the gRPC port, serve until told to stop.

use std::future::Future;
use std::time::Duration;

use junqo_proto::auth::v1::auth_service_server::AuthServiceServer;
use jwt::{TokenSigner, TokenVerifier};
use platform::Env;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::grpc::AuthGrpc;
use crate::hashing::PasswordHasher;
use crate::store::UserStore;
use crate::{AuthConfig, AuthError};

pub const SCHEMA: &str = "auth";

/// Reads the configuration, sets up logging and runs the service (or only its migrations).
pub async fn run(
    env: Env,
    migrate_only: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let config = AuthConfig::from_env(&env)?;
    let telemetry = platform::telemetry::init(
        "auth",
        config.log_format,
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    if migrate_only {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        return migrate(&pool).await;
    }
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "auth service listening (gRPC)");
    let outcome = app.run_until_stopped(shutdown).await;
    telemetry.shutdown().await;
    outcome
}

/// Why the service could not start or stopped abnormally. Printed as one line by `main`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Platform(#[from] platform::Error),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

pub async fn migrate(pool: &PgPool) -> Result<(), StartError> {
    sqlx::migrate!("./migrations")
        .run(pool)
        .await
        .map_err(platform::Error::from)?;
    Ok(())
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    admin: TcpListener,
    admin_port: u16,
    pool: PgPool,
    grpc: AuthGrpc,
}

impl Application {
    /// Connects, migrates and binds. With port 0 the OS picks a free port, read back with [`Self::port`].
    pub async fn build(config: AuthConfig) -> Result<Self, StartError> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        if config.migrate_on_start {
            migrate(&pool).await?;
        }
        let listener = TcpListener::bind(config.listen).await?;
        let port = listener.local_addr()?.port();
        let admin = TcpListener::bind(config.admin_listen).await?;
        let admin_port = admin.local_addr()?.port();
        let grpc = AuthGrpc::new(
            UserStore::new(pool.clone()),
            PasswordHasher::new(config.hash_concurrency)?,
            TokenSigner::new(&config.jwt_secret, config.token_ttl),
            TokenVerifier::new(&config.jwt_secret),
        );
        Ok(Self {
            listener,
            port,
            admin,
            admin_port,
            pool,
            grpc,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin port: `/health`, `/ready`, `/metrics`.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<AuthServiceServer<AuthGrpc>>().await;
        // Readiness follows the database: a service that cannot reach its data should get no traffic.
        let watch = tokio::spawn(platform::database::watch(self.pool.clone(), move |up| {
            let health = health.clone();
            async move {
                if up {
                    health.set_serving::<AuthServiceServer<AuthGrpc>>().await;
                } else {
                    health
                        .set_not_serving::<AuthServiceServer<AuthGrpc>>()
                        .await;
                }
            }
        }));

        let stop = platform::admin::shared_stop(shutdown);
        let admin = tokio::spawn(platform::admin::serve(
            self.admin,
            "auth",
            self.pool.clone(),
            stop.clone().cancelled_owned(),
        ));
        tonic::transport::Server::builder()
            .timeout(Duration::from_secs(30))
            .trace_fn(platform::trace::grpc_server_span)
            .layer(platform::metrics::GrpcMetricsLayer { service: "auth" })
            .add_service(health_service)
            .add_service(AuthServiceServer::new(self.grpc))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(self.listener),
                stop.cancelled_owned(),
            )
            .await?;
        watch.abort();
        let _ = admin.await;
        self.pool.close().await;
        tracing::info!("auth service stopped");
        Ok(())
    }
}
