//! Start-up: connect to Postgres, migrate the `conversations` schema, start the event publisher and the
//! message writer, bind the gRPC port, serve until told to stop, then drain in order so that no accepted
//! message or event is lost.

use std::future::Future;
use std::time::Duration;

use junqo_proto::conversations::v1::conversations_service_server::ConversationsServiceServer;
use junqo_proto::conversations::v1::messages_service_server::MessagesServiceServer;
use platform::Env;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Endpoint;

use crate::events::publisher::{EventPublisher, PublisherSettings};
use crate::grpc::Handlers;
use crate::users::UserDirectory;
use crate::writer::MessageWriter;
use crate::{ConversationsConfig, ConversationsError};

pub const SCHEMA: &str = "conversations";

pub async fn run(
    env: Env,
    migrate_only: bool,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let config = ConversationsConfig::from_env(&env)?;
    let telemetry = platform::telemetry::init(
        "conversations",
        config.log_format,
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    if migrate_only {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        return migrate(&pool).await;
    }
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "conversations service listening (gRPC)");
    let outcome = app.run_until_stopped(shutdown).await;
    telemetry.shutdown().await;
    outcome
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Platform(#[from] platform::Error),
    #[error(transparent)]
    Conversations(#[from] ConversationsError),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error("gRPC: {0}")]
    Transport(#[from] tonic::transport::Error),
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
    handlers: Handlers,
    writer_task: JoinHandle<()>,
    publisher_task: JoinHandle<()>,
    stop_publisher: CancellationToken,
}

impl Application {
    pub async fn build(config: ConversationsConfig) -> Result<Self, StartError> {
        let pool = platform::database::connect(&config.database, SCHEMA).await?;
        if config.migrate_on_start {
            migrate(&pool).await?;
        }
        let auth = Endpoint::from_shared(config.auth_url.clone())?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect_lazy();

        let stop_publisher = CancellationToken::new();
        let settings = PublisherSettings {
            url: config.rabbitmq_url.expose_secret().to_owned(),
            exchanges: config.exchanges.clone(),
            relay_interval: config.relay_interval,
            relay_grace: config.relay_grace,
        };
        let (publisher, publisher_task) =
            EventPublisher::spawn(settings, pool.clone(), stop_publisher.clone());
        let (writer, writer_task) = MessageWriter::spawn(pool.clone(), publisher.clone());
        let handlers = Handlers::new(pool.clone(), writer, publisher, UserDirectory::new(auth));

        let listener = TcpListener::bind(config.listen).await?;
        let port = listener.local_addr()?.port();
        let admin = TcpListener::bind(config.admin_listen).await?;
        let admin_port = admin.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            admin,
            admin_port,
            pool,
            handlers,
            writer_task,
            publisher_task,
            stop_publisher,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin port: `/health`, `/ready`, `/metrics`.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Serves until `shutdown` resolves. Then: stop accepting and finish in-flight calls; let the writer
    /// commit what it holds; let the publisher send what was handed to it (the relay covers the rest on
    /// the next start); close the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ConversationsServiceServer<Handlers>>()
            .await;
        health
            .set_serving::<MessagesServiceServer<Handlers>>()
            .await;
        let watch = tokio::spawn(platform::database::watch(self.pool.clone(), move |up| {
            let health = health.clone();
            async move {
                if up {
                    health
                        .set_serving::<ConversationsServiceServer<Handlers>>()
                        .await;
                    health
                        .set_serving::<MessagesServiceServer<Handlers>>()
                        .await;
                } else {
                    health
                        .set_not_serving::<ConversationsServiceServer<Handlers>>()
                        .await;
                    health
                        .set_not_serving::<MessagesServiceServer<Handlers>>()
                        .await;
                }
            }
        }));

        let stop = platform::admin::shared_stop(shutdown);
        let admin = tokio::spawn(platform::admin::serve(
            self.admin,
            "conversations",
            self.pool.clone(),
            stop.clone().cancelled_owned(),
        ));
        let served = tonic::transport::Server::builder()
            .timeout(Duration::from_secs(30))
            .trace_fn(platform::trace::grpc_server_span)
            .layer(platform::metrics::GrpcMetricsLayer {
                service: "conversations",
            })
            .add_service(health_service)
            .add_service(ConversationsServiceServer::new(self.handlers.clone()))
            .add_service(MessagesServiceServer::new(self.handlers))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(self.listener),
                stop.cancelled_owned(),
            )
            .await;
        watch.abort();
        let _ = admin.await;

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
        tracing::info!("conversations service stopped");
        served?;
        Ok(())
    }
}
