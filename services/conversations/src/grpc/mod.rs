//! The gRPC edge: `junqo.conversations.v1.ConversationsService` and `MessagesService`. Each handler
//! parses its request into domain types, asks [`crate::access`] whether the actor may, applies the change
//! (with its outbox event, in one transaction) and answers.

mod conversations;
mod deadline;
mod messages;
mod moderation;
mod search;
mod send_batch;

use std::sync::Arc;

use jwt::CredentialVerifier;
use sqlx::PgPool;
use tonic::Request;

use crate::ConversationsError;
use crate::events::publisher::EventPublisher;
use crate::store;
use crate::store::outbox::NewEvent;
use crate::users::UserDirectory;
use crate::writer::MessageWriter;

/// What both services share. Cloning is cheap.
#[derive(Clone)]
pub struct Handlers {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    writer: MessageWriter,
    publisher: EventPublisher,
    users: UserDirectory,
    /// `CONVERSATION_MAX_PARTICIPANTS`, the actor included.
    max_participants: usize,
    /// Verifies the sender's token of each item of a batch, as [`crate::authn`] does a call's.
    verifier: CredentialVerifier,
}

impl Handlers {
    pub fn new(
        pool: PgPool,
        writer: MessageWriter,
        publisher: EventPublisher,
        users: UserDirectory,
        max_participants: usize,
        verifier: CredentialVerifier,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                writer,
                publisher,
                users,
                max_participants,
                verifier,
            }),
        }
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Commits a change together with the events that describe it (in its outbox), then hands the
    /// events to the publisher: a change and its events are stored together or not at all.
    async fn commit_with(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        events: Vec<NewEvent>,
    ) -> Result<(), ConversationsError> {
        let outbox = store::outbox::insert(&mut tx, events, self.inner.publisher.claim()).await?;
        tx.commit().await?;
        self.inner.publisher.publish(outbox);
        Ok(())
    }
}

/// The trace context an event carries: this call's span when traces are exported, else the caller's
/// context when it sent one, else none. Nothing is made up when tracing is off: a fabricated context
/// would cost two UUIDs and a string per event, stored in the outbox and sent on the broker, for a trace
/// nobody records.
fn traceparent<T>(request: &Request<T>) -> Option<String> {
    platform::trace::current_traceparent().or_else(|| {
        request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(platform::trace::parse_traceparent)
            .map(str::to_owned)
    })
}
