//! Start-up: connect to Postgres, migrate the `auth` schema, bind the gRPC and admin ports, serve until
//! told to stop. How every service starts and stops is `platform::service`; this file says what auth is.

use std::future::Future;
use std::time::Duration;

use junqo_proto::auth::v1::auth_service_server::AuthServiceServer;
use jwt::{CredentialVerifier, TokenSigner, TokenVerifier};
use platform::service::Service;
use platform::telemetry::LogFormat;
use platform::{Env, Error};
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::AuthConfig;
use crate::attempts::Attempts;
use crate::events::publisher::{EventPublisher, PublisherSettings};
use crate::grpc::AuthGrpc;
use crate::hashing::PasswordHasher;
use crate::revocation::RevocationStore;
use crate::store::UserStore;

pub const SCHEMA: &str = "auth";
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub struct Application {
    ports: platform::grpc::Ports,
    pool: PgPool,
    grpc: AuthGrpc,
    publisher_task: JoinHandle<()>,
    stop_publisher: CancellationToken,
}

impl Service for Application {
    const NAME: &'static str = "auth";
    const PROTOCOL: &'static str = "gRPC";
    type Config = AuthConfig;

    fn config(env: &Env) -> Result<AuthConfig, Error> {
        AuthConfig::from_env(env)
    }

    fn log_format(config: &AuthConfig) -> LogFormat {
        config.log_format
    }

    /// Connects, migrates and binds. With port 0 the OS picks a free port, read back with `port()`.
    async fn build(config: AuthConfig) -> Result<Self, Error> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        if config.migrate_on_start {
            MIGRATOR.run(&pool).await?;
        }
        let ports =
            platform::grpc::Ports::bind(config.listen, config.admin_listen, config.admin_limits)
                .await?;
        let attempts = Attempts::new(pool.clone(), config.attempt_limits);
        attempts.spawn_clean_up();
        let stop_publisher = CancellationToken::new();
        let settings = PublisherSettings {
            url: config.rabbitmq_url.expose_secret().to_owned(),
            exchanges: config.exchanges.clone(),
            relay_interval: config.relay_interval,
            relay_grace: config.relay_grace,
        };
        let (publisher, publisher_task) =
            EventPublisher::spawn(settings, pool.clone(), stop_publisher.clone());
        let grpc = AuthGrpc::new(
            UserStore::new(pool.clone()),
            RevocationStore::new(pool.clone()),
            publisher,
            PasswordHasher::new(config.hash_concurrency).map_err(Error::service)?,
            TokenSigner::new(&config.jwt_secret, config.token_ttl),
            TokenVerifier::new(&config.jwt_secret),
            CredentialVerifier::new(&config.jwt_secret),
            attempts,
        );
        Ok(Self {
            ports,
            pool,
            grpc,
            publisher_task,
            stop_publisher,
        })
    }

    fn port(&self) -> u16 {
        self.ports.port()
    }

    fn admin_port(&self) -> Option<u16> {
        Some(self.ports.admin_port())
    }

    /// Serves until `shutdown` resolves, then lets in-flight calls finish, gives the publisher a moment
    /// for what it was handed (the relay covers the rest on the next start) and closes the pool.
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let routes = Routes::new(AuthServiceServer::new(self.grpc));
        let served = self
            .ports
            .serve(
                Self::NAME,
                &self.pool,
                routes,
                &[AuthServiceServer::<AuthGrpc>::NAME],
                shutdown,
            )
            .await;
        let mut publisher_task = self.publisher_task;
        if tokio::time::timeout(Duration::from_secs(5), &mut publisher_task)
            .await
            .is_err()
        {
            self.stop_publisher.cancel();
            let _ = publisher_task.await;
        }
        self.pool.close().await;
        served
    }

    async fn migrate(config: AuthConfig) -> Result<(), Error> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }
}
