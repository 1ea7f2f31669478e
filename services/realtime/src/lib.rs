//! The realtime service: live Socket.IO sessions (port 3001 by default), their rooms, typing and
//! presence. It owns no data: the conversations service decides membership and stores messages, and this
//! service fans out what happens through RabbitMQ, so that clients connected to any instance see the
//! same conversation.
//!
//! - [`config`] and [`startup`]: settings, and building and running the service (tests build the same).
//! - [`handshake`]: who is connecting (the token from `auth.token`, query `token` or the header).
//! - [`socket`]: the client events, one module per group, with their payloads and error events.
//! - [`fanout`]: the RabbitMQ side: one queue per instance bound per live conversation, the dispatch of
//!   events to local rooms, and publishing of ephemeral events.
//! - [`hub`]: the state the handlers share; [`presence`]: who is online across instances.
//! - [`error`]: errors as clients receive them.

pub mod config;
pub mod error;
pub mod fanout;
pub mod handshake;
pub mod hub;
pub mod presence;
pub mod socket;
pub mod startup;

pub use config::RealtimeConfig;
pub use startup::Application;
