//! A socket's life on this instance: admitted (its handlers attached), connected (counted: presence and
//! the socket gauge), disconnected (uncounted, out of its rooms), and the instance's own departure.
//!
//! socketioxide spawns the connect handler and the disconnect handler as separate tasks, so a client that
//! connects and leaves at once can have its disconnect handled first. Counting therefore goes through the
//! socket's [`SocketState`](crate::session::SocketState): a socket is counted only if its disconnect has
//! not run, and uncounted only if it was counted.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use junqo_proto::events::v1::{Event, Presence, event::Payload};
use socketioxide::extract::{SocketRef, State};
use socketioxide::socket::DisconnectReason;
use uuid::Uuid;

use crate::events::Table;
use crate::fanout::presence_key;
use crate::hub::Hub;
use crate::rooms::user_room;
use crate::session::{Peer, Session};

/// The second connect middleware, after the handshake: the socket gets its event handlers, its
/// disconnect handler and its user's room. It runs before the client is told it is connected
/// (socketioxide spawns the connect handler only after that), so a client emitting right on "connect"
/// finds its handlers; and a socket refused or lost before connecting is cleaned out of its rooms by
/// socketioxide itself.
pub async fn admit(socket: SocketRef, State(table): State<Arc<Table>>) -> Result<(), Infallible> {
    let Some(peer) = Peer::of(&socket) else {
        return Ok(());
    };
    table.attach(&socket);
    socket.on_disconnect(on_disconnect);
    socket.join(user_room(peer.user_id()));
    Ok(())
}

/// A socket is connected: it is counted and, if it is its user's first here, the user is announced
/// online.
pub async fn on_connect(socket: SocketRef, State(hub): State<Arc<Hub>>) {
    let Some(peer) = Peer::of(&socket) else {
        return;
    };
    if !peer.state.count_in() {
        return;
    }
    metrics::gauge!("realtime_connected_sockets").increment(1.0);
    if hub.presence.socket_connected(&peer.session) {
        announce(&hub, &peer.session).await;
    }
}

/// Uncounts the socket (announcing the user offline if it was their last here), then takes it out of
/// every room. Only infallible extractors: a failing one would skip the clean-up.
async fn on_disconnect(socket: SocketRef, State(hub): State<Arc<Hub>>, reason: DisconnectReason) {
    let Some(peer) = Peer::of(&socket) else {
        return;
    };
    tracing::debug!(user = %peer.user_id(), %reason, "socket disconnected");
    hub.tokens.forget(socket.id);
    if peer.state.count_out() {
        metrics::gauge!("realtime_connected_sockets").decrement(1.0);
        // Presence first: whoever hears the room notices below has the status change already.
        if hub.presence.socket_disconnected(peer.user_id()) {
            announce(&hub, &peer.session).await;
        }
    }
    hub.rooms.disconnect(&peer).await;
}

/// Tells every instance whether this one has the user online, as it is when published (see
/// [`crate::presence`]), and who should hear about it: the users who share a conversation with them.
async fn announce(hub: &Hub, session: &Session) {
    let audience = match hub.contacts_for_presence(session.user_id).await {
        Ok(audience) => audience,
        Err(error) => {
            tracing::warn!(%error, "cannot find who to tell about a status change");
            Vec::new()
        }
    };
    hub.presence.publish_status(session.user_id, |online| {
        let event = Event {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: None,
            conversation_id: String::new(),
            payload: Some(Payload::Presence(Presence {
                user_id: session.user_id.to_string(),
                online,
                instance_id: hub.instance_id.clone(),
                audience,
            })),
        };
        hub.fanout.publish(presence_key(session.user_id), event);
    });
}

/// On shutdown: announces offline, from this instance, every user who has a socket here, before the
/// sockets are closed (whose own disconnects then announce nothing), so a rolling restart does not leave
/// them "online" elsewhere.
pub async fn depart(hub: &Hub) {
    let sessions = hub.presence.take_local();
    let announcements = sessions.iter().map(|session| announce(hub, session));
    if tokio::time::timeout(
        Duration::from_secs(5),
        futures::future::join_all(announcements),
    )
    .await
    .is_err()
    {
        tracing::warn!("some users could not be announced offline before shutdown");
    }
    hub.fanout.flush().await;
}
