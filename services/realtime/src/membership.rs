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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::error::Kind;
use crate::rooms::Rooms;
use crate::sequencer::{Sequencer, Suspect};
use crate::session::Peer;

/// Access checks in flight at once, all rooms together.
const CONCURRENT_CHECKS: usize = 8;

/// Re-checks every room named on `suspects` until it closes, or the sequencer does (shutdown).
pub async fn run(
    mut suspects: mpsc::UnboundedReceiver<Suspect>,
    rooms: Rooms,
    sequencer: Sequencer,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENT_CHECKS));
    let queued = Queued::default();
    while let Some(Suspect { room, checked }) = suspects.recv().await {
        if !queued.add(room, checked) {
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
            // From here a new suspicion needs a new check: the sockets are listed below. Those waiting
            // are told when every check below has ended (or, dropped unanswered, on any return).
            let waiting = queued.remove(room);
            if sequencer.is_closed() {
                // The namespace is closing: using it would panic, and every socket goes anyway.
                return;
            }
            // With those catching up: out of the socketioxide room, they read it all the same.
            let sockets = sequencer.readers(room);
            let mut checks = Vec::with_capacity(sockets.len());
            for peer in sockets.iter().filter_map(Peer::of) {
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => match permits.clone().acquire_owned().await {
                        Ok(permit) => permit,
                        Err(_) => return,
                    },
                };
                let rooms = rooms.clone();
                checks.push(tokio::spawn(async move {
                    recheck(&rooms, peer, room).await;
                    drop(permit);
                }));
            }
            for check in checks {
                let _ = check.await;
            }
            for checked in waiting {
                let _ = checked.send(());
            }
        });
    }
}

/// The rooms whose re-check waits for a permit, with whoever waits for that re-check to end.
#[derive(Clone, Default)]
struct Queued(Arc<Mutex<HashMap<Uuid, Vec<oneshot::Sender<()>>>>>);

impl Queued {
    /// False when the room is queued already (`checked` then waits for that queued check).
    fn add(&self, room: Uuid, checked: Option<oneshot::Sender<()>>) -> bool {
        let mut queued = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let new = !queued.contains_key(&room);
        let waiting = queued.entry(room).or_default();
        waiting.extend(checked);
        new
    }

    /// Takes the room off the queue, with those waiting for its check.
    fn remove(&self, room: Uuid) -> Vec<oneshot::Sender<()>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&room)
            .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn everyone_waiting_on_a_merged_recheck_is_told_when_it_ends() {
        let queued = Queued::default();
        let room = Uuid::new_v4();
        let (first, first_done) = oneshot::channel();
        let (second, second_done) = oneshot::channel();
        assert!(
            queued.add(room, Some(first)),
            "the first suspicion queues a check"
        );
        assert!(!queued.add(room, None), "a plain suspicion merges into it");
        assert!(!queued.add(room, Some(second)), "so does a waiting one");
        let waiting = queued.remove(room);
        assert_eq!(waiting.len(), 2);
        assert!(
            queued.add(room, None),
            "once taken, a new suspicion needs a new check"
        );
        for checked in waiting {
            checked.send(()).expect("the waiter listens");
        }
        assert!(first_done.await.is_ok() && second_done.await.is_ok());
    }
}
