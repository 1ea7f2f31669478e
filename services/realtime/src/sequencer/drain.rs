//! A socket catching up: out of the room's broadcasts, it is sent a queue of events, then what the room
//! was sent meanwhile (its buffer in the room's log), as fast as it reads, and then joins the room again
//! under the room's lock, so it misses nothing and gets nothing twice.
//!
//! A socket's outgoing buffer holds 64 packets: when it is full, the lock is released and the task waits
//! a moment. A client that reads nothing for 10 s, or falls 5,000 events behind, is disconnected like any
//! that cannot keep up (`emit.rs`); it resumes with `afterSeq`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use socketioxide::extract::SocketRef;
use uuid::Uuid;

use super::log::Item;
use super::{Sequencer, SharedLog, lock};
use crate::emit::{self, Full};
use crate::session::conversation_room;

/// How long a socket may read nothing while catching up.
const STALLED: Duration = Duration::from_secs(10);
/// Most events a socket may be behind while catching up.
const MAX_BEHIND: usize = 5_000;
/// The wait before trying again a socket whose outgoing buffer is full.
const BACKOFF: Duration = Duration::from_millis(2);

/// How catching up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Drained {
    /// In the room again; `latest` is the room's last `seq` as it entered: every later message reaches
    /// it live, and it was sent every one up to it after the `seq` given at the start.
    Joined { latest: i64 },
    /// It could not keep up, and is being disconnected.
    Dropped,
    /// It left the room meanwhile (evicted, disconnected): it does not join again.
    Left,
}

impl Sequencer {
    /// Sends `queue`, then the socket's buffer, skipping messages at or below `last_sent`; then puts the
    /// socket in the room. The socket is registered as catching up in `log`.
    pub(super) async fn drain(
        &self,
        room: Uuid,
        log: &SharedLog,
        socket: &SocketRef,
        mut queue: VecDeque<Item>,
        mut last_sent: i64,
    ) -> Drained {
        let mut progress = Instant::now();
        loop {
            {
                let mut guard = lock(log);
                if !guard.is_catching_up(socket.id) {
                    return Drained::Left;
                }
                queue.extend(guard.take_buffer(socket.id));
                let before = queue.len();
                if before <= MAX_BEHIND {
                    if send(socket, &mut queue, &mut last_sent).is_ok() {
                        guard.end_catch_up(socket.id);
                        socket.join(conversation_room(room));
                        return Drained::Joined {
                            latest: guard.last(),
                        };
                    }
                    if queue.len() < before {
                        progress = Instant::now();
                    }
                }
                if before > MAX_BEHIND || progress.elapsed() > STALLED {
                    guard.end_catch_up(socket.id);
                    emit::overflowed(socket);
                    return Drained::Dropped;
                }
            }
            tokio::time::sleep(BACKOFF).await;
        }
    }
}

/// Sends the queue in order, skipping messages at or below what was sent; stops when the socket's
/// outgoing buffer is full.
fn send(socket: &SocketRef, queue: &mut VecDeque<Item>, last_sent: &mut i64) -> Result<(), Full> {
    while let Some(item) = queue.front() {
        match item.seq {
            Some(seq) if seq <= *last_sent => {}
            seq => {
                emit::try_to_socket(socket, item.name, &*item.body)?;
                if let Some(seq) = seq {
                    *last_sent = seq;
                }
            }
        }
        queue.pop_front();
    }
    Ok(())
}
