//! Rate limits, as every service writes and applies them: a [`Rate`] read from the environment
//! (`10/s`, `10/s:30`, `5/15min`), the `RATE_LIMITS` switch ([`RateLimits`]), and a [`KeyedLimiter`]
//! (governor's GCRA, kept in process memory) that answers "go" or "come back in so long".
//!
//! Limits kept here hold per process: two replicas each allow the full rate. Limits that must hold for
//! the whole deployment (sign-in failures) keep their counters in the service's database instead.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{Env, Environment, Error};

/// How often idle keys are forgotten: a key whose allowance is whole again holds nothing worth keeping.
const FORGET_IDLE_EVERY: Duration = Duration::from_secs(60);

/// `count` events per `period`, with up to `burst` at once (`count` unless written otherwise).
///
/// Written `COUNT/PERIOD[:BURST]`, where PERIOD is `s`, `min` or `h`, optionally preceded by a number:
/// `10/s:30` is ten a second with bursts of thirty, `5/15min` five per fifteen minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub period: Duration,
    pub burst: NonZeroU32,
}

impl Rate {
    /// `count` per second, in bursts of up to `burst`. Zero counts are raised to one.
    pub const fn per_second(count: u32, burst: u32) -> Self {
        Self::new(count, Duration::from_secs(1), burst)
    }

    /// `count` per `period`, in bursts of up to `count`.
    pub const fn per(count: u32, period: Duration) -> Self {
        Self::new(count, period, count)
    }

    const fn new(count: u32, period: Duration, burst: u32) -> Self {
        let one = NonZeroU32::MIN;
        Self {
            count: match NonZeroU32::new(count) {
                Some(count) => count,
                None => one,
            },
            period,
            burst: match NonZeroU32::new(burst) {
                Some(burst) => burst,
                None => one,
            },
        }
    }

    /// The same rate as governor's quota: one unit back every `period / count`, `burst` at most.
    pub fn quota(&self) -> Quota {
        let interval = self.period / self.count.get();
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.burst)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        let period = match secs {
            1 => "s".to_owned(),
            60 => "min".to_owned(),
            3600 => "h".to_owned(),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}min", s / 60),
            s => format!("{s}s"),
        };
        write!(f, "{}/{period}", self.count)?;
        if self.burst != self.count {
            write!(f, ":{}", self.burst)?;
        }
        Ok(())
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let shape =
            || format!("expected COUNT/PERIOD[:BURST] such as 10/s:30 or 5/15min, got {text:?}");
        let (count, rest) = text.trim().split_once('/').ok_or_else(shape)?;
        let (period, burst) = match rest.split_once(':') {
            Some((period, burst)) => (period, Some(burst)),
            None => (rest, None),
        };
        let positive = |n: &str| n.trim().parse::<NonZeroU32>().map_err(|_| shape());
        let count = positive(count)?;
        let burst = burst.map(positive).transpose()?.unwrap_or(count);
        let period = period.trim();
        let digits = period
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(shape)?;
        let (times, unit) = period.split_at(digits);
        let times: u64 = if times.is_empty() {
            1
        } else {
            times.parse().map_err(|_| shape())?
        };
        let unit = match unit {
            "s" => 1,
            "min" | "m" => 60,
            "h" => 3600,
            _ => return Err(shape()),
        };
        if times == 0 {
            return Err(shape());
        }
        Ok(Self {
            count,
            period: Duration::from_secs(times.saturating_mul(unit)),
            burst,
        })
    }
}

/// `RATE_LIMITS`: `on` (the default) or `off`. Off turns every rate limit off, for benchmarks and load
/// tests, and is refused in production; size and count caps stay on either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimits {
    On,
    Off,
}

impl RateLimits {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let switch = match env.get("RATE_LIMITS").map(str::trim) {
            None => Self::On,
            Some(value) if value.eq_ignore_ascii_case("on") => Self::On,
            Some(value) if value.eq_ignore_ascii_case("off") => Self::Off,
            Some(_) => {
                return Err(Error::Invalid {
                    name: "RATE_LIMITS",
                    reason: "expected on or off".into(),
                });
            }
        };
        if switch == Self::Off && env.environment()? == Environment::Production {
            return Err(Error::Invalid {
                name: "RATE_LIMITS",
                reason: "cannot be off in production".into(),
            });
        }
        Ok(switch)
    }

    pub fn on(self) -> bool {
        self == Self::On
    }

    /// A rate from `name` (or `default`), or none at all when rate limits are off.
    pub fn rate(self, env: &Env, name: &'static str, default: Rate) -> Result<Option<Rate>, Error> {
        let rate = env.parse_or(name, default)?;
        Ok(self.on().then_some(rate))
    }
}

/// A rate limit per key (a user, an address), in process memory. Keys that have been quiet long enough
/// to have their whole allowance back are forgotten every minute, so memory follows the users who are
/// active, not every user ever seen.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> KeyedLimiter<K> {
    /// The limiter, with a task (on the current Tokio runtime) that forgets idle keys for as long as
    /// the limiter lives.
    pub fn new(rate: Rate) -> Arc<Self> {
        let limiter = Arc::new(Self::without_cleanup(rate));
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(forget_idle(weak));
        limiter
    }

    /// The limiter alone: idle keys are forgotten only by [`Self::forget_idle`].
    pub fn without_cleanup(rate: Rate) -> Self {
        Self {
            limiter: RateLimiter::keyed(rate.quota()),
        }
    }

    /// `Ok` if `key` may go now (which uses one of its allowance); else how long until it may.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Forgets every key whose allowance is whole again (checking it afresh gives the same answer).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

async fn forget_idle<K: Hash + Eq + Clone + Send + Sync + 'static>(limiter: Weak<KeyedLimiter<K>>) {
    let mut every = tokio::time::interval(FORGET_IDLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        match limiter.upgrade() {
            Some(limiter) => limiter.forget_idle(),
            None => return,
        }
    }
}

/// Whole milliseconds to wait, rounded up so that a client waiting exactly that long is let through.
pub fn millis_ceil(wait: Duration) -> u64 {
    let nanos = wait.as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// Whole seconds to wait (for `Retry-After`), rounded up, at least one.
pub fn seconds_ceil(wait: Duration) -> u64 {
    let nanos = wait.as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_written() {
        let rate: Rate = "10/s:30".parse().expect("valid");
        assert_eq!(rate, Rate::per_second(10, 30));
        assert_eq!(rate.to_string(), "10/s:30");
        let login: Rate = "5/15min".parse().expect("valid");
        assert_eq!(login, Rate::per(5, Duration::from_secs(900)));
        assert_eq!(login.to_string(), "5/15min");
        assert_eq!(
            "60/h".parse::<Rate>(),
            Ok(Rate::per(60, Duration::from_secs(3600)))
        );
        for wrong in ["", "10", "0/s", "10/s:0", "10/week", "-1/s", "10/0s", "x/s"] {
            assert!(wrong.parse::<Rate>().is_err(), "{wrong:?} accepted");
        }
    }

    #[test]
    fn off_is_refused_in_production_only() {
        let mut env = Env::from_pairs([("RATE_LIMITS", "off")]);
        assert_eq!(RateLimits::from_env(&env).expect("dev"), RateLimits::Off);
        env.set("NODE_ENV", "production");
        let error = RateLimits::from_env(&env).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "invalid environment variable RATE_LIMITS: cannot be off in production"
        );
        assert_eq!(
            RateLimits::from_env(&Env::default()).expect("default"),
            RateLimits::On
        );
        let off = RateLimits::Off;
        assert_eq!(
            off.rate(&env, "ANY", Rate::per_second(1, 1)).expect("read"),
            None
        );
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = KeyedLimiter::without_cleanup(Rate::per_second(10, 3));
        for _ in 0..3 {
            assert_eq!(limiter.check(&"alice"), Ok(()));
        }
        let wait = limiter.check(&"alice").expect_err("over the burst");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(limiter.check(&"bob"), Ok(()));
        assert_eq!(millis_ceil(Duration::from_micros(1500)), 2);
        assert_eq!(seconds_ceil(Duration::from_millis(10)), 1);
    }

    #[test]
    fn idle_keys_are_forgotten() {
        // A million a second: any key is whole again within a microsecond.
        let limiter = KeyedLimiter::without_cleanup(Rate::per_second(1_000_000, 1));
        for user in 0..100 {
            assert_eq!(limiter.check(&user), Ok(()));
        }
        assert_eq!(limiter.len(), 100);
        std::thread::sleep(Duration::from_millis(2));
        limiter.forget_idle();
        assert!(limiter.is_empty(), "{} keys left", limiter.len());
    }
}
