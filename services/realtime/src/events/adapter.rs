//! What every client event goes through, whatever it is: a span (the root of the event's trace, which the
//! gRPC calls continue), the rate-limit gate, the payload check, the handler, the metrics, and the
//! answer: the ack on success; on failure the event's error event and a failed ack, both with every
//! broken rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram};
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef};
use tracing::Instrument;

use super::{ClientEvent, Context, Input, Limit, Payload};
use crate::emit;
use crate::error::{Kind, SocketError};
use crate::hub::Hub;
use crate::session::Peer;

pub(super) async fn run<E: ClientEvent>(
    meter: Arc<Meter>,
    socket: SocketRef,
    input: Input,
    ack: AckSender,
    hub: Arc<Hub>,
) {
    // Every admitted socket has one; the handshake attaches it before any handler can run.
    let Some(peer) = Peer::of(&socket) else {
        return;
    };
    let span = tracing::info_span!(
        "socket event",
        otel.name = E::NAME,
        otel.kind = "server",
        event = E::NAME,
        user.id = %peer.user_id(),
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let outcome = async {
        gate(E::LIMIT, &peer)?;
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

/// THE RATE-LIMIT HOOK. Per-event limits (issue 9) plug in here: the event's [`ClientEvent::LIMIT`]
/// against this socket's allowance, refusing with [`SocketError::too_many_requests`] (429). No limit is
/// applied yet: every event passes.
fn gate(_limit: Option<Limit>, _peer: &Peer) -> Result<(), SocketError> {
    Ok(())
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
