//! The conversations service: it owns conversations, participants, per-user titles, messages and read
//! receipts (Postgres schema `conversations`), and publishes what changes to RabbitMQ. It speaks gRPC
//! (`junqo.conversations.v1`, port 50052 by default). Every call carries a credential this service
//! verifies itself, and the acting user comes from it; this service alone decides what that user may do.
//!
//! - [`config`] and [`startup`]: settings, and building and running the service (tests build the same).
//! - [`authn`]: who is calling, from the verified credential in the call's metadata.
//! - [`grpc`]: the RPC handlers.
//! - [`domain`]: validated input (ids, message content, titles); [`access`]: who may do what, as pure rules.
//! - [`store`]: the SQL and its rows, one module per table group, including the event [`store::outbox`].
//! - [`convert`]: stored rows to protobuf messages, for the gRPC answers and the events alike.
//! - [`writer`]: the batching message writer, the hot path for new messages.
//! - [`events`]: the domain events, and the [`events::publisher`] that publishes the outbox with confirms.
//! - [`users`]: asks the auth service whether participants exist.
//! - [`error`]: the one error type and its gRPC status mapping.

pub mod access;
pub mod authn;
pub mod config;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod grpc;
pub mod startup;
pub mod store;
pub mod users;
pub mod writer;

pub use config::ConversationsConfig;
pub use error::ConversationsError;
pub use startup::Application;
