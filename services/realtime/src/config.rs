//! Settings of the realtime service. Every variable is documented in the README.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use broker::{EventShards, Exchanges};
use platform::rate::{Rate, RateLimits};
use platform::service::Limits;
use platform::telemetry::LogFormat;
use platform::{Env, Environment};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub jwt_secret: SecretString,
    pub conversations_url: String,
    /// Where the revocations are loaded from at start (and after a broker reconnect).
    pub auth_url: String,
    /// How long start-up waits for the revocations before giving up.
    pub revocations_load_timeout: Duration,
    pub rabbitmq_url: SecretString,
    pub exchanges: Exchanges,
    /// `EVENT_SHARDS`: the shards durable events are published to; the same on every replica of
    /// conversations and realtime.
    pub event_shards: EventShards,
    /// `None`: every origin may connect (browsers polling from another origin need this).
    pub cors_origins: Option<Vec<String>>,
    /// The largest Socket.IO packet a client may send; a larger one closes that client's connection.
    pub max_payload_bytes: usize,
    /// Header-read and idle timeouts and the connection cap of the Socket.IO listener.
    pub limits: Limits,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long "is typing" lasts without a new startTyping.
    pub typing_timeout: Duration,
    /// Per-user event rates and the per-socket caps.
    pub socket_limits: SocketLimits,
    /// How often this instance tells the others it is alive (`PRESENCE_HEARTBEAT_MS`).
    pub presence_heartbeat: Duration,
    /// How long an instance may stay silent before its users are taken offline (`PRESENCE_EXPIRY_MS`).
    pub presence_expiry: Duration,
    /// How long the broker keeps this instance's event queue once its connection is lost
    /// (`EVENT_QUEUE_EXPIRES_MS`).
    pub event_queue_expires: Duration,
}

/// The rate variables of client events, with their defaults: each event names one in its descriptor
/// ([`crate::events::Limit`]). Events sharing a variable still count apart.
pub const EVENT_RATES: [(&str, Rate); 5] = [
    // A fast typist sends a message a second; a burst lets a client flush what it queued offline.
    ("SOCKET_RATE_SEND_MESSAGE", Rate::per_second(10, 30)),
    // Per conversation: a client sends startTyping at most every few keystrokes.
    ("SOCKET_RATE_TYPING", Rate::per_second(2, 2)),
    // A reconnecting client joins every conversation it shows at once: the burst covers a long list.
    ("SOCKET_RATE_JOIN_ROOM", Rate::per_second(20, 50)),
    ("SOCKET_RATE_MARK_READ", Rate::per_second(20, 20)),
    // Each page is a database query; scrolling back fetches a page at a time.
    ("SOCKET_RATE_HISTORY", Rate::per_second(5, 5)),
];

/// Refused events per socket: a socket refused faster than this, past the burst, is flooding (several
/// times its limit, for seconds) and is disconnected.
pub const DEFAULT_FLOOD: Rate = Rate::per_second(10, 50);

/// Sockets one user may hold on one instance: every tab and device of a person, with room to spare.
pub const DEFAULT_SOCKETS_PER_USER: usize = 10;
/// Conversations one socket may be in at once: each is a broker binding while any local socket is in
/// it. More than a client shows on a screen, fewer than would make one socket costly.
pub const DEFAULT_ROOMS_PER_SOCKET: usize = 200;

#[derive(Debug, Clone)]
pub struct SocketLimits {
    /// `None` when `RATE_LIMITS=off`.
    pub event_rates: Option<Vec<(&'static str, Rate)>>,
    /// `SOCKET_FLOOD_REFUSALS`; `None` when `RATE_LIMITS=off`.
    pub flood: Option<Rate>,
    /// `SOCKET_MAX_PER_USER`: stays on whatever `RATE_LIMITS` says.
    pub sockets_per_user: usize,
    /// `SOCKET_MAX_ROOMS`: stays on whatever `RATE_LIMITS` says.
    pub rooms_per_socket: usize,
}

impl SocketLimits {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let switch = RateLimits::from_env(env)?;
        let event_rates = if switch.on() {
            let mut rates = Vec::with_capacity(EVENT_RATES.len());
            for (name, default) in EVENT_RATES {
                rates.push((name, env.parse_or(name, default)?));
            }
            Some(rates)
        } else {
            None
        };
        Ok(Self {
            event_rates,
            flood: switch.rate(env, "SOCKET_FLOOD_REFUSALS", DEFAULT_FLOOD)?,
            sockets_per_user: env.parse_or("SOCKET_MAX_PER_USER", DEFAULT_SOCKETS_PER_USER)?,
            rooms_per_socket: env.parse_or("SOCKET_MAX_ROOMS", DEFAULT_ROOMS_PER_SOCKET)?,
        })
    }

    /// The rate of the event rate variable `name`; `None` when rate limits are off.
    pub fn event_rate(&self, name: &str) -> Option<Rate> {
        self.event_rates
            .as_ref()?
            .iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, rate)| *rate)
    }
}

/// The broker refuses a queue expiry of zero.
fn event_queue_expires(env: &Env) -> Result<Duration, platform::Error> {
    let millis: u64 = env.parse_or("EVENT_QUEUE_EXPIRES_MS", 30_000)?;
    if millis == 0 {
        return Err(platform::Error::Invalid {
            name: "EVENT_QUEUE_EXPIRES_MS",
            reason: "must be above 0".to_owned(),
        });
    }
    Ok(Duration::from_millis(millis))
}

impl RealtimeConfig {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let environment = env.environment()?;
        let bind: IpAddr = env.parse_or("BIND_ADDRESS", IpAddr::from([0, 0, 0, 0]))?;
        let presence_heartbeat =
            Duration::from_millis(env.parse_or("PRESENCE_HEARTBEAT_MS", 5_000)?);
        let presence_expiry = Duration::from_millis(env.parse_or("PRESENCE_EXPIRY_MS", 12_000)?);
        // One lost heartbeat must not take an instance for dead, and an instance judges others only
        // while it hears its own heartbeats at less than half the expiry.
        if presence_heartbeat.is_zero() || presence_expiry <= presence_heartbeat * 2 {
            return Err(platform::Error::Invalid {
                name: "PRESENCE_EXPIRY_MS",
                reason: "must be more than twice PRESENCE_HEARTBEAT_MS (which must be above 0)"
                    .to_owned(),
            });
        }
        Ok(Self {
            environment,
            log_format: LogFormat::from_env(env)?,
            listen: SocketAddr::new(bind, env.parse_or("REALTIME_PORT", 3001)?),
            jwt_secret: env.jwt_secret()?,
            conversations_url: env.string_or("CONVERSATIONS_URL", "http://127.0.0.1:50052"),
            auth_url: env.string_or("AUTH_URL", "http://127.0.0.1:50051"),
            revocations_load_timeout: Duration::from_secs(
                env.parse_or("REVOCATIONS_LOAD_TIMEOUT_SECONDS", 30)?,
            ),
            rabbitmq_url: env
                .secret("RABBITMQ_URL", "RABBITMQ_URL_FILE")?
                .unwrap_or_else(|| SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f")),
            exchanges: broker::exchanges_from(|name, default| env.string_or(name, default)),
            event_shards: EventShards::from_env(|name, default| env.parse_or(name, default))?,
            cors_origins: env.cors_origins()?,
            // A 10,000-character message fits with its JSON envelope, even with every character escaped
            // (6 bytes each); a larger packet only makes the server buffer and parse more.
            max_payload_bytes: env.parse_or("SOCKET_MAX_PAYLOAD_BYTES", 64 * 1024)?,
            limits: Limits::from_env(env)?,
            ping_interval: Duration::from_millis(env.parse_or("SOCKET_PING_INTERVAL_MS", 25_000)?),
            ping_timeout: Duration::from_millis(env.parse_or("SOCKET_PING_TIMEOUT_MS", 20_000)?),
            typing_timeout: Duration::from_millis(env.parse_or("TYPING_TIMEOUT_MS", 5_000)?),
            socket_limits: SocketLimits::from_env(env)?,
            presence_heartbeat,
            presence_expiry,
            event_queue_expires: event_queue_expires(env)?,
        })
    }
}
