//! One hosted room's delivery state, with no I/O: what has been emitted (`last`), what arrived ahead of
//! a gap, and the sockets catching up. Every method says what to emit; the caller emits it while it
//! still holds the room's lock, so the order decided here is the order sockets see.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::value::RawValue;
use socketioxide::socket::Sid;

/// Messages held back while a gap is open. Past this the gap is given up (see [`RoomLog::give_up`]):
/// memory stays bounded whatever happens upstream.
pub(super) const MAX_PENDING: usize = 10_000;

/// One event for the room, serialized once.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub name: &'static str,
    /// The message's `seq` for `receiveMessage`; `None` for every other event.
    pub seq: Option<i64>,
    pub body: Arc<RawValue>,
}

impl Item {
    pub fn message(seq: i64, body: Arc<RawValue>) -> Self {
        Self {
            name: "receiveMessage",
            seq: Some(seq),
            body,
        }
    }
}

/// What an arriving message asks for.
#[derive(Debug)]
pub(super) enum Arrival {
    /// Already emitted (a republished event, or one a fill got first): dropped.
    Duplicate,
    /// Emit these, in this order (the message, then whatever it made contiguous).
    Emit(Vec<Item>),
    /// Held back behind a gap; `true` when a fill must start (none is running).
    Parked { start_fill: bool },
}

#[derive(Debug)]
pub(super) struct RoomLog {
    /// Local sockets in the room (the log lives while there is one).
    members: usize,
    /// The highest `seq` emitted to the room.
    last: i64,
    pending: BTreeMap<i64, Arc<RawValue>>,
    /// A fill task is running for this room.
    pub filling: bool,
    /// The running fill must fetch once more before it ends (a rebinding happened meanwhile).
    pub refill: bool,
    /// Sockets replaying what they missed, each with the room's events emitted since it started.
    catching_up: HashMap<Sid, Vec<Item>>,
    /// Its last member left and it was taken out of the map: it emits nothing more, its fill stops and
    /// its sockets catching up stop (they left too).
    retired: bool,
}

impl RoomLog {
    /// A room whose first local member was admitted when its latest message was `latest`.
    pub fn new(latest: i64) -> Self {
        Self {
            members: 0,
            last: latest,
            pending: BTreeMap::new(),
            filling: false,
            refill: false,
            catching_up: HashMap::new(),
            retired: false,
        }
    }

    pub fn last(&self) -> i64 {
        self.last
    }

    pub fn join(&mut self) {
        self.members += 1;
    }

    /// True when the room has no local member left: the log is retired, for good.
    pub fn leave(&mut self) -> bool {
        self.members = self.members.saturating_sub(1);
        if self.members == 0 {
            self.retired = true;
            self.pending.clear();
            self.catching_up.clear();
        }
        self.retired
    }

    pub fn is_retired(&self) -> bool {
        self.retired
    }

    pub fn has_gap(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn arrive(&mut self, seq: i64, body: Arc<RawValue>) -> Arrival {
        if seq <= self.last || self.pending.contains_key(&seq) {
            return Arrival::Duplicate;
        }
        if seq == self.last + 1 {
            self.last = seq;
            let mut items = vec![Item::message(seq, body)];
            items.extend(self.drain());
            return Arrival::Emit(items);
        }
        self.pending.insert(seq, body);
        let start_fill = !self.filling;
        self.filling = true;
        Arrival::Parked { start_fill }
    }

    /// Every message with `seq > after`, as far as the store had them (a page, oldest first: nothing
    /// between two of them exists any more). Applied only if it starts at or before what was emitted,
    /// so that it continues the room's sequence; returns what to emit.
    pub fn apply(&mut self, after: i64, page: &[(i64, Arc<RawValue>)]) -> Vec<Item> {
        if after > self.last {
            return Vec::new();
        }
        let mut items = Vec::new();
        for (seq, body) in page {
            if *seq > self.last {
                self.last = *seq;
                items.push(Item::message(*seq, body.clone()));
            }
        }
        items.extend(self.drain());
        items
    }

    /// The gap cannot be filled (the store is unreachable, or too much is held back): emits what is held,
    /// in order, and carries on after it. Members see a hole in `seq`, as before this mechanism existed.
    pub fn give_up(&mut self) -> Vec<Item> {
        let pending = std::mem::take(&mut self.pending);
        let mut items = Vec::new();
        for (seq, body) in pending {
            if seq > self.last {
                self.last = seq;
                items.push(Item::message(seq, body));
            }
        }
        items
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Held messages that now follow `last`.
    fn drain(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            let seq = *entry.key();
            if seq <= self.last {
                entry.remove();
            } else if seq == self.last + 1 {
                self.last = seq;
                items.push(Item::message(seq, entry.remove()));
            } else {
                break;
            }
        }
        items
    }

    /// Copies what the room is sent to every socket catching up.
    pub fn buffer(&mut self, items: &[Item]) {
        for buffer in self.catching_up.values_mut() {
            buffer.extend(items.iter().cloned());
        }
    }

    pub fn start_catch_up(&mut self, sid: Sid) {
        if !self.retired {
            self.catching_up.insert(sid, Vec::new());
        }
    }

    /// What the room was sent since the socket started catching up (and since the last call).
    pub fn take_buffer(&mut self, sid: Sid) -> Vec<Item> {
        self.catching_up
            .get_mut(&sid)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn is_catching_up(&self, sid: Sid) -> bool {
        !self.retired && self.catching_up.contains_key(&sid)
    }

    pub fn end_catch_up(&mut self, sid: Sid) {
        self.catching_up.remove(&sid);
    }

    /// The sockets catching up: out of the socketioxide room, yet reading it.
    pub fn catching_up(&self) -> Vec<Sid> {
        if self.retired {
            return Vec::new();
        }
        self.catching_up.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: i64) -> Arc<RawValue> {
        Arc::from(serde_json::value::to_raw_value(&seq).expect("raw"))
    }

    fn seqs(items: &[Item]) -> Vec<i64> {
        items.iter().filter_map(|item| item.seq).collect()
    }

    fn emitted(arrival: Arrival) -> Vec<i64> {
        match arrival {
            Arrival::Emit(items) => seqs(&items),
            other => panic!("expected emits, got {other:?}"),
        }
    }

    #[test]
    fn in_order_messages_pass_and_repeats_are_dropped() {
        let mut log = RoomLog::new(4);
        assert_eq!(emitted(log.arrive(5, body(5))), [5]);
        assert!(matches!(log.arrive(5, body(5)), Arrival::Duplicate));
        assert!(matches!(log.arrive(3, body(3)), Arrival::Duplicate));
        assert_eq!(log.last(), 5);
    }

    #[test]
    fn a_gap_holds_later_messages_until_it_closes() {
        let mut log = RoomLog::new(0);
        assert!(matches!(
            log.arrive(3, body(3)),
            Arrival::Parked { start_fill: true }
        ));
        assert!(matches!(
            log.arrive(2, body(2)),
            Arrival::Parked { start_fill: false }
        ));
        assert!(matches!(log.arrive(3, body(3)), Arrival::Duplicate));
        assert_eq!(emitted(log.arrive(1, body(1))), [1, 2, 3]);
        assert!(!log.has_gap());
    }

    #[test]
    fn a_page_fills_the_gap_once_and_in_order() {
        let mut log = RoomLog::new(2);
        let _ = log.arrive(6, body(6));
        let _ = log.arrive(7, body(7));
        // 4 was deleted before the fill read the store: the page has a hole there, and that is no gap.
        let page = vec![(2, body(2)), (3, body(3)), (5, body(5)), (6, body(6))];
        assert_eq!(seqs(&log.apply(2, &page)), [3, 5, 6, 7]);
        assert!(!log.has_gap());
        assert!(matches!(log.arrive(6, body(6)), Arrival::Duplicate));
    }

    #[test]
    fn a_page_that_does_not_continue_the_room_is_ignored() {
        let mut log = RoomLog::new(2);
        assert!(log.apply(5, &[(6, body(6))]).is_empty());
        assert_eq!(log.last(), 2);
    }

    #[test]
    fn giving_up_emits_what_is_held_in_order() {
        let mut log = RoomLog::new(0);
        let _ = log.arrive(9, body(9));
        let _ = log.arrive(4, body(4));
        assert_eq!(seqs(&log.give_up()), [4, 9]);
        assert_eq!(log.last(), 9);
        assert_eq!(log.pending_len(), 0);
    }

    #[test]
    fn sockets_catching_up_get_a_copy_of_what_the_room_is_sent() {
        let mut log = RoomLog::new(0);
        let sid = Sid::new();
        log.start_catch_up(sid);
        let Arrival::Emit(items) = log.arrive(1, body(1)) else {
            panic!("emits")
        };
        log.buffer(&items);
        assert_eq!(seqs(&log.take_buffer(sid)), [1]);
        assert!(log.take_buffer(sid).is_empty(), "taken once");
        log.end_catch_up(sid);
        log.buffer(&items);
        assert!(log.take_buffer(sid).is_empty());
    }

    #[test]
    fn the_sockets_catching_up_are_listed_until_they_stop() {
        let mut log = RoomLog::new(0);
        log.join();
        let (one, two) = (Sid::new(), Sid::new());
        log.start_catch_up(one);
        log.start_catch_up(two);
        let mut listed = log.catching_up();
        listed.sort_by_key(|sid| sid.to_string());
        let mut expected = vec![one, two];
        expected.sort_by_key(|sid| sid.to_string());
        assert_eq!(listed, expected);
        log.end_catch_up(one);
        assert_eq!(log.catching_up(), [two]);
        assert!(log.leave());
        assert!(log.catching_up().is_empty(), "a retired log lists nobody");
    }

    #[test]
    fn the_log_counts_its_members() {
        let mut log = RoomLog::new(0);
        log.join();
        log.join();
        assert!(!log.leave());
        assert!(!log.is_retired());
        assert!(log.leave());
        assert!(log.is_retired());
    }

    #[test]
    fn a_retired_log_stops_its_sockets_catching_up_and_its_gap() {
        let mut log = RoomLog::new(0);
        log.join();
        let sid = Sid::new();
        log.start_catch_up(sid);
        let _ = log.arrive(3, body(3));
        assert!(log.leave());
        assert!(!log.is_catching_up(sid), "the drain sees it left");
        assert!(!log.has_gap(), "its fill ends");
        log.start_catch_up(sid);
        assert!(!log.is_catching_up(sid));
    }
}
