//! The realtime service: live Socket.IO sessions (port 3001 by default), their rooms, typing and
//! presence. It owns no data: the conversations service decides membership and stores messages, and this
//! service fans out what happens through RabbitMQ, so that clients connected to any instance see the
//! same conversation.
//!
//! From the top down (each module uses only those below it):
//! - [`startup`] and [`config`]: settings, and building and running the service (tests build the same);
//!   [`census`]: what an instance holds right now.
//! - [`lifecycle`]: a socket's life: admitted, connected (presence), disconnected; the instance's
//!   departure.
//! - [`handshake`]: who is connecting (the token from `auth.token`, query `token` or the header);
//!   [`head`]: the copy of the request head a socket keeps.
//! - [`events`]: the client events, one descriptor each in one table, and the adapter that runs them
//!   (span, metrics, per-user rate limits, ack or error event).
//! - [`dispatch`]: events from RabbitMQ turned into emits to local sockets.
//! - [`membership`]: memberships of a room's local sockets checked again when its events may have been
//!   missed.
//! - [`sequencer`]: per hosted room, messages emitted in `seq` order and once; gaps filled from the
//!   conversations service; a rejoining socket replayed what it missed (`afterSeq`).
//! - [`hub`]: the state the handlers share.
//! - [`rooms`]: the only place sockets join and leave conversation rooms (join, leave, eviction,
//!   disconnect); [`typing`]: "is typing" and its timeout; [`presence`]: who is online across instances;
//!   [`liveness`]: this instance's heartbeat, and instances that stopped sending theirs.
//! - [`fanout`]: the RabbitMQ side: one queue per instance bound per hosted room, and publishing of
//!   ephemeral events.
//! - [`emit`]: every emit to a client, and what happens to one that cannot keep up; [`upstream`]:
//!   requests to the conversations service, in the caller's trace, and the batcher of sends.
//! - [`tokens`]: one instance-wide watch that disconnects a socket when its token expires or is revoked.
//! - [`session`]: who is behind a socket and what the socket holds; [`error`]: errors as clients
//!   receive them.

pub mod census;
pub mod config;
pub mod dispatch;
pub mod emit;
pub mod error;
pub mod events;
pub mod fanout;
pub mod handshake;
pub mod head;
pub mod hub;
pub mod lifecycle;
pub mod liveness;
pub mod membership;
pub mod presence;
pub mod rooms;
pub mod sequencer;
pub mod session;
pub mod startup;
pub mod tokens;
pub mod typing;
pub mod upstream;

pub use census::Census;
pub use config::RealtimeConfig;
pub use startup::Application;
