//! How every service starts, serves and stops, written once.
//!
//! A service's `startup.rs` holds an `Application` that implements [`Service`]: `build` connects, spawns
//! its workers and binds its ports (port 0 in tests, read back with `port`), and `run_until_stopped`
//! serves until a shutdown future resolves, then stops in the order the service needs. [`run`] is what
//! `main` calls: configuration, then telemetry, then build, serve, and the telemetry flush. Tests build the
//! same `Application` through the same trait (`testkit::Services` starts any of them).
//!
//! - [`listen`]: binds a port, naming the address if it cannot.
//! - [`serve`]: serves an axum router over HTTP/1.1 with the listener [`Limits`] (header-read and idle
//!   timeouts, a connection cap, TCP_NODELAY), then drains on shutdown.
//! - gRPC services serve through [`crate::grpc::Ports`], which adds the admin endpoint and a health status
//!   that follows the database.

mod http;
mod limits;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::telemetry::LogFormat;
use crate::{Env, Error};

pub use http::serve;
pub use limits::Limits;

/// A Junqo service, as [`run`] and the tests start it.
pub trait Service: Sized + Send + 'static {
    /// Its name in logs, metrics and traces (`auth`), and the stem of its address variable (`AUTH_URL`).
    const NAME: &'static str;
    /// What its main port speaks, for the "listening" log line.
    const PROTOCOL: &'static str;
    type Config: Send;

    /// Reads the settings; a bad one is an error naming the variable.
    fn config(env: &Env) -> Result<Self::Config, Error>;
    fn log_format(config: &Self::Config) -> LogFormat;
    /// Connects, spawns the service's workers and binds its ports.
    fn build(config: Self::Config) -> impl Future<Output = Result<Self, Error>> + Send;
    fn port(&self) -> u16;
    /// The plain-HTTP admin port (`/health`, `/ready`, `/metrics`) of services that have one.
    fn admin_port(&self) -> Option<u16> {
        None
    }
    /// Serves until `shutdown` resolves, then stops in order: in-flight work finishes, nothing accepted
    /// is lost.
    fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// `<service> migrate`: brings the database schema up to date and returns (Kubernetes runs it before
    /// the pods start). A service without a database has nothing to do.
    fn migrate(config: Self::Config) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = config;
        async {
            tracing::info!("{} has no database; nothing to migrate", Self::NAME);
            Ok(())
        }
    }
}

/// What the binary was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Serve,
    /// `<service> migrate`
    Migrate,
}

impl Command {
    /// `migrate` as the first argument, else serve.
    pub fn from_args() -> Self {
        match std::env::args().nth(1).as_deref() {
            Some("migrate") => Self::Migrate,
            _ => Self::Serve,
        }
    }
}

/// Reads the configuration, sets up telemetry, then serves until `shutdown` resolves (or only migrates).
/// Configuration comes first so that a bad setting is printed as one plain line, before any logging.
pub async fn run<S: Service>(
    env: Env,
    command: Command,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let config = S::config(&env)?;
    let telemetry = crate::telemetry::init(
        S::NAME,
        S::log_format(&config),
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
    );
    // Before anything is counted: instruments that fire before a recorder exists are lost.
    crate::metrics::install();
    let outcome = match command {
        Command::Migrate => S::migrate(config).await,
        Command::Serve => serve_until_stopped::<S>(config, shutdown).await,
    };
    telemetry.shutdown().await;
    outcome
}

async fn serve_until_stopped<S: Service>(
    config: S::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = S::build(config).await?;
    tracing::info!(
        port = app.port(),
        admin_port = app.admin_port(),
        "{} listening ({})",
        S::NAME,
        S::PROTOCOL
    );
    app.run_until_stopped(shutdown).await?;
    tracing::info!("{} stopped", S::NAME);
    Ok(())
}

/// A bound port and the port number it got (the OS picks one for port 0).
pub struct Listener {
    pub listener: TcpListener,
    pub port: u16,
}

/// Binds `address`; the error names it.
pub async fn listen(address: SocketAddr) -> Result<Listener, Error> {
    let listen_error = |source| Error::Listen { address, source };
    let listener = TcpListener::bind(address).await.map_err(listen_error)?;
    let port = listener.local_addr().map_err(listen_error)?.port();
    Ok(Listener { listener, port })
}
