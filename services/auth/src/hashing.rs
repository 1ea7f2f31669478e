//! Password hashing with Argon2id.
//!
//! Parameters follow OWASP's recommendation for Argon2id: 19 MiB of memory, 2 passes, 1 lane (about
//! 20-40 ms of one core here in release builds). They are stored in each PHC hash string, so raising them
//! later only affects new hashes.
//!
//! Hashing is CPU-bound and memory-hungry, so it runs on a fixed pool of `concurrency` threads of its own,
//! never on the async workers that serve other requests. A fixed pool also bounds memory: each thread
//! reuses its own 19 MiB, where Tokio's blocking pool would spread hashes over many threads that each keep
//! their allocator arena. Up to [`QUEUE_PER_THREAD`] jobs per thread may wait; beyond that callers are told
//! to come back later instead of piling up memory and latency.
//!
//! One client address may hold at most a [`SHARE_DIVISOR`]th of the queue at once (jobs waiting or
//! running), so a single address flooding sign-ins fills its share and is refused, while everyone
//! else's sign-ins still find room. Internal callers (no client address) are not counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use crate::AuthError;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const QUEUE_PER_THREAD: usize = 64;
/// A quarter: a classroom behind one address signing in at once (a few dozen) still fits on a
/// two-thread pool, and three other addresses can never be crowded out.
const SHARE_DIVISOR: usize = 4;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    jobs: SyncSender<Job>,
    /// Verified against when the email is unknown, so that case costs what a wrong password costs.
    decoy_hash: Arc<str>,
    /// Jobs each client address has queued or running.
    shares: Arc<Shares>,
}

struct Shares {
    held: Mutex<HashMap<IpAddr, usize>>,
    /// The most one address may hold.
    each: usize,
}

/// One job's place in its address's share, given back when the job ends (or is dropped unrun).
struct SharePlace {
    shares: Arc<Shares>,
    address: IpAddr,
}

impl Shares {
    fn take(self: &Arc<Self>, address: IpAddr) -> Option<SharePlace> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(address).or_insert(0);
        if *count >= self.each {
            return None;
        }
        *count += 1;
        Some(SharePlace {
            shares: self.clone(),
            address,
        })
    }
}

impl Drop for SharePlace {
    fn drop(&mut self) {
        let mut held = self
            .shares
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None)
        .expect("the Argon2 parameters are constants within range");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_now(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AuthError::Internal(format!("hashing failed: {e}")))
}

impl PasswordHasher {
    /// Starts `concurrency` hashing threads. They end when the last handle is dropped.
    pub fn new(concurrency: usize) -> Result<Self, AuthError> {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = sync_channel::<Job>(concurrency * QUEUE_PER_THREAD);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, never while hashing.
                        let job = match queue.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| AuthError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        let capacity = concurrency * QUEUE_PER_THREAD;
        Ok(Self {
            jobs,
            decoy_hash: hash_now("decoy password never assigned to anyone")?.into(),
            shares: Arc::new(Shares {
                held: Mutex::new(HashMap::new()),
                each: (capacity / SHARE_DIVISOR).max(1),
            }),
        })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AuthError> {
        self.hash_for(None, password).await
    }

    /// [`Self::hash`] on behalf of a client address, within its share.
    pub async fn hash_for(
        &self,
        client: Option<IpAddr>,
        password: SecretString,
    ) -> Result<String, AuthError> {
        self.run_for(client, move || hash_now(password.expose_secret()))
            .await?
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) it does the same work and
    /// answers false.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        self.verify_for(None, password, stored).await
    }

    /// [`Self::verify`] on behalf of a client address, within its share.
    pub async fn verify_for(
        &self,
        client: Option<IpAddr>,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = self
            .run_for(client, move || {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        argon2()
                            .verify_password(password.expose_secret().as_bytes(), &parsed)
                            .is_ok()
                    })
                    .map_err(|e| AuthError::Internal(format!("stored hash unreadable: {e}")))
            })
            .await??;
        Ok(known && matches)
    }

    async fn run_for<T: Send + 'static>(
        &self,
        client: Option<IpAddr>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let place = match client {
            Some(address) => match self.shares.take(address) {
                Some(place) => Some(place),
                None => {
                    metrics::counter!("auth_password_hash_rejected_total").increment(1);
                    return Err(AuthError::Busy);
                }
            },
            None => None,
        };
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            // Held until the work is done.
            let _place = place;
            queue_depth().decrement(1.0);
            let _ = reply.send(work());
        });
        // Counted before it is queued, so a thread that takes it at once never takes the gauge below 0.
        queue_depth().increment(1.0);
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                queue_depth().decrement(1.0);
                metrics::counter!("auth_password_hash_rejected_total").increment(1);
                return Err(AuthError::Busy);
            }
            Err(TrySendError::Disconnected(_)) => {
                queue_depth().decrement(1.0);
                return Err(AuthError::Internal("hashing threads stopped".into()));
            }
        }
        metrics::counter!("auth_password_hashes_total").increment(1);
        answer
            .await
            .map_err(|_| AuthError::Internal("a hashing job was lost".into()))
    }
}

/// `auth_password_hash_queue_depth`: jobs waiting for a hashing thread.
fn queue_depth() -> metrics::Gauge {
    metrics::gauge!("auth_password_hash_queue_depth")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let hasher = PasswordHasher::new(1).expect("hasher builds");
        let hash = hasher.hash(secret("correct horse")).await.expect("hashes");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            hasher
                .verify(secret("correct horse"), Some(hash.clone()))
                .await
                .expect("runs")
        );
        assert!(
            !hasher
                .verify(secret("wrong horse"), Some(hash))
                .await
                .expect("runs")
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_matches() {
        let hasher = PasswordHasher::new(1).expect("hasher builds");
        assert!(
            !hasher
                .verify(secret("decoy password never assigned to anyone"), None)
                .await
                .expect("runs")
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_grown() {
        let hasher = PasswordHasher::new(1).expect("hasher builds");
        // Hold the only thread, then fill the queue behind it.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .run_for(None, move || {
                        let _ = started.send(());
                        let _ = blocked.recv();
                    })
                    .await
            }
        });
        running.await.expect("the blocking job started");
        // Each filler job says when it ran, so the test knows when the queue is empty again.
        let (ran, mut drained) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut queued = 0;
        loop {
            let ran = ran.clone();
            if hasher
                .jobs
                .try_send(Box::new(move || {
                    let _ = ran.send(());
                }))
                .is_err()
            {
                break;
            }
            queued += 1;
        }
        assert_eq!(
            queued, QUEUE_PER_THREAD,
            "the queue holds what it was sized for"
        );
        let outcome = hasher.hash(secret("any password")).await;
        assert!(matches!(outcome, Err(AuthError::Busy)), "{outcome:?}");
        release.send(()).expect("the blocked job waits");
        busy.await.expect("joined").expect("the blocked job ran");
        for _ in 0..queued {
            drained.recv().await.expect("every queued job runs");
        }
        assert!(
            hasher.hash(secret("any password")).await.is_ok(),
            "room again once the queue drains"
        );
    }

    #[tokio::test]
    async fn one_address_cannot_take_the_whole_queue() {
        let hasher = PasswordHasher::new(1).expect("hasher builds");
        let share = hasher.shares.each;
        assert_eq!(share, QUEUE_PER_THREAD / SHARE_DIVISOR);
        // Hold the only thread, so every job below waits in the queue.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel::<()>();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move {
                hasher
                    .run_for(None, move || {
                        let _ = started.send(());
                        let _ = blocked.recv();
                    })
                    .await
            }
        });
        running.await.expect("the blocking job started");
        let flooder: IpAddr = "203.0.113.1".parse().expect("address");
        let waiting: Vec<_> = (0..share)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.run_for(Some(flooder), || ()).await })
            })
            .collect();
        // Until its queued jobs hold the whole share, the flooder's next one may still pass.
        while hasher
            .shares
            .held
            .lock()
            .map_or(0, |h| h.get(&flooder).copied().unwrap_or(0))
            < share
        {
            tokio::task::yield_now().await;
        }
        let refused = hasher.run_for(Some(flooder), || ()).await;
        assert!(matches!(refused, Err(AuthError::Busy)), "{refused:?}");
        // Someone else still gets in line.
        let other: IpAddr = "198.51.100.1".parse().expect("address");
        let queued = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run_for(Some(other), || ()).await }
        });
        release.send(()).expect("the blocked job waits");
        busy.await.expect("joined").expect("ran");
        queued
            .await
            .expect("joined")
            .expect("the other address was served");
        for job in waiting {
            job.await
                .expect("joined")
                .expect("the flooder's share was served");
        }
        assert!(
            hasher.shares.held.lock().is_ok_and(|h| h.is_empty()),
            "every place given back"
        );
    }
}
