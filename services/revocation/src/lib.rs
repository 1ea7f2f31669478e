//! Which tokens were revoked, known locally so that verifying a token never costs a network hop.
//!
//! The auth service owns revocations (per-user cutoffs and revoked token ids); gateway and realtime keep
//! a copy in memory:
//! - [`state`]: the copy itself ([`Revocations`]), with [`Revocations::is_revoked`] and expiry pruning;
//! - [`feed`]: keeps it current: an exclusive queue on the `junqo.auth` exchange, and a full reload
//!   from auth's `ListRevocations` at start and after every broker reconnect, so nothing published while
//!   the queue did not exist is missed. The queue is consuming before the snapshot is read, so an event
//!   is never lost between the two (applying one twice is harmless).
//!
//! Each applied change is also announced on a broadcast channel ([`Revocations::subscribe`]), for realtime
//! to disconnect the live sockets of revoked tokens.

pub mod feed;
pub mod state;

pub use feed::{FeedSettings, start};
pub use state::{Change, Revocations};
