//! Requests to the conversations service. Every one is built here, so every one carries a credential
//! and the trace context of the span it is made in (`traceparent` metadata): a socket event, the gRPC
//! call it makes and the broker event that comes back are one trace, as a REST request's are.
//! Messages sent on sockets go through [`send_batch`], which carries each sender's token and trace
//! context inside a batched call.

pub mod send_batch;

use crate::session::Session;

/// A request made for the session's user: it carries their own token, from which the conversations
/// service takes the acting user.
pub fn request<T>(session: &Session, message: T) -> tonic::Request<T> {
    with_token(&session.token, message)
}

/// A request carrying `token` (a user's, or a service token), the current span's trace context (when
/// traces are exported) and how long realtime waits for the answer (`grpc-timeout`).
pub fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    platform::grpc::authorize(&mut request, token);
    platform::grpc::set_deadline(&mut request);
    if let Some(value) = platform::trace::current_traceparent().and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert("traceparent", value);
    }
    request
}
