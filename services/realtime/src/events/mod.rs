//! The client events of the default namespace: one descriptor per event, listed in one [`Table`], and
//! one adapter (`adapter.rs`) that runs them all.
//!
//! A descriptor ([`ClientEvent`]) holds everything particular to an event: its name (written nowhere
//! else), its error event, its payload (a type that exists only when every rule holds: [`Payload`]), an
//! optional per-user rate limit, and its handler, which reads as the business rule. The adapter does
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

use futures::future::BoxFuture;
use platform::rate::KeyedLimiter;
use serde::Serialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, Event, SocketRef, State, TryData};
use socketioxide::socket::Sid;

use crate::config::SocketLimits;
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
    /// How often one user may send it; `None`: as often as they like. Read by the adapter's gate.
    const LIMIT: Option<Limit> = None;

    type Payload: Payload;

    /// Does what the event asks; the value is the ack's payload.
    fn handle(
        cx: Context,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Value, SocketError>> + Send;
}

/// An event's rate limit: the variable that sets its rate (one of [`crate::config::EVENT_RATES`]) and
/// what it counts. Every socket of a user on this instance shares the count; each event counts apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate: &'static str,
    pub per: Per,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    User,
    /// Per user and conversation (the payload's `conversationId`).
    Conversation,
}

impl Limit {
    pub const fn per_user(rate: &'static str) -> Option<Self> {
        Some(Self {
            rate,
            per: Per::User,
        })
    }

    pub const fn per_conversation(rate: &'static str) -> Option<Self> {
        Some(Self {
            rate,
            per: Per::Conversation,
        })
    }
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
    /// Every event, each with its rate limit as `limits` sets it. Spawns the limiters' clean-up, so it
    /// runs within a Tokio runtime.
    pub fn new(limits: &SocketLimits) -> Self {
        let flood = limits.flood.map(KeyedLimiter::new);
        let gates = Gates { limits, flood };
        Self {
            entries: vec![
                entry::<rooms::JoinRoom>(&gates),
                entry::<rooms::LeaveRoom>(&gates),
                entry::<messages::SendMessage>(&gates),
                entry::<messages::GetMessageHistory>(&gates),
                entry::<messages::UpdateMessage>(&gates),
                entry::<messages::DeleteMessage>(&gates),
                entry::<messages::MarkMessageRead>(&gates),
                entry::<reads::MarkConversationRead>(&gates),
                entry::<typing::StartTyping>(&gates),
                entry::<typing::StopTyping>(&gates),
                entry::<presence::GetOnlineUsers>(&gates),
            ],
        }
    }

    /// Gives a socket its handler of client events: one for every event (socketioxide's fallback, which
    /// sees every event), which finds the event's entry and runs it through the adapter. One handler
    /// rather than one per event: socketioxide keeps a socket's handlers with the socket, and eleven of
    /// them (a map and a box each) were a kilobyte of every idle socket. An event of no entry is ignored,
    /// as it was without a handler.
    pub fn attach(self: &Arc<Self>, socket: &SocketRef) {
        let table = self.clone();
        socket.on_fallback(
            move |socket: SocketRef,
                  Event(name): Event,
                  TryData(raw): TryData<Json>,
                  ack: AckSender,
                  State(hub): State<Arc<Hub>>| {
                let run = table
                    .entry(&name)
                    .map(|entry| entry.run(socket, Input::from(raw), ack, hub));
                async move {
                    if let Some(run) = run {
                        run.await;
                    }
                }
            },
        );
    }

    fn entry(&self, name: &str) -> Option<&dyn Entry> {
        self.entries
            .iter()
            .find(|entry| entry.name() == name)
            .map(Box::as_ref)
    }

    /// The events' names, in table order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|entry| entry.name()).collect()
    }
}

/// What building each event's gate needs.
struct Gates<'a> {
    limits: &'a SocketLimits,
    flood: Option<Arc<KeyedLimiter<Sid>>>,
}

trait Entry: Send + Sync {
    fn name(&self) -> &'static str;
    /// The event, through the adapter.
    fn run(
        &self,
        socket: SocketRef,
        input: Input,
        ack: AckSender,
        hub: Arc<Hub>,
    ) -> BoxFuture<'static, ()>;
}

struct Registered<E> {
    meter: Arc<adapter::Meter>,
    gate: Arc<adapter::Gate>,
    event: PhantomData<fn() -> E>,
}

fn entry<E: ClientEvent>(gates: &Gates<'_>) -> Box<dyn Entry> {
    let limiter = E::LIMIT.and_then(|limit| {
        let rate = gates.limits.event_rate(limit.rate)?;
        Some((KeyedLimiter::new(rate), limit.per))
    });
    Box::new(Registered::<E> {
        meter: Arc::new(adapter::Meter::new(E::NAME)),
        gate: Arc::new(adapter::Gate {
            limiter,
            flood: gates.flood.clone(),
        }),
        event: PhantomData,
    })
}

impl<E: ClientEvent> Entry for Registered<E> {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn run(
        &self,
        socket: SocketRef,
        input: Input,
        ack: AckSender,
        hub: Arc<Hub>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(adapter::run::<E>(
            self.meter.clone(),
            self.gate.clone(),
            socket,
            input,
            ack,
            hub,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SocketLimits {
        SocketLimits::from_env(&platform::Env::default()).expect("defaults")
    }

    #[tokio::test]
    async fn every_event_of_the_contract_is_in_the_table_once() {
        let mut names = Table::new(&defaults()).names();
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

    #[test]
    fn every_limit_names_a_rate_variable() {
        let limits = defaults();
        for limit in [
            rooms::JoinRoom::LIMIT,
            rooms::LeaveRoom::LIMIT,
            messages::SendMessage::LIMIT,
            messages::GetMessageHistory::LIMIT,
            messages::UpdateMessage::LIMIT,
            messages::DeleteMessage::LIMIT,
            messages::MarkMessageRead::LIMIT,
            reads::MarkConversationRead::LIMIT,
            typing::StartTyping::LIMIT,
            typing::StopTyping::LIMIT,
            presence::GetOnlineUsers::LIMIT,
        ]
        .into_iter()
        .flatten()
        {
            assert!(limits.event_rate(limit.rate).is_some(), "{limit:?}");
        }
    }
}
