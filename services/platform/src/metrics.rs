//! Prometheus metrics. One recorder per process (installed on first use: tests run several services in
//! one process), every metric name prefixed by its service, rendered as Prometheus text on `/metrics`.
//!
//! Shared instruments: [`track_http`] (axum middleware: requests and latency per route) and
//! [`GrpcMetricsLayer`] (tower layer for tonic servers: calls, codes and latency per method). Each service
//! adds its own (messages written, events published, sockets connected...).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::SharedString;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder, if it is not yet. Every instrument that fires before this is lost,
/// so services start with it (`service::run`, and the serving functions, for tests that build services
/// directly).
pub fn install() {
    handle();
}

/// The process's recorder, installed the first time.
fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .expect("the bucket list is a non-empty constant")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics may be incomplete"
                );
            }
            let upkeep = handle.clone();
            // Histograms need periodic upkeep; a plain thread works whatever runtime is (or is not) running.
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// The `/metrics` body.
pub fn render() -> String {
    handle().render()
}

/// Axum middleware: `<service>_http_requests_total{method,route,status}` and
/// `<service>_http_request_duration_seconds{method,route}`, with the route as declared (`/conversations/{id}`),
/// never the raw path (ids would explode the label set).
pub async fn track_http(service: &'static str, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(format!("{service}_http_requests_total"), "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(format!("{service}_http_request_duration_seconds"), "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Tower layer for tonic servers: `<service>_grpc_requests_total{method,code}` and
/// `<service>_grpc_request_duration_seconds{method}`. The code is the `grpc-status` of a trailers-only
/// response (how tonic answers errors), else 0 (OK). The metric names are built once here, not per call.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    requests: SharedString,
    duration: SharedString,
}

impl GrpcMetricsLayer {
    pub fn new(service: &str) -> Self {
        let name =
            |suffix: &str| SharedString::from_shared(Arc::from(format!("{service}_{suffix}")));
        Self {
            requests: name("grpc_requests_total"),
            duration: name("grpc_request_duration_seconds"),
        }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            names: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    names: GrpcMetricsLayer,
}

/// The `code` label: a static string for every status code gRPC defines, so the common answers
/// allocate nothing.
fn code_label(status: &str) -> SharedString {
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    CODES.iter().find(|code| **code == status).map_or_else(
        || SharedString::from(status.to_owned()),
        |code| SharedString::const_str(code),
    )
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let names = self.names.clone();
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let outcome = call.await;
            let code = match &outcome {
                Ok(response) => code_label(
                    response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("0"),
                ),
                Err(_) => SharedString::const_str("transport"),
            };
            metrics::counter!(names.requests, "method" => method.clone(), "code" => code)
                .increment(1);
            metrics::histogram!(names.duration, "method" => method)
                .record(started.elapsed().as_secs_f64());
            outcome
        })
    }
}

/// Gauges of a Postgres pool: `<service>_db_pool_connections{state="open"|"idle"}`.
pub fn record_pool(service: &'static str, pool: &sqlx::PgPool) {
    metrics::gauge!(format!("{service}_db_pool_connections"), "state" => "open")
        .set(f64::from(pool.size()));
    metrics::gauge!(format!("{service}_db_pool_connections"), "state" => "idle")
        .set(pool.num_idle() as f64);
}
