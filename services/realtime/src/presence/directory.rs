//! Who is online on which instance, as this instance has heard it from the broker: pure bookkeeping, with
//! the time passed in, so every rule here is unit-tested without a broker or a clock.
//!
//! Each instance numbers its presence announcements 1, 2, 3... (its *version*) and publishes, in the same
//! ordered stream, a heartbeat with its current version every few seconds and, when asked, a snapshot of
//! its users at its current version. Everything from one instance arrives in the order it was published,
//! so each message is applied as it comes; the numbers only tell when one was lost (a full publish queue,
//! a broker reconnect) or when this instance is new to the other, and then a snapshot is asked for.
//!
//! An instance not heard from for longer than the expiry is gone, with its users; but only while this
//! instance hears its own heartbeats, since hearing nobody at all means the broker is away, not everyone.
//! After such a silence the others' clocks start again from when this instance hears itself again.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A snapshot asked for and not received is asked for again after this long.
const ASK_AGAIN: Duration = Duration::from_secs(2);

/// A user whose global status changed: online on some instance now, or on none.
pub type Change = (Uuid, bool);

pub struct Directory {
    /// This instance: never expired (its own heartbeats tell whether the broker is there).
    own: String,
    /// An instance silent for longer than this is gone.
    expiry: Duration,
    /// Since when this instance has heard itself without a silence of more than half the expiry (its own
    /// heartbeats come at less than that): nobody is judged silent over a time this one heard nothing.
    listening_since: Option<Instant>,
    instances: HashMap<String, Instance>,
    /// For each online user, on how many instances; a user on none is absent.
    online: HashMap<Uuid, usize>,
}

struct Instance {
    users: HashSet<Uuid>,
    /// The number of the last announcement applied in order; `None` while what this instance knows of
    /// the other may be incomplete (a snapshot is wanted).
    version: Option<u64>,
    last_seen: Instant,
    /// When a snapshot was last asked for.
    asked: Option<Instant>,
    /// Whether it sends heartbeats (and snapshots) at all: an instance of a version from before them
    /// (during a rolling upgrade) is never taken for gone.
    beating: bool,
}

impl Instance {
    fn new(now: Instant) -> Self {
        Self {
            users: HashSet::new(),
            version: None,
            last_seen: now,
            asked: None,
            beating: false,
        }
    }

    /// True if a snapshot should be asked for now (wanted, and not asked for very recently).
    fn ask(&mut self, now: Instant) -> bool {
        if self.version.is_some() || self.asked.is_some_and(|at| now < at + ASK_AGAIN) {
            return false;
        }
        self.asked = Some(now);
        true
    }
}

/// What hearing an announcement or a heartbeat means here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Heard {
    /// The user's global status, if it changed.
    pub change: Option<bool>,
    /// Ask the instance for its snapshot: something from it was missed, or it is new here.
    pub ask_snapshot: bool,
}

impl Directory {
    pub fn new(own: impl Into<String>, expiry: Duration) -> Self {
        Self {
            own: own.into(),
            expiry,
            listening_since: None,
            instances: HashMap::new(),
            online: HashMap::new(),
        }
    }

    pub fn is_online(&self, user: Uuid) -> bool {
        self.online.contains_key(&user)
    }

    /// Since when this instance has heard itself without a long silence (its queue is bound, and every
    /// live instance is heard within a heartbeat interval), if it does.
    pub fn listening_since(&self) -> Option<Instant> {
        self.listening_since
    }

    /// True while some instance's users may be incomplete here (a snapshot is awaited).
    pub fn incomplete(&self) -> bool {
        self.instances.values().any(|i| i.version.is_none())
    }

    /// `instance` says whether `user` has a socket there, as of its announcement number `version`.
    pub fn announced(
        &mut self,
        instance: &str,
        version: u64,
        user: Uuid,
        online: bool,
        now: Instant,
    ) -> Heard {
        let entry = self.entry(instance, now);
        entry.version = entry
            .version
            .filter(|last| version == last + 1)
            .map(|_| version);
        let changed_there = if online {
            entry.users.insert(user)
        } else {
            entry.users.remove(&user)
        };
        let ask_snapshot = entry.ask(now);
        let change = if changed_there {
            self.count(user, online)
        } else {
            None
        };
        Heard {
            change,
            ask_snapshot,
        }
    }

    /// `instance` is alive and has published `version` announcements. Returns true if its snapshot
    /// should be asked for.
    pub fn heartbeat(&mut self, instance: &str, version: u64, now: Instant) -> bool {
        let entry = self.entry(instance, now);
        entry.beating = true;
        match entry.version {
            Some(last) if last == version => {}
            // Newly heard, and it never announced anyone: nothing to learn from it.
            None if version == 0 && entry.users.is_empty() && entry.asked.is_none() => {
                entry.version = Some(0);
            }
            _ => entry.version = None,
        }
        entry.ask(now)
    }

    /// Every user `instance` has, as of its announcement number `version`. Returns the users whose global
    /// status changed.
    pub fn snapshot(
        &mut self,
        instance: &str,
        version: u64,
        users: HashSet<Uuid>,
        now: Instant,
    ) -> Vec<Change> {
        let entry = self.entry(instance, now);
        entry.version = Some(version);
        entry.asked = None;
        // Only an instance that has heartbeats sends snapshots.
        entry.beating = true;
        let before = std::mem::replace(&mut entry.users, users);
        let after = &self.instances[instance].users;
        let gone: Vec<Uuid> = before.difference(after).copied().collect();
        let came: Vec<Uuid> = after.difference(&before).copied().collect();
        let mut changes = Vec::new();
        for user in gone {
            changes.extend(self.count(user, false).map(|online| (user, online)));
        }
        for user in came {
            changes.extend(self.count(user, true).map(|online| (user, online)));
        }
        changes
    }

    /// Forgets every instance not heard from for longer than the expiry (never this one, and nothing at
    /// all while this instance does not hear itself either); returns the users now online nowhere.
    pub fn expire(&mut self, now: Instant) -> Vec<Uuid> {
        let (Some(since), Some(own)) = (self.listening_since, self.instances.get(&self.own)) else {
            return Vec::new();
        };
        if now.saturating_duration_since(own.last_seen) > self.expiry / 2 {
            return Vec::new();
        }
        let expiry = self.expiry;
        let silent = |instance: &Instance| {
            now.saturating_duration_since(instance.last_seen.max(since)) > expiry
        };
        let gone: Vec<String> = self
            .instances
            .iter()
            .filter(|(name, instance)| **name != self.own && instance.beating && silent(instance))
            .map(|(name, _)| name.clone())
            .collect();
        let mut offline = Vec::new();
        for name in gone {
            let Some(instance) = self.instances.remove(&name) else {
                continue;
            };
            tracing::warn!(instance = %name, users = instance.users.len(), "a realtime instance stopped answering: its users are offline");
            for user in instance.users {
                if self.count(user, false) == Some(false) {
                    offline.push(user);
                }
            }
        }
        offline
    }

    fn entry(&mut self, instance: &str, now: Instant) -> &mut Instance {
        if instance == self.own {
            let last = self.instances.get(instance).map(|own| own.last_seen);
            if last.is_none_or(|last| now.saturating_duration_since(last) > self.expiry / 2) {
                self.listening_since = Some(now);
            }
        }
        let entry = match self.instances.entry(instance.to_owned()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Instance::new(now)),
        };
        entry.last_seen = now;
        entry
    }

    /// One more (or one fewer) instance has the user; returns the user's new global status if it changed.
    fn count(&mut self, user: Uuid, online: bool) -> Option<bool> {
        match self.online.entry(user) {
            Entry::Occupied(mut entry) if online => {
                *entry.get_mut() += 1;
                None
            }
            Entry::Vacant(entry) if online => {
                entry.insert(1);
                Some(true)
            }
            Entry::Occupied(mut entry) => {
                if *entry.get() > 1 {
                    *entry.get_mut() -= 1;
                    None
                } else {
                    entry.remove();
                    Some(false)
                }
            }
            Entry::Vacant(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRY: Duration = Duration::from_secs(12);

    fn users(list: &[Uuid]) -> HashSet<Uuid> {
        list.iter().copied().collect()
    }

    #[test]
    fn a_user_is_online_while_any_instance_has_them() {
        let now = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        let user = Uuid::new_v4();
        assert!(!directory.heartbeat("a", 0, now));
        assert!(!directory.heartbeat("b", 0, now));
        assert_eq!(
            directory.announced("a", 1, user, true, now).change,
            Some(true)
        );
        assert_eq!(directory.announced("b", 1, user, true, now).change, None);
        assert_eq!(directory.announced("a", 2, user, false, now).change, None);
        assert!(directory.is_online(user));
        assert_eq!(
            directory.announced("b", 2, user, false, now).change,
            Some(false)
        );
        assert!(!directory.is_online(user));
        let repeated = directory.announced("b", 3, user, false, now);
        assert_eq!(repeated.change, None, "a repeated offline changes nothing");
        assert!(!repeated.ask_snapshot, "announcements in order ask nothing");
    }

    #[test]
    fn a_missed_announcement_asks_for_a_snapshot_which_sets_things_right() {
        let now = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        directory.heartbeat("b", 0, now);
        directory.announced("b", 1, alice, true, now);
        // Number 2 (bob online) was lost; number 3 is heard.
        let heard = directory.announced("b", 3, alice, false, now);
        assert_eq!(heard.change, Some(false), "what is heard is applied");
        assert!(heard.ask_snapshot);
        assert!(directory.incomplete());
        assert!(
            !directory.heartbeat("b", 3, now + Duration::from_millis(500)),
            "not asked again at once"
        );
        assert!(
            directory.heartbeat("b", 3, now + ASK_AGAIN + Duration::from_millis(1)),
            "asked again if the snapshot does not come"
        );
        let changes = directory.snapshot("b", 3, users(&[bob]), now);
        assert_eq!(changes, [(bob, true)]);
        assert!(!directory.incomplete());
        assert!(!directory.heartbeat("b", 3, now), "in step again");
    }

    #[test]
    fn a_heartbeat_ahead_of_what_was_applied_asks_for_a_snapshot() {
        let now = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        directory.heartbeat("b", 0, now);
        // The last announcements before a broker reconnect were lost: only the heartbeat tells.
        assert!(directory.heartbeat("b", 4, now));
    }

    #[test]
    fn an_instance_first_heard_through_an_announcement_is_asked_for_its_snapshot() {
        let now = Instant::now();
        let mut directory = Directory::new("new", EXPIRY);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let heard = directory.announced("old", 41, alice, true, now);
        assert_eq!(heard.change, Some(true));
        assert!(heard.ask_snapshot);
        let changes = directory.snapshot("old", 42, users(&[alice, bob]), now);
        assert_eq!(changes, [(bob, true)], "alice was known already");
        assert!(!directory.announced("old", 43, bob, false, now).ask_snapshot);
        assert!(!directory.is_online(bob));
        assert!(directory.is_online(alice));
    }

    #[test]
    fn a_snapshot_takes_away_who_is_no_longer_there() {
        let now = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        directory.snapshot("b", 7, users(&[alice, bob]), now);
        directory.snapshot("c", 2, users(&[bob]), now);
        let changes = directory.snapshot("b", 9, users(&[]), now);
        assert_eq!(changes, [(alice, false)], "bob is still on c");
        assert!(directory.is_online(bob));
    }

    #[test]
    fn an_instance_silent_past_the_expiry_takes_its_users_offline() {
        let start = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        let (alice, bob, carol) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        directory.heartbeat("a", 0, start);
        directory.snapshot("b", 3, users(&[alice, bob]), start);
        directory.snapshot("c", 1, users(&[bob]), start);
        directory.snapshot("a", 1, users(&[carol]), start);
        // a and c keep beating; b has gone silent.
        for beat in 1..=2 {
            let at = start + EXPIRY / 2 * beat;
            directory.heartbeat("a", 1, at);
            directory.heartbeat("c", 1, at);
        }
        let later = start + EXPIRY;
        assert!(
            directory.expire(later).is_empty(),
            "not yet past the expiry"
        );
        let past = later + Duration::from_secs(1);
        directory.heartbeat("a", 1, past);
        let offline = directory.expire(past);
        assert_eq!(offline, [alice], "bob is still on c");
        assert!(!directory.is_online(alice));
        assert!(directory.is_online(bob));
        assert!(directory.is_online(carol), "this instance never expires");
        assert!(
            directory.expire(past).is_empty(),
            "an instance is forgotten once"
        );
        // One that never sent a heartbeat (a version from before them) is never taken for gone.
        let dave = Uuid::new_v4();
        directory.announced("old", 0, dave, true, past);
        let much_later = past + EXPIRY * 3;
        for at in 1..=6 {
            directory.heartbeat("a", 1, past + EXPIRY / 2 * at);
        }
        assert!(!directory.expire(much_later).contains(&dave));
        assert!(directory.is_online(dave));
    }

    #[test]
    fn nobody_expires_while_this_instance_does_not_hear_itself() {
        let start = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        let alice = Uuid::new_v4();
        directory.heartbeat("a", 0, start);
        directory.snapshot("b", 1, users(&[alice]), start);
        // The broker is away: nobody, this instance included, is heard for a while.
        let later = start + EXPIRY * 2;
        assert!(directory.expire(later).is_empty());
        assert!(directory.is_online(alice));
        // Back: this instance hears itself before b's next heartbeat; b is not taken for dead...
        directory.heartbeat("a", 0, later);
        assert!(directory.expire(later).is_empty());
        assert!(directory.is_online(alice));
        // ...unless b stays silent for the expiry from then on.
        let past = later + EXPIRY + Duration::from_secs(1);
        for at in [later + EXPIRY / 2, later + EXPIRY, past] {
            directory.heartbeat("a", 0, at);
        }
        assert_eq!(directory.expire(past), [alice]);
    }

    #[test]
    fn a_new_instance_that_announced_nobody_needs_no_snapshot() {
        let now = Instant::now();
        let mut directory = Directory::new("a", EXPIRY);
        assert!(!directory.heartbeat("b", 0, now));
        assert!(!directory.incomplete());
        assert!(directory.heartbeat("c", 5, now), "one that did, does");
        assert!(directory.incomplete());
    }
}
