//! Start-up: connect to Postgres, migrate the `conversations` schema, start the event publisher and the
//! message writer, bind the gRPC and admin ports, serve until told to stop, then drain in order so that
//! no accepted message or event is lost. How every service starts and stops is `platform::service`;
//! this file says what conversations is and how it drains.

use std::future::Future;
use std::time::Duration;

use junqo_proto::conversations::v1::conversations_service_server::ConversationsServiceServer;
use junqo_proto::conversations::v1::messages_service_server::MessagesServiceServer;
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

use jwt::{CredentialVerifier, ServiceSigner};

use crate::ConversationsConfig;
use crate::authn::Authenticate;
use crate::events::publisher::{EventPublisher, PublisherSettings};
use crate::grpc::Handlers;
use crate::users::UserDirectory;
use crate::writer::MessageWriter;

pub const SCHEMA: &str = "conversations";
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The gRPC services whose health follows the database.
const SERVED: &[&str] = &[
    ConversationsServiceServer::<Handlers>::NAME,
    MessagesServiceServer::<Handlers>::NAME,
];

pub struct Application {
    ports: platform::grpc::Ports,
    pool: PgPool,
    handlers: Handlers,
    authenticate: Authenticate,
    writer_task: JoinHandle<()>,
    publisher_task: JoinHandle<()>,
    stop_publisher: CancellationToken,
    /// Removes deleted users from their conversations (`user.deleted` from auth).
    user_deleted_task: JoinHandle<()>,
    stop_consumers: CancellationToken,
}

impl Service for Application {
    const NAME: &'static str = "conversations";
    const PROTOCOL: &'static str = "gRPC";
    type Config = ConversationsConfig;

    fn config(env: &Env) -> Result<ConversationsConfig, Error> {
        ConversationsConfig::from_env(env)
    }

    fn log_format(config: &ConversationsConfig) -> LogFormat {
        config.log_format
    }

    async fn build(config: ConversationsConfig) -> Result<Self, Error> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        if config.migrate_on_start {
            MIGRATOR.run(&pool).await?;
        }
        let auth = platform::grpc::channel(&config.auth_url)?;

        let stop_publisher = CancellationToken::new();
        let settings = PublisherSettings {
            url: config.rabbitmq_url.expose_secret().to_owned(),
            exchanges: config.exchanges.clone(),
            relay_interval: config.relay_interval,
            relay_grace: config.relay_grace,
            shards: config.event_shards,
            retention: config.event_log_retention,
        };
        let (publisher, publisher_task) =
            EventPublisher::spawn(settings, pool.clone(), stop_publisher.clone());
        let stop_consumers = CancellationToken::new();
        let user_deleted_task = crate::events::user_deleted::spawn(
            crate::events::user_deleted::UserDeletedSettings {
                url: config.rabbitmq_url.expose_secret().to_owned(),
                exchanges: config.exchanges.clone(),
            },
            pool.clone(),
            publisher.clone(),
            stop_consumers.clone(),
        );
        let (writer, writer_task) = MessageWriter::spawn(pool.clone(), publisher.clone());
        let users = UserDirectory::new(auth, ServiceSigner::new(&config.jwt_secret, Self::NAME));
        let verifier = CredentialVerifier::new(&config.jwt_secret);
        let handlers = Handlers::new(
            pool.clone(),
            writer,
            publisher,
            users,
            config.max_participants,
            verifier.clone(),
        );
        let authenticate = Authenticate::new(verifier);

        let ports =
            platform::grpc::Ports::bind(config.listen, config.admin_listen, config.admin_limits)
                .await?;
        Ok(Self {
            ports,
            pool,
            handlers,
            authenticate,
            writer_task,
            publisher_task,
            stop_publisher,
            user_deleted_task,
            stop_consumers,
        })
    }

    fn port(&self) -> u16 {
        self.ports.port()
    }

    fn admin_port(&self) -> Option<u16> {
        Some(self.ports.admin_port())
    }

    /// Serves until `shutdown` resolves. Then: stop accepting and finish in-flight calls; let the writer
    /// commit what it holds; let the publisher send what was handed to it (the relay covers the rest on
    /// the next start); close the pool.
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let routes = Routes::new(ConversationsServiceServer::with_interceptor(
            self.handlers.clone(),
            self.authenticate.clone(),
        ))
        .add_service(MessagesServiceServer::with_interceptor(
            self.handlers,
            self.authenticate,
        ));
        let served = self
            .ports
            .serve(Self::NAME, &self.pool, routes, SERVED, shutdown)
            .await;
        // A deletion being applied finishes (or goes back to its queue) before the publisher stops.
        self.stop_consumers.cancel();
        let _ = self.user_deleted_task.await;

        if let Err(error) = self.writer_task.await {
            tracing::error!(%error, "message writer failed");
        }
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

    async fn migrate(config: ConversationsConfig) -> Result<(), Error> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        MIGRATOR.run(&pool).await?;
        pool.close().await;
        Ok(())
    }
}
