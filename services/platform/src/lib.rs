//! What every Junqo service does the same way, so each service's `main` stays a dozen lines.
//!
//! - [`config`]: reading settings from the environment and a `.env` file, secrets from `*_FILE` paths,
//!   and the seed's database variables with its defaults.
//! - [`database`]: a Postgres pool confined to the service's own schema.
//! - [`telemetry`]: `tracing` subscriber set-up (human logs in development, JSON in production).
//! - [`http`]: HTTP layers the public-facing services share (CORS).
//! - [`metrics`]: the Prometheus recorder and the HTTP and gRPC instruments; [`admin`]: the admin
//!   endpoint (health, readiness, metrics) of the gRPC services.
//! - [`shutdown`]: the future that resolves on SIGTERM or Ctrl-C.
//! - [`trace`]: W3C `traceparent` parsing and creation, for propagation between services.
//!
//! Business rules never live here: a service's domain, errors and storage are its own.

pub mod admin;
pub mod config;
pub mod database;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
pub mod trace;

pub use config::{DatabaseSettings, Env, Environment};

/// Everything that can go wrong while a service starts.
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
}
