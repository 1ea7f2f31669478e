//! The RabbitMQ side of the realtime service.
//!
//! Each instance has one connection and one exclusive queue. The queue is bound, on both the durable
//! events exchange and the ephemeral one, to `conversation.<id>.#` for each conversation that has at least
//! one socket in its room on this instance (bound when the room gains its first local member, before that
//! member's join is acknowledged; unbound when it loses its last), and to `presence.*`. So an instance
//! receives exactly the events of the rooms it hosts, whatever their number elsewhere.
//!
//! A single task ([`connection`]) owns the connection, the room counts and the bindings, and applies
//! commands in order, so a bind and an unbind of one room can never race. Deliveries are turned into
//! emits by [`dispatch`], each event serialized once per room.

mod connection;
mod dedup;
pub mod dispatch;

use junqo_proto::events::v1::Event;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use connection::{FanoutSettings, spawn};

pub(crate) enum Command {
    /// A local socket joined the room; answered once the room's bindings are in place.
    Join {
        room: Uuid,
        bound: oneshot::Sender<()>,
    },
    /// A local socket left the room.
    Leave { room: Uuid },
    /// Publish what is queued, then answer.
    Flush { done: oneshot::Sender<()> },
}

/// An ephemeral event for the other instances (and this one).
pub(crate) struct Publish {
    pub(crate) routing_key: String,
    pub(crate) event: Event,
}

/// Ephemeral events waiting to be published. When the broker cannot keep up, new ones are dropped:
/// a typing notice is worth nothing late, and a flood from one client must not grow memory or delay
/// the rooms' messages.
const PUBLISH_QUEUE: usize = 4096;

/// The handle the socket handlers use.
#[derive(Clone)]
pub struct Fanout {
    commands: mpsc::UnboundedSender<Command>,
    publications: mpsc::Sender<Publish>,
}

impl Fanout {
    /// Counts a local member of `room`, binding the room first if it is the first one.
    pub async fn join(&self, room: Uuid) {
        let (bound, done) = oneshot::channel();
        if self.commands.send(Command::Join { room, bound }).is_ok() {
            let _ = done.await;
        }
    }

    /// Returns once the ephemeral events queued so far are published (or the broker is away).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.commands.send(Command::Flush { done }).is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), flushed).await;
        }
    }

    pub fn leave(&self, room: Uuid) {
        let _ = self.commands.send(Command::Leave { room });
    }

    pub fn publish(&self, routing_key: String, event: Event) {
        if self
            .publications
            .try_send(Publish { routing_key, event })
            .is_err()
        {
            metrics::counter!("realtime_events_dropped_total").increment(1);
        }
    }
}

pub fn presence_key(user: Uuid) -> String {
    format!("presence.{user}")
}
