//! Per hosted room, the order and completeness of what its members receive: the one place that emits a
//! conversation's events to its room.
//!
//! Each room this instance hosts has a [`log::RoomLog`]: the last durable event applied (`event_seq`,
//! numbered per conversation over every durable kind) and the last message `seq` emitted, the events
//! that arrived ahead of a gap, and the sockets replaying what they missed. A durable event with the
//! next `event_seq` is applied (`effect.rs`: the emits, or a removal's evictions); one already applied is
//! dropped; one beyond a gap is held while a fill reads the missing ones from the conversations service
//! (`fill.rs`) and applies everything in order, so an edit never overtakes its message. When the events
//! are not kept (or not served, or an event comes unnumbered from an older conversations build), the
//! room falls back to its messages, by `seq`, and its memberships are checked again. After a broker
//! reconnection every hosted room is filled from its last event, so what was routed while the queue was
//! gone is applied once, in order. A socket joining with `afterSeq` (`resume.rs`) is replayed the
//! messages it missed while the room's events wait in its own buffer, then joins the room: nothing
//! missed, nothing twice.
//!
//! A room's log is guarded by a std mutex held while its events are emitted: socketioxide's emits only
//! queue, so holding it is short; it is never held across an `.await`.

mod backlog;
mod drain;
mod effect;
mod fill;
mod log;
mod resume;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::events::v1::Event;
use jwt::ServiceSigner;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::emit;
use crate::session::{conversation_room, user_room};
use backlog::Backlog;
use log::{Arrival, Effect, Item, RoomLog};

pub use resume::{CatchUp, MAX_REPLAY, Resumed};

type SharedLog = Arc<Mutex<RoomLog>>;

/// A room whose events may have been missed, for its memberships to be checked again; `checked` is told
/// once every reader of the room has been checked (those refused evicted), for a caller that waits.
#[derive(Debug)]
pub struct Suspect {
    pub room: Uuid,
    pub checked: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Local sockets taken out of a conversation's room because their user was removed from it: the rest
/// of their bookkeeping is `Rooms::evict`'s (outside the room's lock).
pub type Eviction = (Uuid, Vec<SocketRef>);

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
    /// Told each room whose events may have been missed (a gap still open after its grace, or a
    /// rebinding): its memberships are checked again (`crate::membership`).
    suspects: OnceLock<mpsc::UnboundedSender<Suspect>>,
    /// Told each eviction applied in a room's sequence (a participants' removal).
    evictions: OnceLock<mpsc::UnboundedSender<Eviction>>,
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
                evictions: OnceLock::new(),
                backlog: Backlog::new(messages, signer),
            }),
        }
    }

    pub fn attach(&self, io: SocketIo) {
        let _ = self.inner.io.set(io);
    }

    /// The rooms whose events may have been missed: a gap still open after its grace, every hosted
    /// room after a rebinding.
    pub fn suspects(&self) -> mpsc::UnboundedReceiver<Suspect> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = self.inner.suspects.set(sender);
        receiver
    }

    /// The sockets a removal took out of a room, for the rest of their bookkeeping.
    pub fn evictions(&self) -> mpsc::UnboundedReceiver<Eviction> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let _ = self.inner.evictions.set(sender);
        receiver
    }

    /// Emits nothing more (shutdown).
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// Shutting down: the namespace is closing, and must not be used any more.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// A local socket entered the room; `latest` is the message `seq` and `latest_event` the
    /// `event_seq` its access check answered. The first one starts the room's log there: what follows
    /// comes through the broker, or through a fill. True when this is the room's first local socket (the
    /// room is about to be bound).
    pub fn host(&self, room: Uuid, latest: i64, latest_event: i64) -> bool {
        let mut first = false;
        let mut rooms = self.rooms();
        let log = rooms.entry(room).or_insert_with(|| {
            first = true;
            Arc::new(Mutex::new(RoomLog::new(latest, latest_event)))
        });
        // Counted under the map's lock (map, then log: `unhost`'s order): a log taken out of the map
        // after its last member left is never joined, so every member counts on the log that emits.
        lock(log).join();
        first
    }

    /// A local socket left the room; the log goes with the last one, retired (its fill stops, it emits
    /// nothing more: a log hosted again later is a new one, the only one emitting to the room).
    pub fn unhost(&self, room: Uuid) {
        let mut rooms = self.rooms();
        let empty = rooms.get(&room).is_some_and(|log| lock(log).leave());
        if empty {
            rooms.remove(&room);
        }
    }

    /// Puts the socket in the room's broadcasts under the room's lock, and answers the room's last
    /// `seq` then: every later message reaches the socket, every earlier one is in the history. `None`
    /// if the room is not hosted (the socket joins all the same).
    pub fn enter(&self, room: Uuid, socket: &socketioxide::extract::SocketRef) -> Option<i64> {
        let Some(log) = self.log(room) else {
            socket.join(conversation_room(room));
            return None;
        };
        let guard = lock(&log);
        socket.join(conversation_room(room));
        Some(guard.last())
    }

    /// The socket left the room: if it was catching up, it stops (and does not join the room after).
    pub fn forget(&self, room: Uuid, sid: socketioxide::socket::Sid) {
        if let Some(log) = self.log(room) {
            lock(&log).end_catch_up(sid);
        }
    }

    /// Every local socket reading the room: those in its socketioxide room, and those catching up on it
    /// (out of that room while they drain or replay, and joining it when done), so that an eviction or
    /// a membership re-check reaches them too. One that finished meanwhile may be listed twice. Empty
    /// once the namespace is closing.
    pub fn readers(&self, room: Uuid) -> Vec<socketioxide::extract::SocketRef> {
        let (Some(io), Some(mut sockets)) = (self.inner.io.get(), self.room_sockets(room)) else {
            return Vec::new();
        };
        let catching_up = self
            .log(room)
            .map(|log| lock(&log).catching_up())
            .unwrap_or_default();
        sockets.extend(catching_up.into_iter().filter_map(|sid| io.get_socket(sid)));
        sockets
    }

    /// A durable event of the room from the broker (a message, an edit, a deletion, a receipt, a
    /// read, participants added or removed), applied in `event_seq` order, once.
    pub fn durable(&self, room: Uuid, event: Event) {
        let event_seq = event.event_seq;
        let effect = effect::of(event);
        if event_seq <= 0 {
            // From an older conversations build: its messages go by `seq`, the rest as it comes.
            metrics::counter!("realtime_sequencer_fallbacks_total", "why" => "unnumbered")
                .increment(1);
            return self.unnumbered(room, effect);
        }
        let Some(log) = self.log(room) else {
            return self.unhosted(room, &effect);
        };
        let mut guard = lock(&log);
        match guard.arrive_event(event_seq, effect) {
            Arrival::Duplicate => {
                metrics::counter!("realtime_events_duplicate_total").increment(1);
            }
            Arrival::Emit(effects) => self.emit(room, &log, &mut guard, &effects),
            Arrival::Parked { start_fill } => self.parked(room, &log, guard, start_fill),
        }
    }

    /// An unnumbered event: a message in `seq` order, once; anything else applied as it comes.
    fn unnumbered(&self, room: Uuid, effect: Effect) {
        let Some(log) = self.log(room) else {
            return self.unhosted(room, &effect);
        };
        let mut guard = lock(&log);
        let arrival = match effect {
            Effect::Emit(Item {
                seq: Some(seq),
                body,
                ..
            }) => guard.arrive(seq, body),
            effect => Arrival::Emit(vec![effect]),
        };
        match arrival {
            Arrival::Duplicate => {
                metrics::counter!("realtime_messages_duplicate_total").increment(1);
            }
            Arrival::Emit(effects) => self.emit(room, &log, &mut guard, &effects),
            Arrival::Parked { start_fill } => self.parked(room, &log, guard, start_fill),
        }
    }

    /// An event was held behind a gap: a fill starts if none runs, unless too much is held already.
    fn parked(
        &self,
        room: Uuid,
        log: &SharedLog,
        mut guard: MutexGuard<'_, RoomLog>,
        start_fill: bool,
    ) {
        if guard.pending_len() > log::MAX_PENDING {
            tracing::warn!(%room, "too many events held behind a gap; applying them with the gap");
            let effects = guard.give_up();
            self.emit(room, log, &mut guard, &effects);
        } else if start_fill {
            drop(guard);
            self.spawn_fill(room, log.clone(), fill::Why::Gap);
        }
    }

    /// A room with no log here (no local member, or one being let in): applied to whoever is in it.
    fn unhosted(&self, room: Uuid, effect: &Effect) {
        match effect {
            Effect::Emit(item) => {
                for socket in self.room_sockets(room).unwrap_or_default() {
                    emit::to_socket(&socket, item.name, &*item.body);
                }
            }
            Effect::Evict(users) => self.evict(room, None, users),
            Effect::Nothing => {}
        }
    }

    /// Any other event of the room (room notices: not durable), emitted as it comes, and kept for the
    /// sockets catching up.
    pub fn to_room<T: Serialize + ?Sized>(&self, room: Uuid, name: &'static str, body: &T) {
        let Some(body) = raw(body) else { return };
        let effect = Effect::Emit(Item {
            name,
            seq: None,
            body,
        });
        match self.log(room) {
            Some(log) => self.emit(room, &log, &mut lock(&log), &[effect]),
            None => self.unhosted(room, &effect),
        }
    }

    /// The room's first member was checked again once the room was bound, and the conversation had
    /// reached `latest_event` by then: events committed between the first check and the binding were
    /// routed before this instance listened, so they are read now, not when a later event shows the gap
    /// (in a quiet conversation, maybe never).
    pub fn caught_up_to(&self, room: Uuid, latest_event: i64) {
        let Some(log) = self.log(room) else { return };
        let start = {
            let mut guard = lock(&log);
            if guard.last_event() >= latest_event {
                return;
            }
            guard.refill = true;
            !std::mem::replace(&mut guard.filling, true)
        };
        if start {
            self.spawn_fill(room, log, fill::Why::Bound);
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
            let _ = suspects.send(Suspect {
                room,
                checked: None,
            });
        }
    }

    /// As [`Self::suspect`], and waits (at most `limit`) until every reader of the room has been checked
    /// and those refused evicted: for what is about to be emitted without the events that would have
    /// evicted them.
    async fn suspect_and_wait(&self, room: Uuid, limit: std::time::Duration) {
        let Some(suspects) = self.inner.suspects.get() else {
            return;
        };
        let (checked, done) = tokio::sync::oneshot::channel();
        if suspects
            .send(Suspect {
                room,
                checked: Some(checked),
            })
            .is_ok()
        {
            // A dropped sender (the check could not run) ends the wait as well.
            let _ = tokio::time::timeout(limit, done).await;
        }
    }

    /// Applies the effects in order, under the room's lock (`guard`, of `log`): the emits between two
    /// evictions go out together (`emit_items`); an eviction takes the removed users' sockets out of the
    /// room before anything after it is sent.
    fn emit(&self, room: Uuid, log: &SharedLog, guard: &mut RoomLog, effects: &[Effect]) {
        // A retired log's room may be hosted again by a new log: only that one emits to it.
        if effects.is_empty() || guard.is_retired() {
            return;
        }
        let mut items = Vec::new();
        for effect in effects {
            match effect {
                Effect::Emit(item) => items.push(item.clone()),
                Effect::Evict(users) => {
                    self.emit_items(room, log, guard, &std::mem::take(&mut items));
                    self.evict(room, Some(&mut *guard), users);
                }
                Effect::Nothing => {}
            }
        }
        self.emit_items(room, log, guard, &items);
    }

    /// Takes the removed users' local sockets out of the room at once (and out of catching up on it,
    /// under the room's lock when it is hosted: `guard`), so that nothing after the removal reaches
    /// them; the rest of their leaving follows (`Rooms::evict`).
    fn evict(&self, room: Uuid, guard: Option<&mut RoomLog>, users: &[Uuid]) {
        // No rooms would mean every socket.
        if users.is_empty() {
            return;
        }
        let Some(io) = self.inner.io.get() else {
            return;
        };
        if self.is_closed() {
            return;
        }
        let sockets = io
            .to(users
                .iter()
                .map(|user| user_room(*user))
                .collect::<Vec<_>>())
            .sockets();
        for socket in &sockets {
            socket.leave(conversation_room(room));
        }
        if let Some(guard) = guard {
            for socket in &sockets {
                guard.end_catch_up(socket.id);
            }
        }
        if let Some(evictions) = self.inner.evictions.get() {
            let _ = evictions.send((room, sockets));
        }
    }

    /// Emits to the room's sockets and copies to the sockets catching up; the caller holds the log
    /// (`guard`, of `log`). One event goes out as any emit does (a socket whose buffer is full has
    /// missed it and is disconnected, `emit.rs`). Several at once (a fill, what a late message made
    /// contiguous) can be more than a socket's buffer holds: a socket that fills up is taken out of
    /// the room and sent the rest as fast as it reads (`drain.rs`), in order.
    fn emit_items(&self, room: Uuid, log: &SharedLog, guard: &mut RoomLog, items: &[Item]) {
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

fn raw<T: Serialize + ?Sized>(body: &T) -> Option<Arc<RawValue>> {
    match serde_json::value::to_raw_value(body) {
        Ok(raw) => Some(Arc::from(raw)),
        Err(error) => {
            tracing::error!(%error, "an event could not be serialized");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use junqo_proto::conversations::v1::Message;
    use junqo_proto::events::v1::{MessageCreated, event::Payload};
    use secrecy::SecretString;

    fn sequencer() -> Sequencer {
        // Nothing listens there: a read fails at once.
        let channel = Channel::from_static("http://127.0.0.1:9").connect_lazy();
        Sequencer::new(
            MessagesServiceClient::new(channel),
            ServiceSigner::new(&SecretString::from("test-secret"), "realtime"),
        )
    }

    /// The room's message `seq` as its event `seq` too (a room of messages only).
    fn message(room: Uuid, seq: i64) -> Event {
        Event {
            event_id: Uuid::new_v4().to_string(),
            conversation_id: room.to_string(),
            event_seq: seq,
            payload: Some(Payload::MessageCreated(MessageCreated {
                message: Some(Message {
                    seq,
                    ..Message::default()
                }),
            })),
            ..Event::default()
        }
    }

    #[tokio::test]
    async fn a_hosted_member_always_counts_on_the_log_in_the_map() {
        let sequencer = sequencer();
        let room = Uuid::new_v4();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let sequencer = sequencer.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        sequencer.host(room, 0, 0);
                        // Between its host and its unhost, a member's log emits the room's messages.
                        let hosted = sequencer
                            .log(room)
                            .is_some_and(|log| !lock(&log).is_retired());
                        sequencer.unhost(room);
                        if !hosted {
                            return false;
                        }
                    }
                    true
                })
            })
            .collect();
        for thread in threads {
            assert!(
                thread.join().expect("no panic"),
                "a member counted on a removed log"
            );
        }
        assert!(
            sequencer.rooms().is_empty(),
            "the log goes with its last member"
        );
    }

    #[tokio::test]
    async fn only_a_gap_still_open_after_its_grace_has_the_room_rechecked() {
        let sequencer = sequencer();
        let mut suspects = sequencer.suspects();
        let room = Uuid::new_v4();
        sequencer.host(room, 0, 0);
        // Reordered: 2 before 1, both within the grace.
        sequencer.durable(room, message(room, 2));
        sequencer.durable(room, message(room, 1));
        let early = tokio::time::timeout(fill::GAP_GRACE * 3, suspects.recv()).await;
        assert!(early.is_err(), "a reordering suspects nobody: {early:?}");
        // 3 never comes.
        sequencer.durable(room, message(room, 4));
        let late = tokio::time::timeout(Duration::from_secs(10), suspects.recv()).await;
        let suspect = late.expect("the open gap is reported");
        assert_eq!(suspect.map(|suspect| suspect.room), Some(room));
    }

    #[tokio::test]
    async fn a_retired_log_emits_nothing_and_its_fill_ends() {
        let sequencer = sequencer();
        let room = Uuid::new_v4();
        sequencer.host(room, 0, 0);
        sequencer.durable(room, message(room, 2));
        let old = sequencer.log(room).expect("hosted");
        sequencer.unhost(room);
        assert!(lock(&old).is_retired());
        // Hosted again: a new log, the only one emitting to the room.
        sequencer.host(room, 5, 5);
        let new = sequencer.log(room).expect("hosted again");
        assert!(!Arc::ptr_eq(&old, &new));
        // The old fill wakes after its grace and stops without reading or emitting.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lock(&old).filling {
            assert!(tokio::time::Instant::now() < deadline, "the old fill ended");
            tokio::time::sleep(fill::GAP_GRACE).await;
        }
        assert_eq!(lock(&old).last(), 0, "nothing read, nothing emitted");
        assert_eq!(lock(&new).last(), 5);
    }
}
