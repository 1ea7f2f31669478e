//! Who is online, across instances. Each instance counts its own sockets per user; when a user's first
//! local socket connects (or last one leaves) it announces that on RabbitMQ, and every instance, itself
//! included, applies the announcement here. A user is online while at least one instance has them.
//!
//! An announcement says the user's status as it is when it is published, not as it was when it was
//! decided ([`Presence::publish_status`]): a connect and a disconnect in quick succession start two
//! announcements whose look-ups can finish in either order, and the last one published must be true.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use crate::session::Session;

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Sockets of each user on this instance, and who the user is (to announce them on shutdown).
    local: HashMap<Uuid, (usize, Arc<Session>)>,
    /// The instances on which each user has at least one socket.
    online: HashMap<Uuid, HashSet<String>>,
}

impl Presence {
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

    /// Hands whether the user has a socket here to `publish`, under the lock that changes it, so
    /// announcements go out in the order of the changes and the last one tells the truth. `publish` must
    /// not block (it queues).
    pub fn publish_status(&self, user: Uuid, publish: impl FnOnce(bool)) {
        let state = self.state();
        publish(state.local.contains_key(&user));
    }

    /// Applies an instance's announcement; returns the user's new status if it changed.
    pub fn apply(&self, user: Uuid, instance: &str, online: bool) -> Option<bool> {
        let mut state = self.state();
        let was_online = state.online.get(&user).is_some_and(|i| !i.is_empty());
        if online {
            state
                .online
                .entry(user)
                .or_default()
                .insert(instance.to_owned());
        } else if let Some(instances) = state.online.get_mut(&user) {
            instances.remove(instance);
            if instances.is_empty() {
                state.online.remove(&user);
            }
        }
        let is_online = state.online.contains_key(&user);
        (was_online != is_online).then_some(is_online)
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

    pub fn is_online(&self, user: Uuid) -> bool {
        self.state().online.contains_key(&user)
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

    #[test]
    fn only_the_first_and_last_local_socket_count() {
        let presence = Presence::default();
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
        let presence = Presence::default();
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
        let presence = Presence::default();
        let user = Uuid::new_v4();
        presence.socket_connected(&session(user));
        presence.socket_disconnected(user);
        // The connect's announcement finishing last still says what is true now.
        let mut published = None;
        presence.publish_status(user, |online| published = Some(online));
        assert_eq!(published, Some(false));
    }

    #[test]
    fn a_user_is_online_while_any_instance_has_them() {
        let presence = Presence::default();
        let user = Uuid::new_v4();
        assert_eq!(presence.apply(user, "a", true), Some(true));
        assert_eq!(presence.apply(user, "b", true), None);
        assert_eq!(presence.apply(user, "a", false), None);
        assert!(presence.is_online(user));
        assert_eq!(presence.apply(user, "b", false), Some(false));
        assert!(!presence.is_online(user));
        assert_eq!(
            presence.apply(user, "b", false),
            None,
            "a repeated announcement changes nothing"
        );
    }
}
