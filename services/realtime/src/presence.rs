//! Who is online, across instances. Each instance counts its own sockets per user; when a user's first
//! local socket connects (or last one leaves) it announces that on RabbitMQ, and every instance, itself
//! included, applies the announcement here. A user is online while at least one instance has them.
//!
//! An announcement says the user's status as it is when it is published, not as it was when it was
//! decided ([`Presence::publish_status`]): a connect and a disconnect in quick succession start two
//! announcements whose look-ups can finish in either order, and the last one published must be true.
//!
//! Announcements are numbered per instance, and each instance also publishes a heartbeat with its number
//! and, when asked, a snapshot of its users ([`crate::liveness`] does both): [`directory`] keeps what was
//! heard, asks for a snapshot when something was missed, and forgets an instance that stopped answering.

mod directory;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use uuid::Uuid;

use self::directory::Directory;
pub use self::directory::{Change, Heard};
use crate::session::Session;

/// Heartbeats of this instance may come this much later than the interval and still count as one round.
const ROUND_MARGIN: Duration = Duration::from_millis(500);
/// How much longer than a round [`Presence::wait_synced`] waits (for snapshots) before answering with
/// what it knows: the broker may be away.
const SYNC_PATIENCE: Duration = Duration::from_secs(2);

pub struct Presence {
    /// How often every instance sends a heartbeat: one round.
    heartbeat: Duration,
    state: Mutex<State>,
    /// True once this instance has heard a whole round of heartbeats and has every snapshot it asked for
    /// at start (see [`Presence::wait_synced`]). It stays true.
    synced: watch::Sender<bool>,
}

struct State {
    /// Sockets of each user on this instance, and who the user is (to announce them on shutdown).
    local: HashMap<Uuid, (usize, Arc<Session>)>,
    /// Announcements this instance has published (each has its number).
    version: u64,
    /// The users those announcements left online: what a snapshot at `version` says. Not `local`, which
    /// runs ahead of them while an announcement looks up its audience: a snapshot must not tell another
    /// instance a user is online before the announcement that carries who to tell.
    announced: HashSet<Uuid>,
    /// What this instance has heard from every instance, itself included.
    directory: Directory,
}

impl Presence {
    /// `instance` is this instance's name in announcements; an instance silent for longer than `expiry`
    /// is gone.
    pub fn new(instance: &str, heartbeat: Duration, expiry: Duration) -> Self {
        Self {
            heartbeat,
            state: Mutex::new(State {
                local: HashMap::new(),
                version: 0,
                announced: HashSet::new(),
                directory: Directory::new(instance, expiry),
            }),
            synced: watch::Sender::new(false),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves counts that are still usable; never propagate it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a new local socket; true if it is the user's first on this instance.
    pub fn socket_connected(&self, session: &Arc<Session>) -> bool {
        let mut state = self.state();
        let (count, _) = state
            .local
            .entry(session.user_id)
            .or_insert_with(|| (0, session.clone()));
        *count += 1;
        *count == 1
    }

    /// Forgets a local socket; true if it was the user's last on this instance.
    pub fn socket_disconnected(&self, user: Uuid) -> bool {
        let mut state = self.state();
        match state.local.get_mut(&user) {
            Some((count, _)) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                state.local.remove(&user);
                true
            }
            None => false,
        }
    }

    /// Hands whether the user has a socket here, and the announcement's number, to `publish`, under the
    /// lock that changes them, so announcements go out in the order of the changes and of their numbers,
    /// and the last one tells the truth. `publish` must not block (it queues).
    pub fn publish_status(&self, user: Uuid, publish: impl FnOnce(bool, u64)) {
        let mut state = self.state();
        state.version += 1;
        let online = state.local.contains_key(&user);
        if online {
            state.announced.insert(user);
        } else {
            state.announced.remove(&user);
        }
        publish(online, state.version);
    }

    /// Hands the number of the last announcement and how many users have a socket here to `publish`,
    /// under the same lock, so the heartbeat goes out after the announcement it counts.
    pub fn publish_heartbeat(&self, publish: impl FnOnce(u64, usize)) {
        let state = self.state();
        publish(state.version, state.announced.len());
    }

    /// Hands every user announced online from here, and the number of the last announcement, to
    /// `publish`.
    pub fn publish_snapshot(&self, publish: impl FnOnce(u64, Vec<Uuid>)) {
        let state = self.state();
        publish(state.version, state.announced.iter().copied().collect());
    }

    /// Every user with a socket here, forgotten at once: the instance is leaving and announces them
    /// itself, so the disconnects that follow announce nothing more.
    pub fn take_local(&self) -> Vec<Arc<Session>> {
        self.state()
            .local
            .drain()
            .map(|(_, (_, session))| session)
            .collect()
    }

    /// True if some user has a socket here (someone who could be told about others).
    pub fn has_local(&self) -> bool {
        !self.state().local.is_empty()
    }

    /// Applies an instance's announcement (this one's too): the user's new global status if it changed,
    /// and whether to ask that instance for a snapshot.
    pub fn announced(&self, instance: &str, version: u64, user: Uuid, online: bool) -> Heard {
        let mut state = self.state();
        let heard = state
            .directory
            .announced(instance, version, user, online, Instant::now());
        self.refresh_synced(&state);
        heard
    }

    /// Applies an instance's heartbeat; true if that instance's snapshot should be asked for.
    pub fn heartbeat(&self, instance: &str, version: u64) -> bool {
        let mut state = self.state();
        let ask = state.directory.heartbeat(instance, version, Instant::now());
        self.refresh_synced(&state);
        ask
    }

    /// Applies an instance's snapshot; returns the users whose global status changed.
    pub fn snapshot(&self, instance: &str, version: u64, users: HashSet<Uuid>) -> Vec<Change> {
        let mut state = self.state();
        let changes = state
            .directory
            .snapshot(instance, version, users, Instant::now());
        self.refresh_synced(&state);
        changes
    }

    /// Forgets the instances that stopped answering; returns their users who are now online nowhere.
    pub fn expire(&self) -> Vec<Uuid> {
        let mut state = self.state();
        let offline = state.directory.expire(Instant::now());
        self.refresh_synced(&state);
        offline
    }

    pub fn is_online(&self, user: Uuid) -> bool {
        self.state().directory.is_online(user)
    }

    /// True once [`Presence::wait_synced`] would return at once.
    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }

    /// Waits until this instance knows who is online everywhere: it has heard itself (its queue is
    /// bound), then a whole heartbeat interval has passed (every live instance has been heard), and
    /// every snapshot it wanted has arrived. A new instance answers who is online only then; if that
    /// takes much longer than a round (the broker is away), it answers with what it knows.
    pub async fn wait_synced(&self) {
        let mut synced = self.synced.subscribe();
        let within = self.heartbeat + ROUND_MARGIN + SYNC_PATIENCE;
        let _ = tokio::time::timeout(within, synced.wait_for(|synced| *synced)).await;
    }

    /// Notes whether this instance is synced now (called after each change, and by the liveness task's
    /// ticks, since time alone can make it so).
    pub fn refresh(&self) {
        let state = self.state();
        self.refresh_synced(&state);
    }

    fn refresh_synced(&self, state: &State) {
        if *self.synced.borrow() {
            return;
        }
        let round_heard = state
            .directory
            .listening_since()
            .is_some_and(|since| since.elapsed() >= self.heartbeat + ROUND_MARGIN);
        if round_heard && !state.directory.incomplete() {
            self.synced.send_replace(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: Uuid) -> Arc<Session> {
        Arc::new(Session {
            token: String::new(),
            user_id: user,
            user_name: "Alice".into(),
            user_type: jwt::UserType::Student,
        })
    }

    fn presence() -> Presence {
        Presence::new("a", Duration::from_secs(5), Duration::from_secs(12))
    }

    #[test]
    fn only_the_first_and_last_local_socket_count() {
        let presence = presence();
        let user = Uuid::new_v4();
        assert!(presence.socket_connected(&session(user)));
        assert!(!presence.socket_connected(&session(user)));
        assert!(!presence.socket_disconnected(user));
        assert!(presence.socket_disconnected(user));
        assert!(
            !presence.socket_disconnected(user),
            "an unknown user is not counted below zero"
        );
    }

    #[test]
    fn a_departing_instance_takes_its_users_once() {
        let presence = presence();
        let user = Uuid::new_v4();
        presence.socket_connected(&session(user));
        presence.socket_connected(&session(user));
        let departing: Vec<Uuid> = presence.take_local().iter().map(|s| s.user_id).collect();
        assert_eq!(departing, [user]);
        assert!(
            !presence.socket_disconnected(user),
            "the disconnect after departure announces nothing"
        );
    }

    #[test]
    fn the_status_published_is_the_status_now() {
        let presence = presence();
        let user = Uuid::new_v4();
        presence.socket_connected(&session(user));
        presence.socket_disconnected(user);
        // The connect's announcement finishing last still says what is true now.
        let mut published = None;
        presence.publish_status(user, |online, version| published = Some((online, version)));
        assert_eq!(published, Some((false, 1)));
        presence.publish_heartbeat(|version, users| published = Some((users > 0, version)));
        assert_eq!(
            published,
            Some((false, 1)),
            "the heartbeat counts the announcement"
        );
    }
}
