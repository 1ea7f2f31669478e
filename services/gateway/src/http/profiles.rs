//! The callers' own profiles, as `GET /users/me` last read them from auth, kept for [`PROFILE_TTL`].
//!
//! Without it every `GET /users/me` costs a gRPC call to auth and two Postgres queries (auth checks the
//! token's revocation in its tables, then reads the row), most of the route's CPU. With it a repeated
//! read is answered here, after the same checks of the caller as every route: the token verified and
//! looked up in the revocations (see [`super::Caller`]).
//!
//! What users see stays correct:
//! - a change made through this gateway (`PATCH`/`DELETE /users/me`) drops the entry when auth has
//!   answered, and a read that started before the change is not kept ([`Profiles::fill`]), so the next
//!   read shows the change;
//! - a revocation heard from the broker (logout, password or email change, deleted account) drops the
//!   user's entry, and a deleted account's tokens are refused (401) as soon as its revocation arrives,
//!   within a second, before any cached profile is looked at;
//! - a change made through another gateway instance, which sends no event (a new name or type), shows
//!   here after at most [`PROFILE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use junqo_proto::auth::v1::User;
use revocation::{Change, Revocations};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

/// How long a profile read from auth is served; the same bound as a revocation's propagation.
pub const PROFILE_TTL: Duration = Duration::from_secs(1);
/// Past this many users the expired entries are swept, and if all are fresh, all are dropped: the cache
/// never holds more than this, whatever the traffic.
const CAPACITY: usize = 65_536;

pub struct Profiles {
    ttl: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Uuid, (User, Instant)>,
    /// Moves on at every invalidation: a read from auth that began before one may predate the change,
    /// so it is not kept.
    generation: u64,
}

impl Profiles {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a plain map behind, still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user's profile, if read from auth less than the TTL ago.
    pub fn get(&self, user: Uuid) -> Option<User> {
        let inner = self.lock();
        let (profile, read_at) = inner.entries.get(&user)?;
        (read_at.elapsed() < self.ttl).then(|| profile.clone())
    }

    /// Taken before asking auth, and handed to [`Self::fill`] with its answer.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps what auth answered, unless something was invalidated since `seen` was taken.
    pub fn fill(&self, user: Uuid, profile: User, seen: u64) {
        let mut inner = self.lock();
        if inner.generation != seen {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            let ttl = self.ttl;
            inner
                .entries
                .retain(|_, (_, read_at)| read_at.elapsed() < ttl);
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
        }
        inner.entries.insert(user, (profile, Instant::now()));
    }

    /// The user's profile changed, or may have: the next read asks auth.
    pub fn forget(&self, user: Uuid) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.remove(&user);
    }

    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
    }

    /// Drops the profile of every user whose tokens are revoked, as the revocations hear of it; ends
    /// when the revocations are dropped. Spawn it once per gateway.
    pub async fn follow(self: std::sync::Arc<Self>, revocations: Revocations) {
        let mut changes = revocations.subscribe();
        drop(revocations);
        loop {
            match changes.recv().await {
                Ok(Change::AllBefore { user, .. } | Change::Token { user, .. }) => {
                    self.forget(user)
                }
                Ok(Change::Reloaded) | Err(RecvError::Lagged(_)) => self.forget_all(),
                Err(RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> User {
        User {
            id: Uuid::nil().to_string(),
            name: name.to_owned(),
            ..User::default()
        }
    }

    #[test]
    fn a_read_is_served_within_the_ttl_only() {
        let user = Uuid::new_v4();
        let profiles = Profiles::new(PROFILE_TTL);
        assert!(profiles.get(user).is_none());
        profiles.fill(user, profile("Alice"), profiles.generation());
        assert_eq!(profiles.get(user).map(|p| p.name), Some("Alice".into()));
        // Past its TTL (here at once) a profile is asked from auth again.
        let expired = Profiles::new(Duration::ZERO);
        expired.fill(user, profile("Alice"), expired.generation());
        assert!(expired.get(user).is_none());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_kept() {
        let profiles = Profiles::new(PROFILE_TTL);
        let user = Uuid::new_v4();
        let seen = profiles.generation();
        // The change lands while the read is on its way to auth.
        profiles.forget(user);
        profiles.fill(user, profile("Old name"), seen);
        assert!(profiles.get(user).is_none());
        profiles.fill(user, profile("New name"), profiles.generation());
        assert_eq!(profiles.get(user).map(|p| p.name), Some("New name".into()));
        profiles.forget(user);
        assert!(profiles.get(user).is_none());
    }
}
