//! Requests to the conversations service. Every one is built here, so every one carries the trace
//! context of the span it is made in (`traceparent` metadata): a socket event, the gRPC call it makes and
//! the broker event that comes back are one trace, as a REST request's are.

/// A request carrying the current span's trace context (when traces are exported).
pub fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = platform::trace::current_traceparent().and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert("traceparent", value);
    }
    request
}
