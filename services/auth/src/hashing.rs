//! Password hashing with Argon2id.
//!
//! Parameters follow OWASP's recommendation for Argon2id: 19 MiB of memory, 2 passes, 1 lane (about
//! 20-40 ms of one core here in release builds). They are stored in each PHC hash string, so raising them
//! later only affects new hashes.
//!
//! Hashing is CPU-bound, so it runs on Tokio's blocking threads, never on the async workers that serve
//! other requests. At most `concurrency` run at once; up to [`QUEUE_PER_PERMIT`] per permit may wait, and
//! beyond that callers are told to come back later instead of piling up memory and latency.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::AuthError;

const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;
const QUEUE_PER_PERMIT: usize = 64;

#[derive(Clone)]
pub struct PasswordHasher {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    /// Verified against when the email is unknown, so that case costs what a wrong password costs.
    decoy_hash: Arc<str>,
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
    pub fn new(concurrency: usize) -> Result<Self, AuthError> {
        let concurrency = concurrency.max(1);
        Ok(Self {
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency * (QUEUE_PER_PERMIT + 1))),
            decoy_hash: hash_now("decoy password never assigned to anyone")?.into(),
        })
    }

    pub async fn hash(&self, password: SecretString) -> Result<String, AuthError> {
        self.run(move || hash_now(password.expose_secret())).await?
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) it does the same work and
    /// answers false.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = self
            .run(move || {
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

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _admitted = self.admitted.try_acquire().map_err(|_| {
            metrics::counter!("auth_password_hash_rejected_total").increment(1);
            AuthError::Busy
        })?;
        let _running = self
            .running
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("hasher closed".into()))?;
        metrics::counter!("auth_password_hashes_total").increment(1);
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))
    }
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
        let held = hasher
            .admitted
            .clone()
            .acquire_many_owned(hasher.admitted.available_permits() as u32)
            .await;
        let outcome = hasher.hash(secret("any password")).await;
        assert!(matches!(outcome, Err(AuthError::Busy)), "{outcome:?}");
        drop(held);
        assert!(hasher.hash(secret("any password")).await.is_ok());
    }
}
