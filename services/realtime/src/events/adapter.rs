//! What every client event goes through, whatever it is: a span (the root of the event's trace, which the
//! gRPC calls continue), the rate-limit gate, the payload check, the handler, the metrics, and the
//! answer: the ack on success; on failure the event's error event and a failed ack, both with every
//! broken rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use platform::rate::KeyedLimiter;
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::socket::Sid;
use tracing::Instrument;
use uuid::Uuid;

use super::{ClientEvent, Context, Input, Payload, Per};
use crate::emit;
use crate::error::{Kind, SocketError};
use crate::hub::Hub;
use crate::session::Peer;

pub(super) async fn run<E: ClientEvent>(
    meter: Arc<Meter>,
    gate: Arc<Gate>,
    socket: SocketRef,
    input: Input,
    ack: AckSender,
    hub: Arc<Hub>,
) {
    // Every admitted socket has one; the handshake attaches it before any handler can run.
    let Some(peer) = Peer::of(&socket) else {
        return;
    };
    // None when spans are not exported: a span per event costs the registry an allocation and its
    // formatted fields, for context only a rare log line inside the handler would show.
    let span = if platform::trace::exporting() {
        tracing::info_span!(
            "socket event",
            otel.name = E::NAME,
            otel.kind = "server",
            event = E::NAME,
            user.id = %peer.user_id(),
            status = tracing::field::Empty,
        )
    } else {
        tracing::Span::none()
    };
    let started = Instant::now();
    let outcome = async {
        gate.check(&peer, &input)?;
        let payload = E::Payload::parse(&input)?;
        E::handle(
            Context {
                hub,
                peer: peer.clone(),
            },
            payload,
        )
        .await
    }
    .instrument(span.clone())
    .await;
    let status = outcome.as_ref().err().map(|error| error.kind);
    span.record("status", status.map_or(200, Kind::status));
    meter.record(status, started.elapsed());
    answer(&socket, ack, E::ERROR_EVENT, outcome);
}

/// Counts per user and conversation (the nil id when the limit is per user).
pub(super) type UserLimiter = KeyedLimiter<(Uuid, Uuid)>;

/// One event's rate limit. Each event counts apart; all sockets of a user on this instance share its
/// count (keyed by user, or by user and conversation), so opening more sockets buys no more. A refused
/// event gets a 429 with `retryAfterMs`, and the connection stays open, unless the socket is flooding:
/// refused faster than `SOCKET_FLOOD_REFUSALS` allows (all events together, per socket), which only a
/// client ignoring every 429 reaches. That socket is disconnected.
pub(super) struct Gate {
    /// `None`: the event has no limit, or rate limits are off.
    pub(super) limiter: Option<(Arc<UserLimiter>, Per)>,
    pub(super) flood: Option<Arc<KeyedLimiter<Sid>>>,
}

impl Gate {
    fn check(&self, peer: &Peer, input: &Input) -> Result<(), SocketError> {
        let Some((limiter, per)) = &self.limiter else {
            return Ok(());
        };
        let scope = match per {
            Per::User => Uuid::nil(),
            // Read before the payload is checked, so that malformed events count too; one without a
            // valid id counts under the nil id.
            Per::Conversation => input
                .fields_or_none()
                .and_then(|fields| fields.get("conversationId"))
                .and_then(|id| id.as_str())
                .and_then(|id| id.parse().ok())
                .unwrap_or_else(Uuid::nil),
        };
        let Err(wait) = limiter.check(&(peer.user_id(), scope)) else {
            return Ok(());
        };
        if let Some(flood) = &self.flood
            && flood.check(&peer.socket.id).is_err()
        {
            disconnect_flooding(peer);
        }
        Err(SocketError::too_many_requests(wait))
    }
}

fn disconnect_flooding(peer: &Peer) {
    metrics::counter!("realtime_sockets_flooding_total").increment(1);
    tracing::info!(user = %peer.user_id(), sid = %peer.socket.id, "a socket keeps flooding past its limits; disconnecting it");
    // A full outgoing buffer refuses the disconnect packet; the emit layer then handles it as lagging.
    if let Err(error) = peer.socket.clone().disconnect() {
        tracing::debug!(%error, "the flooding socket was already going");
    }
}

fn answer(
    socket: &SocketRef,
    ack: AckSender,
    error_event: &'static str,
    outcome: Result<Value, SocketError>,
) {
    match outcome {
        Ok(value) => emit::ack(socket, ack, &value),
        Err(error) => {
            emit::to_socket(socket, error_event, &error.event_payload());
            emit::ack(socket, ack, &error.ack_payload());
        }
    }
}

/// One event's metric handles, made once: counting and timing an event allocates nothing and looks
/// nothing up. `realtime_socket_events_total{event,status}` and
/// `realtime_socket_event_duration_seconds{event}`.
pub(super) struct Meter {
    duration: Histogram,
    succeeded: Counter,
    /// One per [`Kind::ALL`], in that order.
    failed: Vec<Counter>,
}

impl Meter {
    pub(super) fn new(event: &'static str) -> Self {
        let counter = |status: u16| metrics::counter!("realtime_socket_events_total", "event" => event, "status" => status.to_string());
        Self {
            duration: metrics::histogram!("realtime_socket_event_duration_seconds", "event" => event),
            succeeded: counter(200),
            failed: Kind::ALL
                .iter()
                .map(|kind| counter(kind.status()))
                .collect(),
        }
    }

    fn record(&self, failure: Option<Kind>, elapsed: Duration) {
        let counter = match failure {
            None => Some(&self.succeeded),
            Some(kind) => Kind::ALL
                .iter()
                .position(|k| *k == kind)
                .and_then(|i| self.failed.get(i)),
        };
        if let Some(counter) = counter {
            counter.increment(1);
        }
        self.duration.record(elapsed.as_secs_f64());
    }
}
