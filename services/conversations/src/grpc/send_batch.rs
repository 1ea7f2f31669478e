//! `CreateMessages`: many senders' messages in one call (realtime's batched sends). Each item is
//! authenticated with its own token, given its own deadline and trace, and then goes through
//! [`Handlers::create_one`], the path of a single `CreateMessage`, so its answer is the one that call
//! would have had. The items run concurrently: their drafts reach the writer together and share a
//! commit.

use junqo_proto::conversations::v1 as pb;
use junqo_proto::conversations::v1::create_message_result::Outcome;
use tokio::time::Instant;
use tonic::{Request, Status};
use tracing::Instrument;
use validation::Violations;

use super::{Handlers, deadline};
use crate::ConversationsError;
use crate::domain::Actor;

/// Most items one call may carry: the writer's own batch size, so one call never needs two commits.
pub const MAX_ITEMS: usize = 256;
/// The name an item's span takes in traces: what it stands for, one `CreateMessage`.
const ITEM_SPAN_NAME: &str = "/junqo.conversations.v1.MessagesService/CreateMessage";

impl Handlers {
    pub(super) async fn send_batch(
        &self,
        request: Request<pb::CreateMessagesRequest>,
    ) -> Result<pb::CreateMessagesResponse, Status> {
        let call_answer_by = deadline::answer_by(&request);
        let arrived = Instant::now();
        if !matches!(
            request.extensions().get::<jwt::Credential>(),
            Some(jwt::Credential::Service(_))
        ) {
            return Err(
                ConversationsError::Forbidden("Only services send messages in batches").into(),
            );
        }
        let items = request.into_inner().items;
        if items.len() > MAX_ITEMS {
            return Err(Violations::one(format!("At most {MAX_ITEMS} messages per call")).into());
        }
        let sends = items.into_iter().map(|item| {
            let answer_by = deadline::item_answer_by(arrived, item.timeout_ms, call_answer_by);
            let span = item_span(&item.traceparent);
            async move {
                let outcome = self.send_item(item, answer_by).await;
                // Against the call's own duration: how long items wait for the slowest of their call.
                metrics::histogram!("conversations_send_item_seconds")
                    .record(arrived.elapsed().as_secs_f64());
                let outcome = match outcome {
                    Ok(message) => Outcome::Message(message),
                    Err(status) => Outcome::Error(pb::CallError {
                        code: status.code() as i32,
                        message: status.message().to_owned(),
                        details: status.details().to_vec(),
                    }),
                };
                pb::CreateMessageResult {
                    outcome: Some(outcome),
                }
            }
            .instrument(span)
        });
        Ok(pb::CreateMessagesResponse {
            results: futures::future::join_all(sends).await,
        })
    }

    /// One item, as `create_message` does one call: its token as the call's credential would be, then
    /// the shared path.
    async fn send_item(
        &self,
        item: pb::MessageToCreate,
        answer_by: Instant,
    ) -> Result<pb::Message, Status> {
        let token = item.token.trim();
        // What the interceptor answers a call without a valid credential.
        let credential = (!token.is_empty())
            .then(|| self.inner.verifier.verify(token).ok())
            .flatten()
            .ok_or_else(|| Status::unauthenticated("Unauthorized"))?;
        let actor = Actor::of_credential(Some(&credential))?;
        // As `super::traceparent` does for a call: this item's span when traces are exported, else
        // the context the item came with.
        let trace = platform::trace::current_traceparent()
            .or_else(|| platform::trace::parse_traceparent(&item.traceparent).map(str::to_owned));
        let request = pb::CreateMessageRequest {
            conversation_id: item.conversation_id,
            content: item.content,
            client_message_id: item.client_message_id,
        };
        self.create_one(&actor, request, trace, answer_by).await
    }
}

/// A span per item that came with a trace context, child of the send it belongs to, so a socket's
/// message is one trace through this service as with a single call. None otherwise, or when this process
/// exports no spans: nothing per item when nobody traces.
fn item_span(traceparent: &str) -> tracing::Span {
    if !platform::trace::exporting() || platform::trace::parse_traceparent(traceparent).is_none() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("grpc", otel.name = ITEM_SPAN_NAME, rpc.system = "grpc");
    platform::trace::set_remote_parent(&span, Some(traceparent));
    span
}
