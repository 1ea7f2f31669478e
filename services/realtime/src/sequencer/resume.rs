//! A socket joining with `afterSeq`: it is replayed every message with `seq > afterSeq`, oldest first,
//! then what the room was sent meanwhile, and only then joins the room, all as one sequence with no
//! message missed or repeated.
//!
//! The socket is registered as catching up (out of the socketioxide room, with a buffer that receives a
//! copy of every event the room is sent) before the room is bound and the backlog read. The read page
//! is applied to the room's log first (what the room had not emitted yet is emitted to it now, so its
//! live copy will be dropped), and the socket is replayed the page up to the room's last `seq`, then its
//! buffer, skipping messages already replayed, and joins the room (`drain.rs`).

use std::collections::VecDeque;

use socketioxide::extract::SocketRef;
use uuid::Uuid;

use super::backlog::Read;
use super::drain::Drained;
use super::log::{Item, RoomLog};
use super::{Sequencer, SharedLog, lock};
use crate::session::conversation_room;

/// Most messages replayed to a rejoining socket; beyond, it is told `resyncRequired`.
pub const MAX_REPLAY: i64 = 1000;

/// How a resumed join went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// Replayed; the socket is in the room. `latest_seq` is the room's last `seq` as it entered: it was
    /// sent every message up to it after `afterSeq`, and every later one reaches it live.
    Replayed { latest_seq: i64 },
    /// Too much is missing (or it could not be read): the client pages the history up to `latest_seq`,
    /// the room's last `seq` as the socket entered it; every later message reaches it live.
    ResyncRequired { latest_seq: i64 },
}

/// A socket catching up on a room. Dropped before it finished (an error, a panic), the socket still
/// ends up in the room it was counted in.
pub struct CatchUp {
    sequencer: Sequencer,
    room: Uuid,
    log: SharedLog,
    socket: SocketRef,
    finished: bool,
}

impl Sequencer {
    /// Starts buffering the room's events for the socket, and takes it out of the room's broadcasts.
    /// `None` if the room is not hosted (the caller hosts it first).
    pub fn begin_catch_up(&self, room: Uuid, socket: &SocketRef) -> Option<CatchUp> {
        let log = self.log(room)?;
        {
            let mut guard = lock(&log);
            guard.start_catch_up(socket.id);
            socket.leave(conversation_room(room));
        }
        Some(CatchUp {
            sequencer: self.clone(),
            room,
            log,
            socket: socket.clone(),
            finished: false,
        })
    }
}

impl CatchUp {
    /// Replays the messages after `after`, then the buffer, then puts the socket in the room.
    pub async fn replay(mut self, after: i64) -> Resumed {
        let limit = u32::try_from(MAX_REPLAY).unwrap_or(u32::MAX);
        let page = match self
            .sequencer
            .inner
            .backlog
            .since(Read::Replay, self.room, after, limit)
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(room = %self.room, %error, "cannot read what a rejoining socket missed");
                let latest_seq = self.enter(&mut lock(&self.log));
                self.finished = true;
                return Resumed::ResyncRequired { latest_seq };
            }
        };
        let queue: VecDeque<Item> = {
            let mut guard = lock(&self.log);
            // What the room had not emitted yet is emitted now (its live copy will be a duplicate).
            let effects = guard.apply(after, &page);
            self.sequencer
                .emit(self.room, &self.log, &mut guard, &effects);
            let upto = guard.last();
            let capped = page.len() >= MAX_REPLAY as usize;
            if capped && page.last().is_some_and(|(seq, _)| *seq < upto) {
                // More than a replay's worth by now: the page does not reach the room's sequence.
                let latest_seq = self.enter(&mut guard);
                drop(guard);
                self.finished = true;
                return Resumed::ResyncRequired { latest_seq };
            }
            page.iter()
                .filter(|(seq, _)| *seq <= upto)
                .map(|(seq, body)| Item::message(*seq, body.clone()))
                .collect()
        };
        metrics::counter!("realtime_messages_replayed_total").increment(queue.len() as u64);
        let drained = self
            .sequencer
            .drain(self.room, &self.log, &self.socket, queue, after)
            .await;
        self.finished = true;
        match drained {
            Drained::Joined { latest } => Resumed::Replayed { latest_seq: latest },
            // Being disconnected, or gone: nothing more to tell it.
            Drained::Dropped | Drained::Left => Resumed::Replayed { latest_seq: after },
        }
    }

    /// Stops catching up and enters the room's broadcasts, under the room's lock (`guard`, of this
    /// log): what it buffered is dropped, so the room's last `seq` now is where the client's history
    /// must reach; every later message reaches it live.
    fn enter(&self, guard: &mut RoomLog) -> i64 {
        join_unless_evicted(guard, &self.socket, self.room);
        guard.last()
    }
}

impl CatchUp {
    /// The socket will not join the room after all: it stops catching up, and stays out.
    pub fn abandon(mut self) {
        lock(&self.log).end_catch_up(self.socket.id);
        self.finished = true;
    }
}

impl Drop for CatchUp {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        join_unless_evicted(&mut lock(&self.log), &self.socket, self.room);
    }
}

/// Ends the socket's catching up and puts it in the room, under the room's lock (`guard`), unless it
/// stopped catching up meanwhile: evicted (a removal, a membership re-check) or gone, it stays out.
fn join_unless_evicted(guard: &mut RoomLog, socket: &SocketRef, room: Uuid) {
    if guard.is_catching_up(socket.id) {
        guard.end_catch_up(socket.id);
        socket.join(conversation_room(room));
    }
}
