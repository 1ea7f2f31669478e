//! The gateway: Junqo's public REST face (`/api/v1`, port 3000 by default). It owns no data; every
//! request becomes gRPC calls to the service that owns the data, which also decides what the caller may
//! do. Tokens are verified here, locally, so authentication costs no network hop.
//!
//! - [`config`]: the settings read at start-up.
//! - [`startup`]: builds the router and serves it; tests build the same [`startup::Application`].
//! - [`state`]: the handles every handler shares (gRPC channels, the token verifier).
//! - [`http`]: the routes, one module per area, plus extractors and middleware layers.
//! - [`error`]: the one error type, rendered as the original backend's error body.

pub mod config;
pub mod error;
pub mod http;
pub mod startup;
pub mod state;

pub use config::GatewayConfig;
pub use error::ApiError;
pub use startup::Application;
