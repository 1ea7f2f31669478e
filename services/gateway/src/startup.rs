//! Start-up: build the shared state and router, bind, serve until told to stop. How every service starts
//! and stops is `platform::service`; this file says what the gateway is.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use jwt::ServiceSigner;
use platform::service::{Limits, Listener, Service};
use platform::telemetry::LogFormat;
use platform::{Env, Error};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::GatewayConfig;
use crate::state::AppState;

pub struct Application {
    listener: Listener,
    limits: Limits,
    router: Router,
    revocation_feed: JoinHandle<()>,
    stop_feed: CancellationToken,
}

impl Service for Application {
    const NAME: &'static str = "gateway";
    const PROTOCOL: &'static str = "HTTP, /api/v1";
    type Config = GatewayConfig;

    fn config(env: &Env) -> Result<GatewayConfig, Error> {
        GatewayConfig::from_env(env)
    }

    fn log_format(config: &GatewayConfig) -> LogFormat {
        config.log_format
    }

    /// Binds the listener. With port 0 the OS picks a free port, read back with `port()`.
    async fn build(config: GatewayConfig) -> Result<Self, Error> {
        let auth_channel = platform::grpc::channel(&config.auth_url)?;
        let stop_feed = CancellationToken::new();
        // Until the revocations are loaded, authenticated routes answer 503 and /ready says not ready,
        // as when auth itself is unreachable. Start-up waits a little for them, but a gateway without
        // auth still starts (and becomes ready once auth answers).
        let (revocations, revocation_feed) = revocation::start(
            revocation::FeedSettings {
                rabbitmq_url: config.rabbitmq_url.expose_secret().to_owned(),
                exchanges: config.exchanges.clone(),
                service: "gateway",
                signer: Arc::new(ServiceSigner::new(&config.jwt_secret, "gateway")),
            },
            auth_channel.clone(),
            stop_feed.clone(),
        );
        if !revocations
            .wait_loaded(config.revocations_load_timeout)
            .await
        {
            tracing::warn!("revocations not loaded yet; authenticated routes answer 503 meanwhile");
        }
        let state = AppState::new(&config, auth_channel, revocations)?;
        let proxy =
            crate::http::SocketProxy::new(&config.realtime_url).map_err(|_| Error::Invalid {
                name: "REALTIME_URL",
                reason: "not a URL".into(),
            })?;
        let router = crate::http::router(state, proxy, &config);
        Ok(Self {
            listener: platform::service::listen(config.listen).await?,
            limits: config.limits,
            router,
            revocation_feed,
            stop_feed,
        })
    }

    fn port(&self) -> u16 {
        self.listener.port
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        platform::service::serve(self.listener.listener, self.router, self.limits, shutdown).await;
        self.stop_feed.cancel();
        let _ = self.revocation_feed.await;
        Ok(())
    }
}
