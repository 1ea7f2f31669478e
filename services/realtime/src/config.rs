//! Settings of the realtime service. Every variable is documented in the README.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use broker::Exchanges;
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
}

impl RealtimeConfig {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let environment = env.environment()?;
        let bind: IpAddr = env.parse_or("BIND_ADDRESS", IpAddr::from([0, 0, 0, 0]))?;
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
            cors_origins: env.cors_origins()?,
            // A 10,000-character message fits with its JSON envelope, even with every character escaped
            // (6 bytes each); a larger packet only makes the server buffer and parse more.
            max_payload_bytes: env.parse_or("SOCKET_MAX_PAYLOAD_BYTES", 64 * 1024)?,
            limits: Limits::from_env(env)?,
            ping_interval: Duration::from_millis(env.parse_or("SOCKET_PING_INTERVAL_MS", 25_000)?),
            ping_timeout: Duration::from_millis(env.parse_or("SOCKET_PING_TIMEOUT_MS", 20_000)?),
            typing_timeout: Duration::from_millis(env.parse_or("TYPING_TIMEOUT_MS", 5_000)?),
        })
    }
}
