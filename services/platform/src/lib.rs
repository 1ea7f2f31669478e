//! What every Junqo service does the same way, so each service's `main` stays a dozen lines.
//!
//! - [`config`]: reading settings from the environment and a `.env` file, secrets from `*_FILE` paths,
//!   and the seed's database variables with its defaults.
//! - [`database`]: a Postgres pool confined to the service's own schema.
//! - [`telemetry`]: `tracing` subscriber set-up (human logs in development, JSON in production).
//! - [`service`]: how every service starts, serves and stops: the [`service::Service`] trait its
//!   `Application` implements, [`service::run`] (what `main` calls), and serving HTTP with the
//!   listener [`service::Limits`] (header-read and idle timeouts, a connection cap, TCP_NODELAY).
//! - [`grpc`]: the one way to reach a peer (`channel`), to probe its health, and to serve gRPC together
//!   with the admin endpoint and a health status that follows the database.
//! - [`http`]: HTTP layers the public-facing services share (CORS).
//! - [`metrics`]: the Prometheus recorder and the HTTP and gRPC instruments; [`admin`]: the admin
//!   endpoint (health, readiness, metrics) of the gRPC services.
//! - [`rate`]: rate limits: a rate as written in the environment, the `RATE_LIMITS` switch, and a
//!   keyed limiter (governor) that forgets idle keys.
//! - [`shutdown`]: the future that resolves on SIGTERM or Ctrl-C, and a stop several servers share.
//! - [`trace`]: W3C `traceparent` parsing and creation, for propagation between services.
//!
//! Business rules never live here: a service's domain, errors and storage are its own.

pub mod admin;
pub mod config;
pub mod database;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod rate;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod trace;

pub use config::{DatabaseSettings, Env, Environment};

/// Everything that can go wrong while a service starts (or that stops it abnormally): every service's
/// start-up returns this one type, and `main` prints it as one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required setting is absent. The message names the variable and nothing else.
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    /// A setting is present but unusable. `reason` never contains the value (it may be a secret).
    #[error("invalid environment variable {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// A peer's address (`AUTH_URL`, `CONVERSATIONS_URL`) is not a URL a gRPC channel can use.
    #[error("invalid service address {url}: {source}")]
    Upstream {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// A failure of the service's own making (its error type stays its own, e.g. `AuthError`).
    #[error(transparent)]
    Service(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub fn service(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Service(Box::new(error))
    }
}
