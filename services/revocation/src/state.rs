//! The in-memory revocation state and the rule that applies it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use jwt::Claims;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// A change applied to the state, as realtime needs to hear it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Every token of `user` issued before `valid_after` (seconds) is revoked.
    AllBefore { user: Uuid, valid_after: i64 },
    /// One token of `user`.
    Token { user: Uuid, jti: Uuid },
    /// The whole state was reloaded: anything may have changed.
    Reloaded,
}

#[derive(Debug, Default)]
struct Inner {
    /// user -> first valid `iat` (seconds).
    cutoffs: HashMap<Uuid, i64>,
    /// jti -> the token's expiry (seconds), after which remembering it is useless.
    tokens: HashMap<Uuid, i64>,
    /// Expired entries are dropped when this many changes have been applied since the last sweep.
    since_prune: usize,
}

/// The shared handle: cheap to clone, read on every request.
#[derive(Clone)]
pub struct Revocations {
    inner: Arc<RwLock<Inner>>,
    changes: broadcast::Sender<Change>,
    /// Whether a snapshot from auth was loaded at least once: before that, nothing can be trusted.
    loaded: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for Revocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocations").finish_non_exhaustive()
    }
}

impl Default for Revocations {
    fn default() -> Self {
        Self::new()
    }
}

const PRUNE_EVERY: usize = 1024;

/// Whether a token issued at `iat` is refused by a cutoff (see auth's `revocation` module: the cutoff
/// is the first whole second whose tokens are valid).
pub fn refused_by_cutoff(iat: i64, valid_after: i64) -> bool {
    iat < valid_after
}

impl Revocations {
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            changes: broadcast::channel(1024).0,
            loaded: Arc::new(watch::channel(false).0),
        }
    }

    /// Whether the state was loaded from auth at least once. A service answers 503 (and is not ready)
    /// until then, rather than accept a token it cannot know to be revoked.
    pub fn is_loaded(&self) -> bool {
        *self.loaded.borrow()
    }

    /// Waits until the state is loaded, at most `within`; whether it is.
    pub async fn wait_loaded(&self, within: std::time::Duration) -> bool {
        let mut loaded = self.loaded.subscribe();
        tokio::time::timeout(within, loaded.wait_for(|loaded| *loaded))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind, still usable.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether verified claims were revoked: by their user's cutoff or by their id.
    pub fn is_revoked(&self, claims: &Claims) -> bool {
        let inner = self.read();
        inner
            .cutoffs
            .get(&claims.sub)
            .is_some_and(|cutoff| refused_by_cutoff(claims.iat, *cutoff))
            || claims
                .jti
                .is_some_and(|jti| inner.tokens.contains_key(&jti))
    }

    /// Hears every change applied from now on. A receiver that lags behind gets `Lagged`, and should
    /// treat it as [`Change::Reloaded`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Applies a cutoff; a cutoff never moves backwards.
    pub fn revoke_all_before(&self, user: Uuid, valid_after: i64) {
        {
            let mut inner = self.write();
            let cutoff = inner.cutoffs.entry(user).or_insert(valid_after);
            *cutoff = (*cutoff).max(valid_after);
            inner.maybe_prune();
        }
        let _ = self.changes.send(Change::AllBefore { user, valid_after });
    }

    /// Applies one revoked token, remembered until `expires_at` (seconds).
    pub fn revoke_token(&self, user: Uuid, jti: Uuid, expires_at: i64) {
        {
            let mut inner = self.write();
            inner.tokens.insert(jti, expires_at);
            inner.maybe_prune();
        }
        let _ = self.changes.send(Change::Token { user, jti });
    }

    /// Adds a snapshot read from auth. Entries are only ever added (merged), never removed by a reload:
    /// a revocation heard from the broker just before the snapshot was read is kept either way.
    pub fn load(&self, cutoffs: Vec<(Uuid, i64)>, tokens: Vec<(Uuid, i64)>) {
        {
            let mut inner = self.write();
            for (user, valid_after) in cutoffs {
                let cutoff = inner.cutoffs.entry(user).or_insert(valid_after);
                *cutoff = (*cutoff).max(valid_after);
            }
            inner.tokens.extend(tokens);
            inner.prune();
        }
        self.loaded.send_replace(true);
        let _ = self.changes.send(Change::Reloaded);
    }

    /// How many entries are held (cutoffs, tokens), for metrics and tests.
    pub fn len(&self) -> (usize, usize) {
        let inner = self.read();
        (inner.cutoffs.len(), inner.tokens.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

impl Inner {
    fn maybe_prune(&mut self) {
        self.since_prune += 1;
        if self.since_prune >= PRUNE_EVERY {
            self.prune();
        }
    }

    /// Drops revoked tokens past their expiry. Cutoffs are kept: one per user who ever revoked since
    /// this process started is small, and auth's snapshot leaves out the old ones on the next reload.
    fn prune(&mut self) {
        let now = Utc::now().timestamp();
        self.tokens.retain(|_, expires_at| *expires_at > now);
        self.since_prune = 0;
    }
}

#[cfg(test)]
mod tests {
    use jwt::UserType;

    use super::*;

    fn claims(user: Uuid, iat: i64, jti: Option<Uuid>) -> Claims {
        Claims {
            sub: user,
            user_name: "Alice".into(),
            user_type: UserType::Student,
            email: "alice@example.com".into(),
            iat,
            exp: iat + 3600,
            iss: jwt::ISSUER.into(),
            jti,
            nbf: None,
        }
    }

    #[test]
    fn a_cutoff_refuses_older_tokens_of_that_user_only() {
        let state = Revocations::new();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        state.revoke_all_before(alice, 1_000);
        assert!(state.is_revoked(&claims(alice, 999, None)));
        assert!(!state.is_revoked(&claims(alice, 1_000, None)));
        assert!(!state.is_revoked(&claims(bob, 999, None)));
        // Never backwards.
        state.revoke_all_before(alice, 500);
        assert!(state.is_revoked(&claims(alice, 999, None)));
    }

    #[test]
    fn a_revoked_jti_refuses_that_token_only() {
        let state = Revocations::new();
        let alice = Uuid::new_v4();
        let (revoked, other) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc::now().timestamp();
        state.revoke_token(alice, revoked, now + 60);
        assert!(state.is_revoked(&claims(alice, now, Some(revoked))));
        assert!(!state.is_revoked(&claims(alice, now, Some(other))));
    }

    #[test]
    fn expired_token_ids_are_pruned_on_load() {
        let state = Revocations::new();
        let now = Utc::now().timestamp();
        state.load(
            vec![(Uuid::new_v4(), now)],
            vec![(Uuid::new_v4(), now - 1), (Uuid::new_v4(), now + 60)],
        );
        assert_eq!(state.len(), (1, 1));
    }

    #[test]
    fn subscribers_hear_each_change() {
        let state = Revocations::new();
        let mut changes = state.subscribe();
        let (user, jti) = (Uuid::new_v4(), Uuid::new_v4());
        state.revoke_token(user, jti, i64::MAX);
        state.revoke_all_before(user, 7);
        state.load(Vec::new(), Vec::new());
        assert_eq!(changes.try_recv().ok(), Some(Change::Token { user, jti }));
        assert_eq!(
            changes.try_recv().ok(),
            Some(Change::AllBefore {
                user,
                valid_after: 7
            })
        );
        assert_eq!(changes.try_recv().ok(), Some(Change::Reloaded));
    }
}
