//! The auth service: it owns users and credentials (Postgres schema `auth`) and is the only issuer of
//! tokens. It speaks gRPC (`junqo.auth.v1.AuthService`, port 50051 by default).
//!
//! - [`config`]: the settings read at start-up.
//! - [`startup`]: connects, migrates, binds and serves; tests build the same [`startup::Application`].
//! - [`grpc`]: the RPC handlers: parse the request into domain types, apply, answer.
//! - [`domain`]: validated user input (name, email, password, type); nothing past the edge re-validates.
//! - [`hashing`]: Argon2id password hashing, on blocking threads and bounded, with a share per client
//!   address.
//! - [`attempts`]: sign-in failure and sign-up limits, counted in Postgres for every replica.
//! - [`metrics`]: sign-ups and sign-ins by outcome (the hashing queue counts itself).
//! - [`store`]: the SQL over the `auth.users` table.
//! - [`revocation`]: revoked tokens and per-user cutoffs, and the rule that makes a same-second reissue safe.
//! - [`events`]: `tokens.revoked` and `user.deleted`, through the outbox, published to `junqo.auth`.
//! - [`error`]: the one error type and how it maps to gRPC status codes.

pub mod attempts;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod hashing;
pub mod metrics;
pub mod revocation;
pub mod startup;
pub mod store;

pub use config::AuthConfig;
pub use error::AuthError;
pub use startup::Application;
