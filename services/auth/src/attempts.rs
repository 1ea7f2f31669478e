//! Sign-in and sign-up limits that hold for the whole deployment: the counters live in Postgres
//! (`auth.attempts`), so every auth replica sees the same counts. Each counter runs over a fixed window
//! that starts with its first attempt; once it is full, the same kind of attempt is refused
//! ([`AuthError::TooManyAttempts`], a 429 with `Retry-After` at the gateway) until the window ends.
//!
//! - Sign-in failures per account (`AUTH_SIGN_IN_FAILURES_PER_ACCOUNT`, 5 per 15 minutes): guessing one
//!   user's password is slow. A successful sign-in clears the account's count.
//! - Sign-in failures per client address (`AUTH_SIGN_IN_FAILURES_PER_ADDRESS`, 100 per 15 minutes): one
//!   address trying many accounts is slow, while a classroom behind one NAT address mistyping passwords
//!   stays far below it.
//! - Sign-ups per client address (`AUTH_SIGN_UPS_PER_ADDRESS`, 60 per hour): a class signing up together.

use std::net::IpAddr;
use std::time::Duration;

use platform::rate::Rate;
use sqlx::PgPool;

use crate::AuthError;
use crate::domain::Email;

/// Ended windows are deleted this often.
const CLEAN_EVERY: Duration = Duration::from_secs(600);

pub const DEFAULT_FAILURES_PER_ACCOUNT: Rate = Rate::per(5, Duration::from_secs(15 * 60));
pub const DEFAULT_FAILURES_PER_ADDRESS: Rate = Rate::per(100, Duration::from_secs(15 * 60));
pub const DEFAULT_SIGN_UPS_PER_ADDRESS: Rate = Rate::per(60, Duration::from_secs(3600));

/// The three limits; each `None` when `RATE_LIMITS=off`.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    pub failures_per_account: Option<Rate>,
    pub failures_per_address: Option<Rate>,
    pub sign_ups_per_address: Option<Rate>,
}

#[derive(Clone)]
pub struct Attempts {
    pool: PgPool,
    limits: AttemptLimits,
}

impl Attempts {
    pub fn new(pool: PgPool, limits: AttemptLimits) -> Self {
        Self { pool, limits }
    }

    /// Counts a sign-in attempt against the account and the address, refusing it once either window
    /// is full. Counting first (rather than after a failure) keeps concurrent guesses within the limit;
    /// a success then takes its attempt back ([`Self::signed_in`]), so what the windows hold is failures.
    pub async fn before_sign_in(
        &self,
        email: &Email,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        if let Some(rate) = self.limits.failures_per_account {
            self.take(&account_key(email), rate).await?;
        }
        if let (Some(rate), Some(address)) = (self.limits.failures_per_address, address) {
            self.take(&address_key("sign-in", address), rate).await?;
        }
        Ok(())
    }

    /// A successful sign-in clears the account's failures and gives the address its attempt back.
    pub async fn signed_in(&self, email: &Email, address: Option<IpAddr>) -> Result<(), AuthError> {
        if self.limits.failures_per_account.is_some() {
            sqlx::query("DELETE FROM attempts WHERE key = $1")
                .bind(account_key(email))
                .execute(&self.pool)
                .await?;
        }
        if let (Some(_), Some(address)) = (self.limits.failures_per_address, address) {
            sqlx::query("UPDATE attempts SET count = count - 1 WHERE key = $1 AND count > 0")
                .bind(address_key("sign-in", address))
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Counts a sign-up from the address, refusing it once the window is full.
    pub async fn sign_up(&self, address: Option<IpAddr>) -> Result<(), AuthError> {
        match (self.limits.sign_ups_per_address, address) {
            (Some(rate), Some(address)) => self.take(&address_key("sign-up", address), rate).await,
            _ => Ok(()),
        }
    }

    /// One more in the key's window (a new window if the last one ended), in one statement, so that
    /// replicas counting at once all count; refused if that goes past the rate's count.
    async fn take(&self, key: &str, rate: Rate) -> Result<(), AuthError> {
        let (count, seconds_left): (i32, f64) = sqlx::query_as(
            "INSERT INTO attempts AS a (key, count, expires_at) \
             VALUES ($1, 1, now() + make_interval(secs => $2)) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN a.expires_at <= now() THEN 1 ELSE a.count + 1 END, \
               expires_at = CASE WHEN a.expires_at <= now() \
                 THEN now() + make_interval(secs => $2) ELSE a.expires_at END \
             RETURNING count, EXTRACT(EPOCH FROM expires_at - now())::float8",
        )
        .bind(key)
        .bind(rate.period.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        if i64::from(count) <= i64::from(rate.count.get()) {
            return Ok(());
        }
        metrics::counter!("auth_attempts_refused_total").increment(1);
        Err(AuthError::TooManyAttempts {
            retry_after: Duration::from_secs_f64(seconds_left.max(0.0)),
        })
    }

    /// Deletes ended windows every ten minutes, for as long as the pool is open.
    pub fn spawn_clean_up(&self) {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CLEAN_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !pool.is_closed() {
                every.tick().await;
                if let Err(error) = sqlx::query("DELETE FROM attempts WHERE expires_at <= now()")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(%error, "ended attempt windows not deleted this time");
                }
            }
        });
    }
}

fn account_key(email: &Email) -> String {
    format!("sign-in:account:{}", email.as_str().to_lowercase())
}

fn address_key(kind: &str, address: IpAddr) -> String {
    format!("{kind}:address:{address}")
}
