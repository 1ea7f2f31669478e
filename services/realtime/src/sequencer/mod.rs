//! Per hosted room, the order and completeness of what its members receive: the one place that emits a
//! conversation's events to its room.
//!
//! Each room this instance hosts has a [`log::RoomLog`]: the highest `seq` emitted, the messages that
//! arrived ahead of a gap, and the sockets replaying what they missed. A message event with the next
//! `seq` is emitted; one already emitted is dropped; one beyond a gap is held while a fill reads the
//! missing ones from the conversations service (`fill.rs`) and emits everything in `seq` order. After
//! a broker reconnection every hosted room is filled from its last `seq`, so what was routed while the
//! queue was gone is emitted once, in order. A socket joining with `afterSeq` (`resume.rs`) is replayed
//! what it missed while the room's events wait in its own buffer, then joins the room: nothing missed,
//! nothing twice.
//!
//! A room's log is guarded by a std mutex held while its events are emitted: socketioxide's emits only
//! queue, so holding it is short; it is never held across an `.await`.

mod backlog;
mod drain;
mod fill;
mod log;
mod resume;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::ServiceSigner;
use serde::Serialize;
use socketioxide::SocketIo;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::emit;
use crate::session::conversation_room;
use backlog::Backlog;
use log::{Arrival, Item, RoomLog};

pub use resume::{CatchUp, MAX_REPLAY, Resumed};

type SharedLog = Arc<Mutex<RoomLog>>;

#[derive(Clone)]
pub struct Sequencer {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Mutex<HashMap<Uuid, SharedLog>>,
    /// Set once the Socket.IO layer exists (it needs the handlers, which need this).
    io: OnceLock<SocketIo>,
    /// Set at shutdown, before the namespace closes (emitting into a closed one would panic).
    closed: AtomicBool,
    /// Told each room whose events may have been missed (a fill starts): its memberships are checked
    /// again (`crate::membership`).
    suspects: OnceLock<mpsc::UnboundedSender<Uuid>>,
    backlog: Backlog,
}

impl Sequencer {
    pub fn new(messages: MessagesServiceClient<Channel>, signer: ServiceSigner) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                io: OnceLock::new(),
                closed: AtomicBool::new(false),
                suspects: OnceLock::new(),
                backlog: Backlog::new(messages, signer),
            }),
        }
    }

    pub fn attach(&self, io: SocketIo) {
        let _ = self.inner.io.set(io);
    }

    /// The rooms whose events may have been missed, as fills start.
    pub fn suspects(&self) -> mpsc::UnboundedReceiver<Uuid> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = self.inner.suspects.set(sender);
        receiver
    }

    /// Emits nothing more (shutdown).
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// A local socket entered the room; `latest` is the `seq` its access check answered. The first one
    /// starts the room's log there: what follows it comes through the broker, or through a fill. True
    /// when this is the room's first local socket (the room is about to be bound).
    pub fn host(&self, room: Uuid, latest: i64) -> bool {
        let mut first = false;
        let log = self
            .rooms()
            .entry(room)
            .or_insert_with(|| {
                first = true;
                Arc::new(Mutex::new(RoomLog::new(latest)))
            })
            .clone();
        lock(&log).join();
        first
    }

    /// A local socket left the room; the log goes with the last one.
    pub fn unhost(&self, room: Uuid) {
        let mut rooms = self.rooms();
        let empty = rooms.get(&room).is_some_and(|log| lock(log).leave());
        if empty {
            rooms.remove(&room);
        }
    }

    /// The socket left the room: if it was catching up, it stops (and does not join the room after).
    pub fn forget(&self, room: Uuid, sid: socketioxide::socket::Sid) {
        if let Some(log) = self.log(room) {
            lock(&log).end_catch_up(sid);
        }
    }

    /// A message event from the broker.
    pub fn message<T: Serialize + ?Sized>(&self, room: Uuid, seq: i64, body: &T) {
        let Some(body) = raw(body) else { return };
        let Some(log) = self.log(room) else {
            // No local member: nobody to emit to.
            return;
        };
        let mut guard = lock(&log);
        match guard.arrive(seq, body) {
            Arrival::Duplicate => {
                metrics::counter!("realtime_messages_duplicate_total").increment(1);
            }
            Arrival::Emit(items) => self.emit(room, &log, &mut guard, &items),
            Arrival::Parked { start_fill } => {
                if guard.pending_len() > log::MAX_PENDING {
                    tracing::warn!(%room, "too many messages held behind a gap; emitting them with the gap");
                    let items = guard.give_up();
                    self.emit(room, &log, &mut guard, &items);
                } else if start_fill {
                    drop(guard);
                    self.spawn_fill(room, log, fill::Why::Gap);
                }
            }
        }
    }

    /// Any other event of the room (edits, deletions, receipts, room notices), emitted as it comes, and
    /// kept for the sockets catching up.
    pub fn to_room<T: Serialize + ?Sized>(&self, room: Uuid, name: &'static str, body: &T) {
        let Some(body) = raw(body) else { return };
        let item = Item {
            name,
            seq: None,
            body,
        };
        match self.log(room) {
            Some(log) => self.emit(room, &log, &mut lock(&log), &[item]),
            None => {
                for socket in self.room_sockets(room).unwrap_or_default() {
                    emit::to_socket(&socket, item.name, &*item.body);
                }
            }
        }
    }

    /// After the broker connection came back and the rooms were bound again: every hosted room reads
    /// what was routed while its queue was gone.
    pub fn refill_all(&self) {
        let logs: Vec<(Uuid, SharedLog)> = self
            .rooms()
            .iter()
            .map(|(room, log)| (*room, log.clone()))
            .collect();
        for (room, log) in logs {
            // Every room, even one whose fill is already running.
            self.suspect(room);
            let start = {
                let mut guard = lock(&log);
                guard.refill = true;
                !std::mem::replace(&mut guard.filling, true)
            };
            if start {
                self.spawn_fill(room, log, fill::Why::Rebound);
            }
        }
    }

    /// The room's events may have been missed (a removal among them): its memberships are checked again.
    fn suspect(&self, room: Uuid) {
        if let Some(suspects) = self.inner.suspects.get() {
            let _ = suspects.send(room);
        }
    }

    /// Emits to the room's sockets and copies to the sockets catching up; the caller holds the log
    /// (`guard`, of `log`). One event goes out as any emit does (a socket whose buffer is full has
    /// missed it and is disconnected, `emit.rs`). Several at once (a fill, what a late message made
    /// contiguous) can be more than a socket's buffer holds: a socket that fills up is taken out of
    /// the room and sent the rest as fast as it reads (`drain.rs`), in order.
    fn emit(&self, room: Uuid, log: &SharedLog, guard: &mut RoomLog, items: &[Item]) {
        if items.is_empty() {
            return;
        }
        guard.buffer(items);
        let Some(sockets) = self.room_sockets(room) else {
            return;
        };
        if let [item] = items {
            for socket in &sockets {
                emit::to_socket(socket, item.name, &*item.body);
            }
            return;
        }
        for socket in sockets {
            let Some(full_at) = items
                .iter()
                .position(|item| emit::try_to_socket(&socket, item.name, &*item.body).is_err())
            else {
                continue;
            };
            socket.leave(conversation_room(room));
            guard.start_catch_up(socket.id);
            let rest = items.iter().skip(full_at).cloned().collect();
            let (sequencer, log) = (self.clone(), log.clone());
            tokio::spawn(async move { sequencer.drain(room, &log, &socket, rest, 0).await });
        }
    }

    /// The sockets in the room, unless the namespace is closing.
    fn room_sockets(&self, room: Uuid) -> Option<Vec<socketioxide::extract::SocketRef>> {
        let io = self.inner.io.get()?;
        if self.inner.closed.load(Ordering::Acquire) {
            return None;
        }
        Some(io.to(conversation_room(room)).sockets())
    }

    fn log(&self, room: Uuid) -> Option<SharedLog> {
        self.rooms().get(&room).cloned()
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<Uuid, SharedLog>> {
        // The map stays valid whatever a panicking holder was doing (inserts and removes only).
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn lock(log: &SharedLog) -> MutexGuard<'_, RoomLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

fn raw<T: Serialize + ?Sized>(body: &T) -> Option<Arc<serde_json::value::RawValue>> {
    match serde_json::value::to_raw_value(body) {
        Ok(raw) => Some(Arc::from(raw)),
        Err(error) => {
            tracing::error!(%error, "an event could not be serialized");
            None
        }
    }
}
