//! Start-up: build the shared state and router, bind, serve until told to stop.

use std::future::Future;

use axum::Router;
use platform::Env;
use tokio::net::TcpListener;

use crate::GatewayConfig;
use crate::state::AppState;

/// Reads the configuration, sets up logging and serves.
pub async fn run(
    env: Env,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let config = GatewayConfig::from_env(&env)?;
    let telemetry = platform::telemetry::init(
        "gateway",
        config.log_format,
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    let app = Application::build(config).await?;
    tracing::info!(port = app.port(), "gateway listening (HTTP, /api/v1)");
    let outcome = app.run_until_stopped(shutdown).await;
    telemetry.shutdown().await;
    outcome
}

/// Why the gateway could not start or stopped abnormally. Printed as one line by `main`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Platform(#[from] platform::Error),
    #[error("invalid service address: {0}")]
    Upstream(#[from] tonic::transport::Error),
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    port: u16,
    router: Router,
}

impl Application {
    /// Binds the listener. With port 0 the OS picks a free port, read back with [`Self::port`].
    pub async fn build(config: GatewayConfig) -> Result<Self, StartError> {
        platform::metrics::handle();
        let state = AppState::new(&config)?;
        let proxy = crate::http::SocketProxy::new(&config.realtime_url).map_err(|_| {
            platform::Error::Invalid {
                name: "REALTIME_URL",
                reason: "not a URL".into(),
            }
        })?;
        let router = crate::http::router(state, proxy, &config);
        let listener = TcpListener::bind(config.listen).await?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            port,
            router,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("gateway stopped");
        Ok(())
    }
}
