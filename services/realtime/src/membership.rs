//! Memberships checked again when a room's events may have been missed: a participant removed while the
//! removal event could not reach this instance (its queue was gone during a broker reconnection, or the
//! event fell in a gap) must not keep reading the conversation live.
//!
//! The sequencer names each room whose fill starts (a gap, or every hosted room after a rebinding); each
//! local socket in it is asked about again, with its own token, a few at a time, and those refused are
//! evicted as a removal event would have.

use std::sync::Arc;

use socketioxide::SocketIo;
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use crate::error::Kind;
use crate::rooms::{Rooms, conversation_room};
use crate::session::Peer;

/// Access checks in flight at once, all rooms together.
const CONCURRENT_CHECKS: usize = 8;

/// Re-checks every room named on `suspects` until it closes.
pub async fn run(mut suspects: mpsc::UnboundedReceiver<Uuid>, io: SocketIo, rooms: Rooms) {
    let permits = Arc::new(Semaphore::new(CONCURRENT_CHECKS));
    while let Some(room) = suspects.recv().await {
        let sockets = io.to(conversation_room(room)).sockets();
        for socket in sockets {
            let Some(peer) = Peer::of(&socket) else {
                continue;
            };
            let (rooms, permits) = (rooms.clone(), permits.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                recheck(&rooms, peer, room).await;
            });
        }
    }
}

async fn recheck(rooms: &Rooms, peer: Peer, room: Uuid) {
    match rooms.may_see(&peer, room).await {
        Ok(()) => {}
        // Refused: removed, the conversation deleted, or the token no longer valid (the token watch
        // closes that socket anyway).
        Err(error)
            if matches!(
                error.kind,
                Kind::NotFound | Kind::Forbidden | Kind::Unauthorized
            ) =>
        {
            metrics::counter!("realtime_sockets_evicted_on_recheck_total").increment(1);
            tracing::info!(user = %peer.user_id(), %room, "no longer a participant; evicted on re-check");
            rooms.evict(vec![peer.socket], room);
        }
        // The service is away: the socket stays (a later fill or rebinding checks again).
        Err(error) => tracing::warn!(%error, %room, "cannot re-check a membership"),
    }
}
