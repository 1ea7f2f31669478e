//! Messages sent on sockets, batched into `CreateMessages` calls. Every `sendMessage` of this instance
//! hands its message to the one [`SendBatcher`] and awaits its own answer. The batcher keeps at most
//! [`MAX_CALLS_IN_FLIGHT`] calls under way; whenever one ends, everything that queued meanwhile (up to
//! [`MAX_ITEMS_PER_CALL`]) leaves as the next call. A message that finds a free slot leaves at once,
//! alone: nothing waits for a timer, so a quiet instance adds no latency, and a busy one pays one call
//! (its system calls, its wake-ups on both sides) per batch instead of per message.
//!
//! Each message keeps what a call of its own had: its sender's token, its trace context, its deadline
//! (counted from when the socket event asked, as the channel's timeout was) and its answer. The answer
//! is the `tonic::Status` a single `CreateMessage` would have given, so acks and `messageError` read as
//! before; a failed call (transport, timeout) fails each of its messages with that call's status.
//!
//! One answer carries every result of a call, so it comes once the slowest message of the call is
//! settled. A sender whose own deadline passes while its message is in a call therefore keeps waiting for
//! that answer (which the call's own timeout, the latest of its messages' deadlines, bounds): giving up
//! then would tell the sender "failed" about a message the writer may have stored. A sender whose deadline
//! passes while its message still queues gives up, and the message is never sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use junqo_proto::conversations::v1 as pb;
use junqo_proto::conversations::v1::create_message_result::Outcome;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::ServiceSigner;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::{Instant, timeout_at};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::session::Session;

/// Calls under way at once. One would make every send wait for the previous call's round trip and
/// commit (a single-server queue); no bound would be a call per message again under load. A few let the
/// next batch travel and be parsed while the conversations writer commits the previous one, and the
/// writer merges concurrent calls' messages into its own batch anyway.
pub const MAX_CALLS_IN_FLIGHT: usize = 4;
/// Most messages in one call: 64 of the largest content (10,000 characters, at most 40 KB) keep the
/// request, and the answer that echoes them, well under tonic's 4 MiB message limit.
pub const MAX_ITEMS_PER_CALL: usize = 64;
/// Messages waiting for a call; a sender finding it full waits (within its deadline).
const QUEUE: usize = 4096;

type Answer = Result<pb::Message, Status>;

struct Queued {
    item: pb::MessageToCreate,
    /// When the sender handed it over: the time it then waits for a call shows in
    /// `realtime_send_queued_seconds`.
    queued_at: Instant,
    deadline: Instant,
    reply: oneshot::Sender<Answer>,
    state: Arc<AtomicU8>,
}

/// Who decides a queued message's fate: a call takes it (`QUEUED` to `SENT`) or its sender gives up on it
/// (`QUEUED` to `ABANDONED`), never both.
const QUEUED: u8 = 0;
const SENT: u8 = 1;
const ABANDONED: u8 = 2;

fn take(state: &AtomicU8, to: u8) -> bool {
    state
        .compare_exchange(QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// The instance's batcher of sends. Cloning is cheap; the task ends when every clone is dropped.
#[derive(Clone)]
pub struct SendBatcher {
    queue: mpsc::Sender<Queued>,
}

impl SendBatcher {
    /// Starts the batcher; its calls carry service tokens from `signer` (each message carries its
    /// sender's own token).
    pub fn spawn(client: MessagesServiceClient<Channel>, signer: ServiceSigner) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        tokio::spawn(run(receiver, client, Arc::new(signer)));
        Self { queue }
    }

    /// Stores the message as the session's user and answers what `CreateMessage` would have.
    pub async fn send(&self, session: &Session, message: pb::CreateMessageRequest) -> Answer {
        let deadline = Instant::now() + platform::grpc::REQUEST_TIMEOUT;
        let item = pb::MessageToCreate {
            conversation_id: message.conversation_id,
            content: message.content,
            client_message_id: message.client_message_id,
            token: session.token.clone(),
            traceparent: platform::trace::current_traceparent().unwrap_or_default(),
            timeout_ms: 0,
        };
        let (reply, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let queued = Queued {
            item,
            queued_at: Instant::now(),
            deadline,
            reply,
            state: state.clone(),
        };
        match timeout_at(deadline, self.queue.send(queued)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(_)) => return Err(Status::unavailable("message sending stopped")),
            Ok(Ok(())) => {}
        }
        let answered = match timeout_at(deadline, &mut answer).await {
            Ok(answered) => answered,
            Err(_) if take(&state, ABANDONED) => return Err(timed_out()),
            // In a call: its answer says what became of the message.
            Err(_) => answer.await,
        };
        answered.unwrap_or_else(|_| Err(Status::internal("message batcher dropped a message")))
    }
}

/// What the channel's own timeout gives a call that ran out of time (tonic's `TimeoutExpired`).
fn timed_out() -> Status {
    Status::cancelled("Timeout expired")
}

async fn run(
    mut receiver: mpsc::Receiver<Queued>,
    client: MessagesServiceClient<Channel>,
    signer: Arc<ServiceSigner>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CALLS_IN_FLIGHT));
    let mut batch = Vec::with_capacity(MAX_ITEMS_PER_CALL);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if receiver.recv_many(&mut batch, MAX_ITEMS_PER_CALL).await == 0 {
            return;
        }
        let sends = std::mem::replace(&mut batch, Vec::with_capacity(MAX_ITEMS_PER_CALL));
        metrics::histogram!("realtime_send_batch_size").record(sends.len() as f64);
        tokio::spawn(call(client.clone(), signer.clone(), sends, slot));
    }
}

/// One `CreateMessages` call for `sends`, each answered with its own outcome. Holds its slot until done.
async fn call(
    mut client: MessagesServiceClient<Channel>,
    signer: Arc<ServiceSigner>,
    sends: Vec<Queued>,
    _slot: OwnedSemaphorePermit,
) {
    let now = Instant::now();
    let mut waiting = Vec::with_capacity(sends.len());
    let queued_time = metrics::histogram!("realtime_send_queued_seconds");
    for mut queued in sends {
        queued_time.record(
            now.saturating_duration_since(queued.queued_at)
                .as_secs_f64(),
        );
        // A sender that stopped waiting is not sent for; one out of time is told so, not sent.
        if queued.reply.is_closed() || !take(&queued.state, SENT) {
            continue;
        }
        let left = queued.deadline.saturating_duration_since(now).as_millis();
        if left == 0 {
            let _ = queued.reply.send(Err(timed_out()));
            continue;
        }
        queued.item.timeout_ms = u32::try_from(left).unwrap_or(u32::MAX);
        waiting.push(queued);
    }
    let Some(latest) = waiting.iter().map(|q| q.deadline).max() else {
        return;
    };
    let Ok(token) = signer.sign(None) else {
        answer_all(waiting, &Status::internal("cannot sign a service token"));
        return;
    };
    let items = waiting
        .iter_mut()
        .map(|queued| std::mem::take(&mut queued.item))
        .collect();
    let mut request = tonic::Request::new(pb::CreateMessagesRequest { items });
    platform::grpc::authorize(&mut request, &token);
    request.set_timeout(latest.saturating_duration_since(now));
    let answered = client.create_messages(request).await;
    metrics::histogram!("realtime_send_call_seconds").record(now.elapsed().as_secs_f64());
    let results = match answered {
        Ok(response) => response.into_inner().results,
        Err(status) => return answer_all(waiting, &of_the_call(status)),
    };
    if results.len() != waiting.len() {
        let status = Status::internal(format!(
            "{} results for {} messages",
            results.len(),
            waiting.len()
        ));
        return answer_all(waiting, &status);
    }
    for (queued, result) in waiting.into_iter().zip(results) {
        let _ = queued.reply.send(answer_of(result));
    }
}

fn answer_of(result: pb::CreateMessageResult) -> Answer {
    match result.outcome {
        Some(Outcome::Message(message)) => Ok(message),
        Some(Outcome::Error(error)) => Err(Status::with_details(
            Code::from(error.code),
            error.message,
            error.details.into(),
        )),
        None => Err(Status::internal("a message without an outcome")),
    }
}

/// A refusal of the call itself is about this instance's service token (a secret or clock out of step),
/// not about the senders: they must not read it as their own session being refused.
fn of_the_call(status: Status) -> Status {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => {
            tracing::error!(%status, "conversations refused this instance's batch of messages");
            Status::internal("the conversations service refused the batch")
        }
        _ => status,
    }
}

/// Every message of a failed call hears that call's status, as its own call would have.
fn answer_all(waiting: Vec<Queued>, status: &Status) {
    for queued in waiting {
        let copy = Status::with_details(
            status.code(),
            status.message().to_owned(),
            status.details().to_vec().into(),
        );
        let _ = queued.reply.send(Err(copy));
    }
}
