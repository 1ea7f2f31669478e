//! The client events of the default namespace: one descriptor per event, listed in one [`Table`], and
//! one adapter (`adapter.rs`) that runs them all.
//!
//! A descriptor ([`ClientEvent`]) holds everything particular to an event: its name (written nowhere
//! else), its error event, its payload (a type that exists only when every rule holds: [`Payload`]), an
//! optional per-socket rate limit, and its handler, which reads as the business rule. The adapter does
//! what every event needs: a span that continues into the gRPC calls, timing and metrics, the rate-limit
//! gate, and the answer (the ack, or the error event and a failed ack, with every broken rule).
//!
//! The descriptors, by group:
//! - joinRoom and leaveRoom in [`rooms`];
//! - sendMessage, getMessageHistory, updateMessage, deleteMessage, markMessageRead in [`messages`];
//! - markConversationRead in [`reads`];
//! - startTyping and stopTyping in [`typing`];
//! - getOnlineUsers in [`presence`].
//!
//! Adding an event: write its descriptor (in its group's file, or a new one) and add it to [`Table::new`].

mod adapter;
pub mod messages;
pub mod payload;
pub mod presence;
pub mod reads;
pub mod rooms;
pub mod typing;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, State, TryData};

use crate::error::SocketError;
use crate::hub::Hub;
use crate::session::{Peer, Session};
use crate::{emit, upstream};

pub use payload::{Input, Json, Payload};

/// One client event.
pub trait ClientEvent: Send + Sync + 'static {
    /// Its name on the wire.
    const NAME: &'static str;
    /// The event its failures are told on (`messageError`, `typingError`...).
    const ERROR_EVENT: &'static str;
    /// How often one socket may send it; `None`: as often as it likes. Read by the adapter's gate.
    const LIMIT: Option<Limit> = None;

    type Payload: Payload;

    /// Does what the event asks; the value is the ack's payload.
    fn handle(
        cx: Context,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Value, SocketError>> + Send;
}

/// A per-socket rate limit: `burst` events at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

/// What a handler works with: the shared state, and the socket that sent the event.
pub struct Context {
    pub hub: Arc<Hub>,
    pub peer: Peer,
}

impl Context {
    pub fn session(&self) -> &Session {
        &self.peer.session
    }

    /// A request to the conversations service for the socket's user, in this event's trace.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        upstream::request(self.session(), message)
    }

    /// Emits to the socket that sent the event.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, body: &T) {
        emit::to_socket(&self.peer.socket, event, body);
    }
}

/// Every client event, each with its metric handles (made once, here). Built at start-up, after the
/// metrics recorder is installed.
pub struct Table {
    entries: Vec<Box<dyn Entry>>,
}

impl Table {
    pub fn new() -> Self {
        Self {
            entries: vec![
                entry::<rooms::JoinRoom>(),
                entry::<rooms::LeaveRoom>(),
                entry::<messages::SendMessage>(),
                entry::<messages::GetMessageHistory>(),
                entry::<messages::UpdateMessage>(),
                entry::<messages::DeleteMessage>(),
                entry::<messages::MarkMessageRead>(),
                entry::<reads::MarkConversationRead>(),
                entry::<typing::StartTyping>(),
                entry::<typing::StopTyping>(),
                entry::<presence::GetOnlineUsers>(),
            ],
        }
    }

    /// Gives a socket a handler for every event; each runs through the adapter.
    pub fn attach(&self, socket: &SocketRef) {
        for entry in &self.entries {
            entry.attach(socket);
        }
    }

    /// The events' names, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|entry| entry.name()).collect()
    }
}

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

trait Entry: Send + Sync {
    fn name(&self) -> &'static str;
    fn attach(&self, socket: &SocketRef);
}

struct Registered<E> {
    meter: Arc<adapter::Meter>,
    event: PhantomData<fn() -> E>,
}

fn entry<E: ClientEvent>() -> Box<dyn Entry> {
    Box::new(Registered::<E> {
        meter: Arc::new(adapter::Meter::new(E::NAME)),
        event: PhantomData,
    })
}

impl<E: ClientEvent> Entry for Registered<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn attach(&self, socket: &SocketRef) {
        let meter = self.meter.clone();
        socket.on(
            E::NAME,
            move |socket: SocketRef,
                  TryData(raw): TryData<Json>,
                  ack: AckSender,
                  State(hub): State<Arc<Hub>>| {
                adapter::run::<E>(meter, socket, Input::from(raw), ack, hub)
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_of_the_contract_is_in_the_table_once() {
        let mut names = Table::new().names();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a name appears twice");
        assert_eq!(
            names,
            [
                "deleteMessage",
                "getMessageHistory",
                "getOnlineUsers",
                "joinRoom",
                "leaveRoom",
                "markConversationRead",
                "markMessageRead",
                "sendMessage",
                "startTyping",
                "stopTyping",
                "updateMessage",
            ]
        );
    }
}
