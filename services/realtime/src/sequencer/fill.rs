//! Filling a room's gap from the conversations service: one task per room at a time, reading the
//! stored events after the room's last `event_seq` until nothing is held back and nothing more is there,
//! each page applied (with what it made contiguous) under the room's lock. When the events are not kept
//! any more, or not served (an older conversations build), the room falls back to its messages: read
//! after its last `seq`, the room's memberships checked again (a removal may be among what is lost),
//! and it continues from the conversation's latest event. A gap in unnumbered messages (an older build)
//! is filled from the messages only.

use std::time::Duration;

use uuid::Uuid;

use super::backlog::{Events, Read};
use super::{Sequencer, SharedLog, lock};
use crate::error::SocketError;

/// Events (or messages) per read.
const PAGE: u32 = 500;
/// How long a gap may stay open before it is read from the store: events of one conversation published
/// by two conversations replicas can arrive a little out of order, and the missing one is usually just
/// behind.
pub(super) const GAP_GRACE: Duration = Duration::from_millis(150);
/// Failed reads (or reads that left the gap as it was) before a gap is given up (members then see a
/// hole in `seq`, and clients page history).
const ATTEMPTS: u32 = 8;
/// How long a fill from the messages waits for the room's readers to be checked again first: bounded,
/// so that a conversations service too slow to answer the checks delays the room, never stops it.
const RECHECK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// An event arrived beyond the next one.
    Gap,
    /// The room was bound again after a broker reconnection: read once whatever happens.
    Rebound,
    /// The room was just bound, and events were committed between its first access check and the
    /// binding: read once.
    Bound,
}

/// Why a room fell back to its messages.
#[derive(Debug, Clone, Copy)]
enum Fallback {
    /// Some of the events asked for are no longer kept.
    Incomplete,
    /// The conversations service does not serve events (an older build).
    NotServed,
}

impl Sequencer {
    /// Starts the room's fill; the caller has set the log's `filling`.
    pub(super) fn spawn_fill(&self, room: Uuid, log: SharedLog, why: Why) {
        metrics::counter!("realtime_fills_total", "why" => match why {
            Why::Gap => "gap",
            Why::Rebound => "rebound",
            Why::Bound => "bound",
        })
        .increment(1);
        let sequencer = self.clone();
        tokio::spawn(async move { sequencer.fill(room, log, why).await });
    }

    async fn fill(self, room: Uuid, log: SharedLog, why: Why) {
        let mut running = Running {
            log: log.clone(),
            ended: false,
        };
        if why == Why::Gap {
            tokio::time::sleep(GAP_GRACE).await;
            // Still open: whatever is missing may include a participant's removal (`refill_all` names
            // every room itself). A reordering that closed within the grace suspects nobody.
            if lock(&log).has_gap() {
                self.suspect(room);
            }
        }
        let mut failures = 0;
        loop {
            let (events, before) = {
                let mut guard = lock(&log);
                if guard.is_retired() || (!guard.refill && !guard.has_gap()) {
                    guard.filling = false;
                    running.ended = true;
                    return;
                }
                // Only unnumbered messages held (an older build): their gap is in the messages.
                let events = guard.has_held_events() || !guard.has_gap();
                guard.refill = false;
                (events, (guard.last_event(), guard.last()))
            };
            let read = if events {
                self.fill_events(room, &log, before.0).await
            } else {
                self.fill_messages(room, &log).await
            };
            let moved = {
                let guard = lock(&log);
                (guard.last_event(), guard.last()) != before || !guard.has_gap()
            };
            let error = match read {
                Ok(()) if moved => {
                    failures = 0;
                    continue;
                }
                // The store does not have what is held yet: read again, in a moment.
                Ok(()) => SocketError::internal(),
                Err(error) => error,
            };
            failures += 1;
            if failures >= ATTEMPTS {
                tracing::warn!(%room, %error, "cannot fill a gap; applying what is held with it");
                let mut guard = lock(&log);
                let effects = guard.give_up();
                self.emit(room, &log, &mut guard, &effects);
                guard.filling = false;
                running.ended = true;
                return;
            }
            // The read is retried (it was refused, or the service is restarting); the next round reads
            // from wherever the room is by then.
            lock(&log).refill = true;
            tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(failures)).await;
        }
    }

    /// Reads and applies the stored events after `after`, page by page; falls back to the messages when
    /// they are not kept or not served.
    async fn fill_events(
        &self,
        room: Uuid,
        log: &SharedLog,
        mut after: i64,
    ) -> Result<(), SocketError> {
        loop {
            let page = match self.inner.backlog.events_since(room, after, PAGE).await? {
                Events::Complete(page) => page,
                Events::Incomplete { latest } => {
                    return self
                        .fall_back(room, log, Fallback::Incomplete, Some(latest))
                        .await;
                }
                Events::NotServed => {
                    return self.fall_back(room, log, Fallback::NotServed, None).await;
                }
            };
            // A full page may have more behind it.
            let full = page.len() >= PAGE as usize;
            let mut guard = lock(log);
            let effects = guard.apply_events(after, page);
            metrics::counter!("realtime_events_filled_total").increment(effects.len() as u64);
            self.emit(room, log, &mut guard, &effects);
            if !full || guard.is_retired() {
                return Ok(());
            }
            after = guard.last_event();
        }
    }

    /// The room's events cannot be read: its messages are (nothing lost there), its memberships checked
    /// again, and it continues from `latest`, the conversation's latest event (unknown when not served).
    async fn fall_back(
        &self,
        room: Uuid,
        log: &SharedLog,
        why: Fallback,
        latest: Option<i64>,
    ) -> Result<(), SocketError> {
        metrics::counter!("realtime_sequencer_fallbacks_total", "why" => match why {
            Fallback::Incomplete => "incomplete",
            Fallback::NotServed => "not_served",
        })
        .increment(1);
        tracing::info!(%room, ?why, "events not readable; filling the room from its messages");
        // A removal may be among the events that cannot be read: the room's readers are checked, and
        // those refused evicted, before messages they may no longer see are emitted to the room.
        self.suspect_and_wait(room, RECHECK_WAIT).await;
        self.fill_messages(room, log).await?;
        let mut guard = lock(log);
        let effects = guard.continue_from(latest);
        self.emit(room, log, &mut guard, &effects);
        Ok(())
    }

    /// Reads and emits the messages after the room's last `seq`, page by page.
    async fn fill_messages(&self, room: Uuid, log: &SharedLog) -> Result<(), SocketError> {
        loop {
            let after = lock(log).last();
            let page = self
                .inner
                .backlog
                .since(Read::Fill, room, after, PAGE)
                .await?;
            let full = page.len() >= PAGE as usize;
            let mut guard = lock(log);
            let effects = guard.apply(after, &page);
            metrics::counter!("realtime_messages_filled_total").increment(effects.len() as u64);
            self.emit(room, log, &mut guard, &effects);
            if !full || guard.is_retired() {
                return Ok(());
            }
        }
    }
}

/// A fill task in progress. Ended otherwise than by its own return (a panic, the runtime shutting
/// down), it clears the room's `filling`, so that the next gap starts a fill again; its own return
/// clears it under the lock where it decided to stop (clearing it later could clear a newer fill's).
struct Running {
    log: SharedLog,
    ended: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.ended {
            lock(&self.log).filling = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::log::RoomLog;
    use super::*;

    #[test]
    fn a_fill_ended_by_a_panic_lets_the_next_gap_start_one() {
        let log: SharedLog = Arc::new(Mutex::new(RoomLog::new(0, 0)));
        lock(&log).filling = true;
        let panicked = std::panic::catch_unwind(|| {
            let _running = Running {
                log: log.clone(),
                ended: false,
            };
            panic!("a fill fails");
        });
        assert!(panicked.is_err());
        assert!(!lock(&log).filling);

        // A fill that returned leaves `filling` to whoever set it since.
        lock(&log).filling = true;
        drop(Running {
            log: log.clone(),
            ended: true,
        });
        assert!(lock(&log).filling);
    }
}
