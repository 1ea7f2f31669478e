//! One hosted room's delivery state, with no I/O: what has been applied (`last_event`, and `last` for
//! messages), what arrived ahead of a gap, and the sockets catching up. Every method says what to do, in
//! order; the caller does it while it still holds the room's lock, so the order decided here is the order
//! sockets see.
//!
//! Durable events are numbered per conversation (`event_seq`, over every durable kind), and applied in
//! that order, once. Messages are also kept in `seq` order, once: the client contract speaks `seq`
//! (acks, resume), fills from the messages (`apply`) and replays advance `last`, and a numbered message
//! at or below it is not emitted again. Events with no number (an older conversations build) are not
//! ordered by it: their messages go by `seq` (`pending`), the others as they come.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::value::RawValue;
use socketioxide::socket::Sid;
use uuid::Uuid;

/// Events held back while a gap is open. Past this the gap is given up (see [`RoomLog::give_up`]):
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

/// What one event does to the room, at its place in the room's sequence.
#[derive(Debug, Clone)]
pub(super) enum Effect {
    /// Sent to the room's sockets (and to those catching up on it).
    Emit(Item),
    /// Participants removed: their local sockets leave the room here, before anything after it is sent.
    Evict(Arc<[Uuid]>),
    /// Nothing the sockets see (participants added, an event that could not be read), but it takes its
    /// number.
    Nothing,
}

impl Effect {
    /// The message's `seq`, for a `receiveMessage`.
    fn message_seq(&self) -> Option<i64> {
        match self {
            Effect::Emit(item) => item.seq,
            _ => None,
        }
    }
}

/// What an arriving event asks for.
#[derive(Debug)]
pub(super) enum Arrival {
    /// Already applied (a republished event, or one a fill got first): dropped.
    Duplicate,
    /// Apply these, in this order (the event, then whatever it made contiguous).
    Emit(Vec<Effect>),
    /// Held back behind a gap; `true` when a fill must start (none is running).
    Parked { start_fill: bool },
}

#[derive(Debug)]
pub(super) struct RoomLog {
    /// Local sockets in the room (the log lives while there is one).
    members: usize,
    /// The highest message `seq` emitted to the room.
    last: i64,
    /// The highest `event_seq` applied to the room.
    last_event: i64,
    /// Numbered events that arrived beyond a gap in `event_seq`.
    held: BTreeMap<i64, Effect>,
    /// Unnumbered messages (an older conversations build) that arrived beyond a gap in `seq`.
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
    /// A room whose first local member was admitted when its latest message was `latest` and its latest
    /// event `latest_event`.
    pub fn new(latest: i64, latest_event: i64) -> Self {
        Self {
            members: 0,
            last: latest,
            last_event: latest_event,
            held: BTreeMap::new(),
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

    pub fn last_event(&self) -> i64 {
        self.last_event
    }

    pub fn join(&mut self) {
        self.members += 1;
    }

    /// True when the room has no local member left: the log is retired, for good.
    pub fn leave(&mut self) -> bool {
        self.members = self.members.saturating_sub(1);
        if self.members == 0 {
            self.retired = true;
            self.held.clear();
            self.pending.clear();
            self.catching_up.clear();
        }
        self.retired
    }

    pub fn is_retired(&self) -> bool {
        self.retired
    }

    pub fn has_gap(&self) -> bool {
        !self.held.is_empty() || !self.pending.is_empty()
    }

    /// Numbered events wait behind a gap: it is filled from the stored events.
    pub fn has_held_events(&self) -> bool {
        !self.held.is_empty()
    }

    /// A numbered durable event (`event_seq > 0`).
    pub fn arrive_event(&mut self, event_seq: i64, effect: Effect) -> Arrival {
        if event_seq <= self.last_event || self.held.contains_key(&event_seq) {
            return Arrival::Duplicate;
        }
        if event_seq == self.last_event + 1 {
            self.last_event = event_seq;
            let mut effects = Vec::new();
            self.take(effect, &mut effects);
            self.drain(&mut effects);
            return Arrival::Emit(effects);
        }
        self.held.insert(event_seq, effect);
        Arrival::Parked {
            start_fill: self.start_fill(),
        }
    }

    /// An unnumbered message (from an older conversations build): ordered by its `seq` alone.
    pub fn arrive(&mut self, seq: i64, body: Arc<RawValue>) -> Arrival {
        if seq <= self.last || self.pending.contains_key(&seq) {
            return Arrival::Duplicate;
        }
        if seq == self.last + 1 {
            let mut effects = Vec::new();
            self.take(Effect::Emit(Item::message(seq, body)), &mut effects);
            self.drain(&mut effects);
            return Arrival::Emit(effects);
        }
        self.pending.insert(seq, body);
        Arrival::Parked {
            start_fill: self.start_fill(),
        }
    }

    fn start_fill(&mut self) -> bool {
        !std::mem::replace(&mut self.filling, true)
    }

    /// The stored events with `event_seq > after`, oldest first, as far as they were kept (`complete`):
    /// applied only if they continue the room's sequence; returns what to do.
    pub fn apply_events(&mut self, after: i64, page: Vec<(i64, Effect)>) -> Vec<Effect> {
        if after > self.last_event {
            return Vec::new();
        }
        let mut effects = Vec::new();
        for (event_seq, effect) in page {
            if event_seq > self.last_event {
                self.last_event = event_seq;
                self.take(effect, &mut effects);
            }
        }
        self.drain(&mut effects);
        effects
    }

    /// Every message with `seq > after`, as far as the store had them (a page, oldest first: nothing
    /// between two of them exists any more). Applied only if it starts at or before what was emitted,
    /// so that it continues the room's messages; returns what to do.
    pub fn apply(&mut self, after: i64, page: &[(i64, Arc<RawValue>)]) -> Vec<Effect> {
        if after > self.last {
            return Vec::new();
        }
        let mut effects = Vec::new();
        for (seq, body) in page {
            self.take(
                Effect::Emit(Item::message(*seq, body.clone())),
                &mut effects,
            );
        }
        self.drain(&mut effects);
        effects
    }

    /// The stored events could not fill the gap (they were no longer kept, or the conversations service
    /// does not serve them yet): the messages were filled instead (`apply`), and the room continues
    /// after `latest`, the conversation's latest event when that was answered (else after everything
    /// held). What was held up to there is applied in order, messages not emitted twice; the rest of
    /// the room's events are lost for its live members, which is why the caller re-checks memberships.
    pub fn continue_from(&mut self, latest: Option<i64>) -> Vec<Effect> {
        let upto = latest
            .or_else(|| self.held.last_key_value().map(|(event_seq, _)| *event_seq))
            .unwrap_or(self.last_event)
            .max(self.last_event);
        let after = self.held.split_off(&(upto + 1));
        let up_to = std::mem::replace(&mut self.held, after);
        let mut effects = Vec::new();
        for (_, effect) in up_to {
            self.take(effect, &mut effects);
        }
        self.last_event = upto;
        self.drain(&mut effects);
        effects
    }

    /// The gap cannot be filled (the store is unreachable, or too much is held back): applies what is
    /// held, in order, and carries on after it. Members see a hole in `seq`, as before this mechanism
    /// existed.
    pub fn give_up(&mut self) -> Vec<Effect> {
        let held = std::mem::take(&mut self.held);
        let mut pending = std::mem::take(&mut self.pending).into_iter().peekable();
        let mut effects = Vec::new();
        for (event_seq, effect) in held {
            // Unnumbered messages (an upgrade in progress) go in among the numbered ones by `seq`.
            if let Some(seq) = effect.message_seq() {
                while let Some((earlier, body)) = pending.next_if(|(pending, _)| *pending < seq) {
                    self.take(Effect::Emit(Item::message(earlier, body)), &mut effects);
                }
            }
            self.last_event = self.last_event.max(event_seq);
            self.take(effect, &mut effects);
        }
        for (seq, body) in pending {
            self.take(Effect::Emit(Item::message(seq, body)), &mut effects);
        }
        effects
    }

    pub fn pending_len(&self) -> usize {
        self.held.len() + self.pending.len()
    }

    /// Applies one event in its turn: a message at or below `last` was emitted already (a fill from the
    /// messages, a replay) and is not emitted again.
    fn take(&mut self, effect: Effect, effects: &mut Vec<Effect>) {
        match effect.message_seq() {
            Some(seq) if seq <= self.last => {}
            Some(seq) => {
                self.last = seq;
                effects.push(effect);
            }
            None if matches!(effect, Effect::Nothing) => {}
            None => effects.push(effect),
        }
    }

    /// Held events and messages that now follow what was applied.
    fn drain(&mut self, effects: &mut Vec<Effect>) {
        loop {
            let mut progressed = false;
            while let Some(entry) = self.held.first_entry() {
                let event_seq = *entry.key();
                if event_seq <= self.last_event {
                    entry.remove();
                } else if event_seq == self.last_event + 1 {
                    self.last_event = event_seq;
                    let effect = entry.remove();
                    self.take(effect, effects);
                    progressed = true;
                } else {
                    break;
                }
            }
            while let Some(entry) = self.pending.first_entry() {
                let seq = *entry.key();
                if seq <= self.last {
                    entry.remove();
                } else if seq == self.last + 1 {
                    let body = entry.remove();
                    self.take(Effect::Emit(Item::message(seq, body)), effects);
                    progressed = true;
                } else {
                    break;
                }
            }
            if !progressed {
                return;
            }
        }
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

    fn seqs(effects: &[Effect]) -> Vec<i64> {
        effects.iter().filter_map(Effect::message_seq).collect()
    }

    fn items(effects: &[Effect]) -> Vec<Item> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Emit(item) => Some(item.clone()),
                _ => None,
            })
            .collect()
    }

    fn emitted(arrival: Arrival) -> Vec<i64> {
        match arrival {
            Arrival::Emit(items) => seqs(&items),
            other => panic!("expected emits, got {other:?}"),
        }
    }

    #[test]
    fn in_order_messages_pass_and_repeats_are_dropped() {
        let mut log = RoomLog::new(4, 0);
        assert_eq!(emitted(log.arrive(5, body(5))), [5]);
        assert!(matches!(log.arrive(5, body(5)), Arrival::Duplicate));
        assert!(matches!(log.arrive(3, body(3)), Arrival::Duplicate));
        assert_eq!(log.last(), 5);
    }

    #[test]
    fn a_gap_holds_later_messages_until_it_closes() {
        let mut log = RoomLog::new(0, 0);
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
        let mut log = RoomLog::new(2, 0);
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
        let mut log = RoomLog::new(2, 0);
        assert!(log.apply(5, &[(6, body(6))]).is_empty());
        assert_eq!(log.last(), 2);
    }

    #[test]
    fn giving_up_emits_what_is_held_in_order() {
        let mut log = RoomLog::new(0, 0);
        let _ = log.arrive(9, body(9));
        let _ = log.arrive(4, body(4));
        assert_eq!(seqs(&log.give_up()), [4, 9]);
        assert_eq!(log.last(), 9);
        assert_eq!(log.pending_len(), 0);
    }

    #[test]
    fn sockets_catching_up_get_a_copy_of_what_the_room_is_sent() {
        let mut log = RoomLog::new(0, 0);
        let sid = Sid::new();
        log.start_catch_up(sid);
        let Arrival::Emit(effects) = log.arrive(1, body(1)) else {
            panic!("emits")
        };
        let items = items(&effects);
        log.buffer(&items);
        assert_eq!(
            log.take_buffer(sid)
                .iter()
                .filter_map(|item| item.seq)
                .collect::<Vec<_>>(),
            [1]
        );
        assert!(log.take_buffer(sid).is_empty(), "taken once");
        log.end_catch_up(sid);
        log.buffer(&items);
        assert!(log.take_buffer(sid).is_empty());
    }

    #[test]
    fn the_sockets_catching_up_are_listed_until_they_stop() {
        let mut log = RoomLog::new(0, 0);
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
        let mut log = RoomLog::new(0, 0);
        log.join();
        log.join();
        assert!(!log.leave());
        assert!(!log.is_retired());
        assert!(log.leave());
        assert!(log.is_retired());
    }

    #[test]
    fn a_retired_log_stops_its_sockets_catching_up_and_its_gap() {
        let mut log = RoomLog::new(0, 0);
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

    /// A numbered event's effect: an edit, a receipt... (`name`), or a message with its `seq`.
    fn event(name: &'static str, seq: Option<i64>) -> Effect {
        Effect::Emit(Item {
            name,
            seq,
            body: body(seq.unwrap_or(0)),
        })
    }

    fn message(seq: i64) -> Effect {
        event("receiveMessage", Some(seq))
    }

    fn names(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .map(|effect| match effect {
                Effect::Emit(item) => match item.seq {
                    Some(seq) => format!("message {seq}"),
                    None => item.name.to_owned(),
                },
                Effect::Evict(users) => format!("evict {}", users.len()),
                Effect::Nothing => "nothing".to_owned(),
            })
            .collect()
    }

    fn applied(arrival: Arrival) -> Vec<String> {
        match arrival {
            Arrival::Emit(effects) => names(&effects),
            other => panic!("expected effects, got {other:?}"),
        }
    }

    #[test]
    fn an_edit_arriving_before_its_message_is_held_and_applied_after_it() {
        // Events 1..=10 applied; the room's last message is 7.
        let mut log = RoomLog::new(7, 10);
        // The edit of message 8 (event 12) overtakes the message itself (event 11).
        assert!(matches!(
            log.arrive_event(12, event("messageUpdated", None)),
            Arrival::Parked { start_fill: true }
        ));
        assert_eq!(
            applied(log.arrive_event(11, message(8))),
            ["message 8", "messageUpdated"]
        );
        assert_eq!((log.last(), log.last_event()), (8, 12));
        assert!(!log.has_gap());
    }

    #[test]
    fn repeated_events_of_every_kind_are_dropped() {
        let mut log = RoomLog::new(0, 0);
        assert_eq!(applied(log.arrive_event(1, message(1))), ["message 1"]);
        assert_eq!(
            applied(log.arrive_event(2, event("messageRead", None))),
            ["messageRead"]
        );
        assert!(matches!(
            log.arrive_event(2, event("messageRead", None)),
            Arrival::Duplicate
        ));
        assert!(matches!(
            log.arrive_event(1, message(1)),
            Arrival::Duplicate
        ));
        // Held, then repeated while held.
        let _ = log.arrive_event(4, event("messageDeleted", None));
        assert!(matches!(
            log.arrive_event(4, event("messageDeleted", None)),
            Arrival::Duplicate
        ));
        assert_eq!(log.last_event(), 2);
    }

    #[test]
    fn a_gap_over_mixed_kinds_is_filled_in_event_order() {
        let mut log = RoomLog::new(3, 5);
        let _ = log.arrive_event(10, event("conversationRead", None));
        // The store's events 6..=9: a message, its edit, a removal, a receipt; and 10 again.
        let removed: Arc<[Uuid]> = Arc::from(vec![Uuid::new_v4()]);
        let page = vec![
            (6, message(4)),
            (7, event("messageUpdated", None)),
            (8, Effect::Evict(removed)),
            (9, Effect::Nothing),
            (10, event("conversationRead", None)),
        ];
        assert_eq!(
            names(&log.apply_events(5, page)),
            ["message 4", "messageUpdated", "evict 1", "conversationRead"]
        );
        assert_eq!((log.last(), log.last_event()), (4, 10));
        assert!(!log.has_gap());
        assert!(matches!(
            log.arrive_event(9, Effect::Nothing),
            Arrival::Duplicate
        ));
    }

    #[test]
    fn a_page_of_events_that_does_not_continue_the_room_is_ignored() {
        let mut log = RoomLog::new(0, 2);
        assert!(log.apply_events(5, vec![(6, message(1))]).is_empty());
        assert_eq!((log.last(), log.last_event()), (0, 2));
    }

    #[test]
    fn a_message_a_replay_emitted_first_is_not_emitted_again_in_its_turn() {
        let mut log = RoomLog::new(1, 1);
        // A resumed join read messages 2 and 3 before their events came.
        assert_eq!(seqs(&log.apply(1, &[(2, body(2)), (3, body(3))])), [2, 3]);
        assert!(applied(log.arrive_event(2, message(2))).is_empty());
        assert_eq!(
            applied(log.arrive_event(3, event("messageUpdated", None))),
            ["messageUpdated"]
        );
        assert!(applied(log.arrive_event(4, message(3))).is_empty());
        assert_eq!((log.last(), log.last_event()), (3, 4));
    }

    #[test]
    fn events_no_longer_kept_fall_back_to_the_messages_then_the_latest_event() {
        let mut log = RoomLog::new(2, 4);
        // Events 5..=8 were lost; 9 (message 5) and 11 (an edit) arrived.
        let _ = log.arrive_event(9, message(5));
        let _ = log.arrive_event(11, event("messageUpdated", None));
        // The store no longer has events after 4 (latest: 10): the messages after 2 are read instead.
        assert_eq!(
            seqs(&log.apply(2, &[(3, body(3)), (4, body(4)), (5, body(5))])),
            [3, 4, 5]
        );
        assert_eq!(log.last(), 5);
        // Up to 10 what was held is applied (message 5 was filled already); 11 follows.
        assert_eq!(names(&log.continue_from(Some(10))), ["messageUpdated"]);
        assert_eq!((log.last(), log.last_event()), (5, 11));
        assert!(!log.has_gap());
        assert_eq!(applied(log.arrive_event(12, message(6))), ["message 6"]);
    }

    #[test]
    fn with_no_stored_events_served_the_room_continues_after_what_is_held() {
        let mut log = RoomLog::new(0, 0);
        let _ = log.arrive_event(3, event("messageRead", None));
        let _ = log.arrive_event(2, message(2));
        assert_eq!(seqs(&log.apply(0, &[(1, body(1)), (2, body(2))])), [1, 2]);
        assert_eq!(names(&log.continue_from(None)), ["messageRead"]);
        assert_eq!(log.last_event(), 3);
        assert!(!log.has_gap());
    }

    #[test]
    fn unnumbered_messages_keep_their_seq_order_beside_numbered_events() {
        let mut log = RoomLog::new(0, 0);
        let _ = log.arrive(2, body(2));
        // A numbered message 1 (a replica already upgraded) closes the gap of the unnumbered 2.
        assert_eq!(
            applied(log.arrive_event(1, message(1))),
            ["message 1", "message 2"]
        );
        let _ = log.arrive_event(3, message(5));
        let _ = log.arrive(7, body(7));
        let _ = log.arrive(4, body(4));
        // Given up: numbered and unnumbered messages, in `seq` order.
        assert_eq!(seqs(&log.give_up()), [4, 5, 7]);
        assert_eq!((log.last(), log.last_event()), (7, 3));
    }
}
