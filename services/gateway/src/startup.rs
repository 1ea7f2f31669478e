//! Start-up: build the shared state and router, bind, serve until told to stop. How every service starts
//! and stops is `platform::service`; this file says what the gateway is.

use std::future::Future;

use axum::Router;
use platform::service::{Limits, Listener, Service};
use platform::telemetry::LogFormat;
use platform::{Env, Error};

use crate::GatewayConfig;
use crate::state::AppState;

pub struct Application {
    listener: Listener,
    limits: Limits,
    router: Router,
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
        let state = AppState::new(&config)?;
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
        Ok(())
    }
}
