//! Services started in the test's own process, each from the same `Application` that production runs
//! (anything implementing `platform::service::Service`), on port 0, against the test's database and
//! broker names. They stop when the [`Services`] value is dropped.
//!
//! testkit names no service crate: a service's tests depend on testkit, so testkit depending on the
//! service would link two copies of it. The caller names the services as type parameters instead:
//! `services.start::<auth::Application>()`.

use platform::Env;
use platform::service::Service;
use tokio::sync::oneshot;

use crate::{TestBroker, TestDatabase};

pub struct Services {
    /// What the next service started reads; adjust it between starts.
    pub env: Env,
    stops: Vec<oneshot::Sender<()>>,
}

/// Where a started service answers.
#[derive(Debug, Clone)]
pub struct Started {
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    /// The admin endpoint (`/health`, `/ready`, `/metrics`) of services that have one.
    pub admin_url: Option<String>,
}

impl Services {
    /// The environment every service of a test shares: `db` and `broker`, the JWT secret, loopback and
    /// port 0 for every port.
    pub fn new(db: &TestDatabase, broker: &TestBroker, jwt_secret: &str) -> Self {
        let mut env = Env::from_pairs(db.env_pairs().into_iter().chain(broker.env_pairs()));
        env.set("JWT_SECRET", jwt_secret)
            .set("BIND_ADDRESS", "127.0.0.1")
            .set("AUTH_PORT", "0")
            .set("CONVERSATIONS_PORT", "0")
            .set("REALTIME_PORT", "0")
            .set("GATEWAY_PORT", "0")
            .set("ADMIN_PORT", "0");
        Self {
            env,
            stops: Vec::new(),
        }
    }

    /// Builds `S` from the current environment and serves it until `self` is dropped. Its address becomes
    /// `<NAME>_URL` (`AUTH_URL`, `CONVERSATIONS_URL`, `REALTIME_URL`) for the services started after it.
    pub async fn start<S: Service>(&mut self) -> Started {
        self.start_and_inspect::<S, ()>(|_| ()).await.0
    }

    /// [`Services::start`], also handing the built application to `inspect` before it starts serving
    /// (to keep a handle a test reads later, such as realtime's census).
    pub async fn start_and_inspect<S: Service, T>(
        &mut self,
        inspect: impl FnOnce(&S) -> T,
    ) -> (Started, T) {
        platform::metrics::install();
        let config = S::config(&self.env)
            .unwrap_or_else(|error| panic!("{} configuration: {error}", S::NAME));
        let app = S::build(config)
            .await
            .unwrap_or_else(|error| panic!("{} does not start: {error}", S::NAME));
        let local = |port: u16| format!("http://127.0.0.1:{port}");
        let started = Started {
            port: app.port(),
            url: local(app.port()),
            admin_url: app.admin_port().map(local),
        };
        let inspected = inspect(&app);
        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.push(stop);
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        self.env.set(
            format!("{}_URL", S::NAME.to_ascii_uppercase()),
            started.url.clone(),
        );
        (started, inspected)
    }
}
