//! Settings of the conversations service. Every variable is documented in the README.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use broker::{EventShards, Exchanges};
use platform::service::Limits;
use platform::telemetry::LogFormat;
use platform::{DatabaseSettings, Env, Environment};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct ConversationsConfig {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    /// Health, readiness and metrics over plain HTTP.
    pub admin_listen: SocketAddr,
    pub admin_limits: Limits,
    /// Off in Kubernetes, where an init container runs `migrate` before the service starts.
    pub migrate_on_start: bool,
    pub database: DatabaseSettings,
    pub auth_url: String,
    /// Verifies the credential of every call, and signs this service's own calls to auth.
    pub jwt_secret: SecretString,
    /// Holds the broker's credentials, hence secret.
    pub rabbitmq_url: SecretString,
    pub exchanges: Exchanges,
    /// `EVENT_SHARDS`: the shards events are published to; the same on every replica of conversations
    /// and realtime.
    pub event_shards: EventShards,
    pub relay_interval: Duration,
    pub relay_grace: Duration,
    /// `EVENT_LOG_RETENTION_SECS`: how long published events stay readable by ListEventsSince (realtime
    /// fills a gap in its live delivery from them). More than zero.
    pub event_log_retention: Duration,
    /// `CONVERSATION_MAX_PARTICIPANTS`: participants one conversation may have.
    pub max_participants: usize,
}

/// A whole year group of a school fits; every participant is listed in each conversation sent to each
/// member, so at this size `GET /conversations` stays around 20 KB per conversation, far from the 4 MiB
/// gRPC message limit even for a user in a hundred of them.
pub const DEFAULT_MAX_PARTICIPANTS: usize = 500;

pub const DEFAULT_RABBITMQ_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl ConversationsConfig {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let bind: IpAddr = env.parse_or("BIND_ADDRESS", IpAddr::from([0, 0, 0, 0]))?;
        // gRPC is for the other services only: loopback unless the deployment opens it (Kubernetes and
        // Compose set 0.0.0.0, with network policies deciding who may connect).
        let grpc_bind: IpAddr = env.parse_or("GRPC_BIND_ADDRESS", IpAddr::from([127, 0, 0, 1]))?;
        Ok(Self {
            environment: env.environment()?,
            log_format: LogFormat::from_env(env)?,
            admin_listen: SocketAddr::new(bind, env.parse_or("ADMIN_PORT", 9092)?),
            admin_limits: Limits::admin_from_env(env)?,
            migrate_on_start: env.parse_or("MIGRATE_ON_START", true)?,
            listen: SocketAddr::new(grpc_bind, env.parse_or("CONVERSATIONS_PORT", 50052)?),
            database: DatabaseSettings::from_env(env)?,
            auth_url: env.string_or("AUTH_URL", "http://127.0.0.1:50051"),
            jwt_secret: env.jwt_secret()?,
            rabbitmq_url: env
                .secret("RABBITMQ_URL", "RABBITMQ_URL_FILE")?
                .unwrap_or_else(|| SecretString::from(DEFAULT_RABBITMQ_URL)),
            exchanges: broker::exchanges_from(|name, default| env.string_or(name, default)),
            event_shards: EventShards::from_env(|name, default| env.parse_or(name, default))?,
            relay_interval: Duration::from_millis(env.parse_or("OUTBOX_RELAY_INTERVAL_MS", 1000)?),
            relay_grace: Duration::from_millis(env.parse_or("OUTBOX_RELAY_GRACE_MS", 2000)?),
            event_log_retention: event_log_retention(env)?,
            max_participants: env
                .parse_or("CONVERSATION_MAX_PARTICIPANTS", DEFAULT_MAX_PARTICIPANTS)?
                .max(2),
        })
    }
}

/// Zero would prune events as soon as they are published, before realtime could ever read a gap.
fn event_log_retention(env: &Env) -> Result<Duration, platform::Error> {
    let secs: u64 = env.parse_or("EVENT_LOG_RETENTION_SECS", 900)?;
    if secs == 0 {
        return Err(platform::Error::Invalid {
            name: "EVENT_LOG_RETENTION_SECS",
            reason: "must be above 0".to_owned(),
        });
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_log_is_kept_a_quarter_of_an_hour_unless_set_and_never_zero() {
        let mut env = Env::from_pairs([("JWT_SECRET", "irrelevant-here")]);
        let config = ConversationsConfig::from_env(&env).expect("valid");
        assert_eq!(config.event_log_retention, Duration::from_secs(900));

        env.set("EVENT_LOG_RETENTION_SECS", "60");
        let config = ConversationsConfig::from_env(&env).expect("valid");
        assert_eq!(config.event_log_retention, Duration::from_secs(60));

        env.set("EVENT_LOG_RETENTION_SECS", "0");
        assert!(ConversationsConfig::from_env(&env).is_err());
    }

    #[test]
    fn grpc_listens_on_loopback_unless_the_deployment_opens_it() {
        let mut env = Env::from_pairs([("JWT_SECRET", "irrelevant-here")]);
        let config = ConversationsConfig::from_env(&env).expect("valid");
        assert!(config.listen.ip().is_loopback(), "{}", config.listen);
        assert!(config.admin_listen.ip().is_unspecified());

        env.set("GRPC_BIND_ADDRESS", "0.0.0.0");
        let config = ConversationsConfig::from_env(&env).expect("valid");
        assert!(config.listen.ip().is_unspecified());
    }
}
