//! Settings of the gateway. Every variable is documented in the README.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use broker::Exchanges;
use ipnet::IpNet;
use platform::rate::{Rate, RateLimits};
use platform::service::Limits;
use platform::telemetry::LogFormat;
use platform::{Env, Environment};
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub environment: Environment,
    pub log_format: LogFormat,
    pub listen: SocketAddr,
    pub auth_url: String,
    pub conversations_url: String,
    /// Where `/socket.io/` is forwarded: the realtime service.
    pub realtime_url: String,
    pub jwt_secret: SecretString,
    /// `None`: every origin may call (the seed's behaviour when `CORS_ORIGINS` is unset).
    pub cors_origins: Option<Vec<String>>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Header-read and idle timeouts and the connection cap of the listener.
    pub limits: Limits,
    /// `REST_RATE_PER_USER`: requests with a valid token, per user; `None` when `RATE_LIMITS=off`.
    pub rate_per_user: Option<Rate>,
    /// `REST_RATE_PER_ADDRESS`: requests without one, per client address.
    pub rate_per_address: Option<Rate>,
    /// `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Where revocations are announced (the `junqo.auth` exchange). Holds credentials, hence secret.
    pub rabbitmq_url: SecretString,
    pub exchanges: Exchanges,
    /// How long start-up waits for the revocations before serving without them (503 meanwhile).
    pub revocations_load_timeout: Duration,
}

/// A client renders a page with a handful of calls; the burst covers a page load and a few retries.
pub const DEFAULT_RATE_PER_USER: Rate = Rate::per_second(20, 100);
/// Anonymous calls are sign-ups, sign-ins and token checks: a classroom behind one address signing in
/// together fits in the burst (auth's own limits guard the passwords).
pub const DEFAULT_RATE_PER_ADDRESS: Rate = Rate::per_second(20, 100);

impl GatewayConfig {
    pub fn from_env(env: &Env) -> Result<Self, platform::Error> {
        let environment = env.environment()?;
        let bind: IpAddr = env.parse_or("BIND_ADDRESS", IpAddr::from([0, 0, 0, 0]))?;
        let switch = RateLimits::from_env(env)?;
        Ok(Self {
            environment,
            log_format: LogFormat::from_env(env)?,
            listen: SocketAddr::new(bind, env.parse_or("GATEWAY_PORT", 3000)?),
            auth_url: env.string_or("AUTH_URL", "http://127.0.0.1:50051"),
            conversations_url: env.string_or("CONVERSATIONS_URL", "http://127.0.0.1:50052"),
            realtime_url: env.string_or("REALTIME_URL", "http://127.0.0.1:3001"),
            jwt_secret: env.jwt_secret()?,
            cors_origins: env.cors_origins()?,
            body_limit_bytes: env.parse_or("HTTP_BODY_LIMIT_BYTES", 1024 * 1024)?,
            request_timeout: Duration::from_secs(env.parse_or("HTTP_REQUEST_TIMEOUT_SECONDS", 30)?),
            limits: Limits::from_env(env)?,
            rate_per_user: switch.rate(env, "REST_RATE_PER_USER", DEFAULT_RATE_PER_USER)?,
            rate_per_address: switch.rate(
                env,
                "REST_RATE_PER_ADDRESS",
                DEFAULT_RATE_PER_ADDRESS,
            )?,
            trusted_proxies: crate::http::parse_trusted_proxies(
                env.get("TRUSTED_PROXIES").unwrap_or(""),
            )
            .map_err(|reason| platform::Error::Invalid {
                name: "TRUSTED_PROXIES",
                reason,
            })?,
            rabbitmq_url: env
                .secret("RABBITMQ_URL", "RABBITMQ_URL_FILE")?
                .unwrap_or_else(|| SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f")),
            exchanges: broker::exchanges_from(|name, default| env.string_or(name, default)),
            revocations_load_timeout: Duration::from_secs(
                env.parse_or("REVOCATIONS_LOAD_TIMEOUT_SECONDS", 5)?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_requires_explicit_cors_origins() {
        let mut env = Env::from_pairs([
            ("JWT_SECRET", "x".repeat(40)),
            ("NODE_ENV", "production".into()),
        ]);
        let err = GatewayConfig::from_env(&env).expect_err("no CORS_ORIGINS");
        assert_eq!(
            err.to_string(),
            "missing required environment variable CORS_ORIGINS"
        );
        env.set("CORS_ORIGINS", "https://junqo.fr, https://app.junqo.fr/");
        let config = GatewayConfig::from_env(&env).expect("valid");
        assert_eq!(
            config.cors_origins.as_deref(),
            Some(
                &[
                    "https://junqo.fr".to_owned(),
                    "https://app.junqo.fr".to_owned()
                ][..]
            )
        );
    }
}
