//! Filling a room's gap from the conversations service: one task per room at a time, reading pages
//! after the room's last emitted `seq` until nothing is held back and nothing more is there, each page
//! emitted (with what it made contiguous) under the room's lock.

use std::time::Duration;

use uuid::Uuid;

use super::backlog::Read;
use super::{Sequencer, SharedLog, lock};

/// Messages per read.
const PAGE: u32 = 500;
/// How long a gap may stay open before it is read from the store: events of one conversation published
/// by two conversations replicas can arrive a little out of order, and the missing one is usually just
/// behind.
pub(super) const GAP_GRACE: Duration = Duration::from_millis(150);
/// Failed reads before a gap is given up (members then see a hole in `seq`, and clients page history).
const ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// A message arrived beyond the next `seq`.
    Gap,
    /// The room was bound again after a broker reconnection: read once whatever happens.
    Rebound,
}

impl Sequencer {
    /// Starts the room's fill; the caller has set the log's `filling`.
    pub(super) fn spawn_fill(&self, room: Uuid, log: SharedLog, why: Why) {
        metrics::counter!("realtime_fills_total", "why" => match why {
            Why::Gap => "gap",
            Why::Rebound => "rebound",
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
            let after = {
                let mut guard = lock(&log);
                if guard.is_retired() || (!guard.refill && !guard.has_gap()) {
                    guard.filling = false;
                    running.ended = true;
                    return;
                }
                guard.refill = false;
                guard.last()
            };
            match self
                .inner
                .backlog
                .since(Read::Fill, room, after, PAGE)
                .await
            {
                Ok(page) => {
                    failures = 0;
                    let full = page.len() >= PAGE as usize;
                    let mut guard = lock(&log);
                    let items = guard.apply(after, &page);
                    metrics::counter!("realtime_messages_filled_total")
                        .increment(items.len() as u64);
                    self.emit(room, &log, &mut guard, &items);
                    // A full page may have more behind it.
                    guard.refill |= full;
                }
                Err(error) => {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        tracing::warn!(%room, %error, "cannot fill a gap; emitting what is held with it");
                        let mut guard = lock(&log);
                        let items = guard.give_up();
                        self.emit(room, &log, &mut guard, &items);
                        guard.filling = false;
                        running.ended = true;
                        return;
                    }
                    // The read is retried (it was refused, or the service is restarting); the next
                    // round reads from wherever the room is by then.
                    lock(&log).refill = true;
                    tokio::time::sleep(Duration::from_millis(100) * 2u32.pow(failures)).await;
                }
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
        let log: SharedLog = Arc::new(Mutex::new(RoomLog::new(0)));
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
