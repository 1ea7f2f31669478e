//! The RabbitMQ side of the realtime service.
//!
//! Each instance has one connection and one queue of its own (kept by the broker for a while after a lost
//! connection: `FanoutSettings::queue_expires`). While a conversation has at least one socket
//! in its room on this instance (bound when the room gains its first local member, before that member's
//! join is acknowledged; unbound when it loses its last), the queue is bound to the room's own key
//! `conversation.<id>.#` on the ephemeral exchange, and to its shard's key `shard.<n>` on the durable
//! events exchange (`hosting.rs`: a shard stays bound while any hosted room falls in it); and always to
//! `presence.*`. Durable events come in batches of one shard; the events of rooms not hosted here are
//! dropped (`realtime_events_foreign_total`), so an instance receives the events of every shard it hosts a
//! room in, a superset of its rooms' bounded by `EVENT_SHARDS` (docs/architecture.md).
//!
//! A single task (`connection.rs`) owns the connection, the room counts and the bindings, and applies
//! commands in order, so a bind and an unbind of one room can never race. Each new event (duplicates
//! dropped by `dedup.rs`) is handed to a [`Deliver`]: the dispatch to local sockets, which lives above this
//! module. The surface the rest of the service uses is [`Fanout`]: join, leave, publish.

mod connection;
mod dedup;
mod hosting;
mod span;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use junqo_proto::events::v1::{Event, event::Payload};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use connection::{FanoutRunner, FanoutSettings, spawn};

/// What the fan-out hands each new event to, in the order they arrive, within the event's trace.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, event: Event) -> impl Future<Output = ()> + Send;

    /// The connection is (re)established and every hosted room bound again: events routed while the
    /// queue was gone were lost, and whoever delivers reads them another way. Must not block.
    fn rebound(&self) {}
}

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

/// The handle the rest of the service uses.
#[derive(Clone)]
pub struct Fanout {
    commands: mpsc::UnboundedSender<Command>,
    publications: mpsc::Sender<Publish>,
    /// Rooms with at least one local member, as the task counts them.
    hosted: Arc<AtomicUsize>,
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

    /// Publishes an ephemeral event about a conversation (typing, a room notice), with a fresh id.
    pub fn publish_to_room(&self, conversation: Uuid, kind: &str, payload: Payload) {
        let event = Event {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: None,
            conversation_id: conversation.to_string(),
            traceparent: String::new(),
            event_seq: 0,
            payload: Some(payload),
        };
        self.publish(
            broker::conversation_key(&event.conversation_id, kind),
            event,
        );
    }

    /// How many rooms this instance hosts (bound on the broker while it is connected).
    pub fn hosted_rooms(&self) -> usize {
        self.hosted.load(Ordering::Relaxed)
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
