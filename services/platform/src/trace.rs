//! W3C trace context (`traceparent`) carried from the edge through gRPC metadata and AMQP headers, so a
//! message's path can be followed across services: one trace from the REST request, through the gRPC
//! calls and the event on RabbitMQ, to the socket delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether spans are exported (`OTEL_EXPORTER_OTLP_ENDPOINT`), as [`crate::telemetry::init`] set it up.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether this process exports spans. When it does not, the per-request spans are not made at all:
/// with logs alone, a span costs an allocation in the registry, its fields formatted into a string
/// for the log layer, and an enter and exit on every poll of the request's future (~6% of the
/// gateway's and of conversations' time on a cheap route), for context that only the rare log line
/// written inside a request would show.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Set by [`crate::telemetry::init`]; a process that installs its own subscriber (a test capturing
/// logs) sets it to have the spans a deployment exporting them would have.
pub fn set_exporting(exporting: bool) {
    EXPORTING.store(exporting, Ordering::Relaxed);
}

/// The `traceparent` of the current span, when tracing is exported (otherwise spans have no context).
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    })
}

/// Makes `span` a child of the remote span named by `traceparent` (ignored if absent or malformed).
/// Call it before the span is entered.
pub fn set_remote_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.and_then(parse_traceparent) else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    let _ = span.set_parent(parent);
}

/// The span of an incoming gRPC call (for tonic's `Server::trace_fn`), child of the caller's span;
/// none when spans are not exported ([`exporting`]).
pub fn grpc_server_span(request: &http::Request<()>) -> tracing::Span {
    if !exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("grpc", otel.name = %request.uri().path(), rpc.system = "grpc");
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    set_remote_parent(&span, traceparent);
    span
}

/// The value if it is a well-formed version-00 `traceparent`, else `None`.
pub fn parse_traceparent(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match parts.as_slice() {
        [version, trace, parent, flags]
            if *version == "00"
                && hex(trace, 32)
                && hex(parent, 16)
                && hex(flags, 2)
                && trace.bytes().any(|b| b != b'0')
                && parent.bytes().any(|b| b != b'0') =>
        {
            Some(value.trim())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_contexts_pass_and_others_do_not() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(parse_traceparent(good), Some(good));
        assert_eq!(parse_traceparent(&format!(" {good}\n")), Some(good));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
    }
}
