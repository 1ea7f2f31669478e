//! Settings of the auth service. Every variable is documented in the README.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use broker::Exchanges;
use platform::rate::RateLimits;
use platform::service::Limits;
use platform::telemetry::LogFormat;
use platform::{DatabaseSettings, Env, Environment};
use secrecy::SecretString;

use crate::attempts::{self, AttemptLimits};

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    /// Health, readiness and metrics over plain HTTP.
    pub admin_listen: SocketAddr,
    pub admin_limits: Limits,
    /// Off in Kubernetes, where an init container runs `migrate` before the service starts.
    pub migrate_on_start: bool,
    pub database: DatabaseSettings,
    pub jwt_secret: SecretString,
    pub token_ttl: Duration,
    /// How many passwords may be hashed or verified at once; the rest queue.
    pub hash_concurrency: usize,
    /// Sign-in failure and sign-up limits ([`crate::attempts`]).
    pub attempt_limits: AttemptLimits,
    /// Where revocations and deleted users are announced. Holds the broker's credentials, hence secret.
    pub rabbitmq_url: SecretString,
    pub exchanges: Exchanges,
    pub relay_interval: Duration,
    pub relay_grace: Duration,
}

impl AuthConfig {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let bind: IpAddr = env.parse_or("BIND_ADDRESS", IpAddr::from([0, 0, 0, 0]))?;
        // gRPC is for the other services only: loopback unless the deployment opens it (Kubernetes and
        // Compose set 0.0.0.0, with network policies deciding who may connect).
        let grpc_bind: IpAddr = env.parse_or("GRPC_BIND_ADDRESS", IpAddr::from([127, 0, 0, 1]))?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let switch = RateLimits::from_env(env)?;
        Ok(Self {
            environment: env.environment()?,
            log_format: LogFormat::from_env(env)?,
            admin_listen: SocketAddr::new(bind, env.parse_or("ADMIN_PORT", 9091)?),
            admin_limits: Limits::admin_from_env(env)?,
            migrate_on_start: env.parse_or("MIGRATE_ON_START", true)?,
            listen: SocketAddr::new(grpc_bind, env.parse_or("AUTH_PORT", 50051)?),
            database: DatabaseSettings::from_env(env)?,
            jwt_secret: env.jwt_secret()?,
            token_ttl: Duration::from_secs(
                env.parse_or("JWT_EXPIRES_IN_SECONDS", jwt::DEFAULT_TTL.as_secs())?,
            ),
            // Half the cores: sign-ins never take the whole machine from the other services on it.
            hash_concurrency: env
                .parse_or("PASSWORD_HASH_CONCURRENCY", (cores / 2).max(1))?
                .max(1),
            attempt_limits: AttemptLimits {
                failures_per_account: switch.rate(
                    env,
                    "AUTH_SIGN_IN_FAILURES_PER_ACCOUNT",
                    attempts::DEFAULT_FAILURES_PER_ACCOUNT,
                )?,
                failures_per_address: switch.rate(
                    env,
                    "AUTH_SIGN_IN_FAILURES_PER_ADDRESS",
                    attempts::DEFAULT_FAILURES_PER_ADDRESS,
                )?,
                sign_ups_per_address: switch.rate(
                    env,
                    "AUTH_SIGN_UPS_PER_ADDRESS",
                    attempts::DEFAULT_SIGN_UPS_PER_ADDRESS,
                )?,
            },
            rabbitmq_url: env
                .secret("RABBITMQ_URL", "RABBITMQ_URL_FILE")?
                .unwrap_or_else(|| SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f")),
            exchanges: broker::exchanges_from(|name, default| env.string_or(name, default)),
            relay_interval: Duration::from_millis(env.parse_or("OUTBOX_RELAY_INTERVAL_MS", 1000)?),
            relay_grace: Duration::from_millis(env.parse_or("OUTBOX_RELAY_GRACE_MS", 2000)?),
        })
    }
}
