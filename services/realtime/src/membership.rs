//! Memberships checked again when a room's events may have been missed: a participant removed while the
//! removal event could not reach this instance (its queue was gone during a broker reconnection, or the
//! event fell in a gap) must not keep reading the conversation live.
//!
//! The sequencer names each room whose events may have been missed (a gap still open after its grace, or
//! every hosted room after a rebinding); each local socket in it is asked about again, with its own
//! token, a few at a time, and those refused are evicted as a removal event would have. The sockets
//! catching up on the room (draining after an overflow, or replaying on a resumed join) are out of the
//! socketioxide room but read it: the room's log lists them, and they are checked as well; one evicted
//! stops catching up and does not join the room at the end. A room named
//! again while its re-check still waits for its turn is checked once: that check asks after both.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use crate::error::Kind;
use crate::rooms::Rooms;
use crate::sequencer::Sequencer;
use crate::session::Peer;

/// Access checks in flight at once, all rooms together.
const CONCURRENT_CHECKS: usize = 8;

/// Re-checks every room named on `suspects` until it closes, or the sequencer does (shutdown).
pub async fn run(mut suspects: mpsc::UnboundedReceiver<Uuid>, rooms: Rooms, sequencer: Sequencer) {
    let permits = Arc::new(Semaphore::new(CONCURRENT_CHECKS));
    let queued = Queued::default();
    while let Some(room) = suspects.recv().await {
        if !queued.add(room) {
            metrics::counter!("realtime_rechecks_merged_total").increment(1);
            continue;
        }
        let (rooms, sequencer) = (rooms.clone(), sequencer.clone());
        let (permits, queued) = (permits.clone(), queued.clone());
        // One task per queued room, and one check task per permit: what waits is bounded by the rooms.
        tokio::spawn(async move {
            let Ok(first) = permits.clone().acquire_owned().await else {
                return;
            };
            let mut first = Some(first);
            // From here a new suspicion needs a new check: the sockets are listed below.
            queued.remove(room);
            if sequencer.is_closed() {
                // The namespace is closing: using it would panic, and every socket goes anyway.
                return;
            }
            // With those catching up: out of the socketioxide room, they read it all the same.
            let sockets = sequencer.readers(room);
            for peer in sockets.iter().filter_map(Peer::of) {
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => match permits.clone().acquire_owned().await {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                let rooms = rooms.clone();
                tokio::spawn(async move {
                    recheck(&rooms, peer, room).await;
                    drop(permit);
                });
            }
        });
    }
}

/// The rooms whose re-check waits for a permit.
#[derive(Clone, Default)]
struct Queued(Arc<Mutex<HashSet<Uuid>>>);

impl Queued {
    /// False when the room is queued already.
    fn add(&self, room: Uuid) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(room)
    }

    fn remove(&self, room: Uuid) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&room);
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
