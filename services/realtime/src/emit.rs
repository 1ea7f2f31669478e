//! Everything sent to a client goes through here, so a client that cannot keep up is noticed.
//!
//! A socket buffers a bounded number of outgoing packets. A client that reads slower than its rooms talk
//! fills the buffer, and the next packet for it is refused: it has missed that packet. Rather than let it
//! carry on past a hole it cannot see, it is taken out of every room at once (so nothing after the hole
//! reaches it) and disconnected; the client reconnects and rejoins with `afterSeq`. A batch of events
//! (a fill, a replay) instead waits for the reader: [`try_to_socket`] tells the sequencer the buffer is
//! full, and it sends the rest as the client reads.

use std::time::Duration;

use serde::Serialize;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::{SendError, SocketError};

use crate::session::SocketState;

/// How often a lagging socket's disconnect is tried again while its buffer is still full.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);

/// One event to one socket.
pub fn to_socket<T: Serialize + ?Sized>(socket: &SocketRef, event: &str, body: &T) {
    if let Err(error) = socket.emit(event, body) {
        refused(socket, event, error);
    }
}

/// The socket's outgoing buffer is full: the packet was not queued.
#[derive(Debug)]
pub struct Full;

/// One event to one socket that may wait for room in its buffer (a replay): a full buffer is told to the
/// caller, which tries again later, instead of counting as a missed packet.
pub fn try_to_socket<T: Serialize + ?Sized>(
    socket: &SocketRef,
    event: &str,
    body: &T,
) -> Result<(), Full> {
    match socket.emit(event, body) {
        Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Full),
        Err(error) => {
            refused(socket, event, error);
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

/// One event to many sockets, serialized once. Each socket is sent to on its own (rather than with a
/// room broadcast) so that the one whose buffer is full is known.
pub fn to_sockets<T: Serialize + ?Sized>(sockets: &[SocketRef], event: &str, body: &T) {
    if sockets.is_empty() {
        return;
    }
    let raw = match serde_json::value::to_raw_value(body) {
        Ok(raw) => raw,
        Err(error) => {
            tracing::error!(%error, event, "an event could not be serialized");
            return;
        }
    };
    for socket in sockets {
        to_socket(socket, event, &*raw);
    }
}

/// The answer to an event, if the client asked for one.
pub fn ack<T: Serialize + ?Sized>(socket: &SocketRef, ack: AckSender, body: &T) {
    if let Err(error) = ack.send(body) {
        refused(socket, "ack", error);
    }
}

fn refused(socket: &SocketRef, event: &str, error: SendError) {
    match error {
        SendError::Socket(SocketError::InternalChannelFull) => overflowed(socket),
        // Gone, or not connected yet: nothing was missed that it could have had.
        SendError::Socket(SocketError::Closed) => {}
        SendError::Serialize(error) => {
            tracing::error!(%error, event, "an event could not be serialized");
        }
    }
}

/// The socket missed a packet (or reads nothing at all): out of every room now, then disconnected.
pub fn overflowed(socket: &SocketRef) {
    let first = socket
        .extensions
        .get::<SocketState>()
        .is_none_or(|state| state.mark_lagging());
    if !first {
        return;
    }
    metrics::counter!("realtime_sockets_overflowed_total").increment(1);
    tracing::info!(sid = %socket.id, "a socket's outgoing buffer is full; disconnecting it");
    // Its own bookkeeping (presence, room counts, notices) is done by its disconnect handler.
    socket.leave_all();
    let socket = socket.clone();
    tokio::spawn(async move {
        // The disconnect packet needs room in that same full buffer: it is tried until the client has
        // read some, or until the transport is gone (the heartbeat, which needs room too, closes a
        // client that reads nothing).
        while let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
            tokio::time::sleep(DISCONNECT_RETRY).await;
        }
    });
}
