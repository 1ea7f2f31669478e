//! Logging set-up. `LOG_FORMAT` picks `json` or `pretty`; by default production logs JSON (one object per
//! line, for collectors) and development logs for humans. `RUST_LOG` filters, default `info`.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

use crate::{Env, Environment, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "pretty" | "text" => Ok(Self::Pretty),
            other => Err(format!("expected json or pretty, got {other:?}")),
        }
    }
}

impl LogFormat {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let default = match env.environment()? {
            Environment::Production => Self::Json,
            Environment::Development => Self::Pretty,
        };
        env.parse_or("LOG_FORMAT", default)
    }
}

/// Installs the global subscriber. `service` names the process in every JSON line.
pub fn init(service: &'static str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    if installed.is_ok() {
        tracing::info!(service, "logging initialised");
    }
}
