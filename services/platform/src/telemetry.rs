//! Logs and traces. `LOG_FORMAT` picks `json` or `pretty`; by default production logs JSON (one object per
//! line, for collectors) and development logs for humans. `RUST_LOG` filters, default `info`.
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP/gRPC with the service's
//! name (`junqo-<service>`); when it is not, nothing is exported and nothing complains. W3C trace context is
//! the propagation format either way (see [`crate::trace`]).
//!
//! Tokens never reach a log or a trace: request spans record the path, never the query string (which may
//! hold `?token=`), the `Authorization` header is marked sensitive, and [`never_verbose`] keeps the
//! Socket.IO libraries at `info` whatever `RUST_LOG` asks, because at `debug` they print every handshake's
//! auth payload (`auth.token`) and every packet.

use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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

/// Libraries whose `debug` and `trace` events print what clients sent, tokens included (socketioxide
/// logs the handshake's `auth` object and each packet; engineioxide the request it upgrades).
const PAYLOAD_LOGGERS: &[&str] = &["socketioxide", "engineioxide"];

/// A filter that lets everything through except the [`PAYLOAD_LOGGERS`] below `info`. Applied on top of
/// `RUST_LOG` to logs and exported traces alike, so no setting can make them print a token.
pub fn never_verbose() -> Targets {
    PAYLOAD_LOGGERS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |targets, name| targets.with_target(*name, LevelFilter::INFO),
    )
}

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes what is buffered.
#[must_use = "dropping the telemetry handle stops trace export"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// Installs logging (and tracing export when `otlp_endpoint` is given) for the process. The first call
/// wins: tests that start several services in one process share the first one's set-up.
pub fn init(service: &'static str, format: LogFormat, otlp_endpoint: Option<&str>) -> Telemetry {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };

    let provider = otlp_endpoint.and_then(|endpoint| match exporter(service, endpoint) {
        Ok(provider) => Some(provider),
        Err(error) => {
            eprintln!("{service}: traces will not be exported: {error}");
            None
        }
    });
    let logs = logs.with_filter(filter()).with_filter(never_verbose());
    // No trace layer at all when nothing is exported, rather than a `None` one: an absent layer
    // counts as wanting every callsite, which turns each disabled `debug!`/`trace!` in h2, hyper and
    // sqlx into a filter evaluation on every hit instead of a callsite disabled once.
    let installed = match &provider {
        Some(provider) => {
            // The exporter's own HTTP/2 and gRPC internals stay out of the traces it exports.
            let traces = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(service))
                .with_filter(EnvFilter::new("info,h2=off,hyper=off,tonic=off,tower=off"))
                .with_filter(never_verbose());
            tracing_subscriber::registry()
                .with(logs)
                .with(traces)
                .try_init()
        }
        None => tracing_subscriber::registry().with(logs).try_init(),
    };
    if installed.is_ok() {
        crate::trace::set_exporting(provider.is_some());
        tracing::info!(
            service,
            tracing = provider.is_some(),
            "telemetry initialised"
        );
    }
    Telemetry { provider }
}

fn exporter(
    service: &'static str,
    endpoint: &str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(3))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(format!("junqo-{service}"))
                .build(),
        )
        .build())
}

impl Telemetry {
    /// Flushes buffered spans. The SDK blocks while it flushes, so it runs on a blocking thread.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}
