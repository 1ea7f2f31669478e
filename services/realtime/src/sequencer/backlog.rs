//! Reading what the broker did not bring, from the conversations service (service tokens only): the
//! durable events of a conversation after an `event_seq` (`ListEventsSince`), or its messages after a
//! `seq` (`ListMessagesSince`: replays, and fills when the events are not kept). Reads are bounded
//! in number, so that a rebinding that fills every hosted room at once does not flood the service.
//! Gap fills and resume replays have their own permits: replays are client-driven (a reconnect storm,
//! a client repeating `joinRoom {afterSeq: 0}`, up to 1,000 rows each) and must never hold back the
//! fills that live members of every room wait on.

use std::sync::Arc;

use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{ListEventsSinceRequest, ListMessagesSinceRequest};
use junqo_proto::events::v1::Event;
use jwt::ServiceSigner;
use prost::Message as _;
use serde_json::value::RawValue;
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::transport::Channel;
use uuid::Uuid;
use wire::MessageDto;

use super::effect;
use super::log::Effect;
use crate::error::SocketError;
use crate::upstream;

/// Gap and rebinding fills in flight at once, all rooms together.
const CONCURRENT_FILLS: usize = 8;
/// Resume replays in flight at once, all rooms together.
const CONCURRENT_REPLAYS: usize = 4;

/// What a read is for: each kind waits only for reads of its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// Filling a room's gap (its live members wait on it).
    Fill,
    /// Replaying what a rejoining socket missed.
    Replay,
}

/// A page of messages, oldest first: `(seq, receiveMessage body)`.
pub(super) type Page = Vec<(i64, Arc<RawValue>)>;

/// What `ListEventsSince` answered.
#[derive(Debug)]
pub(super) enum Events {
    /// Every event after the one asked for, up to a page (oldest first: `(event_seq, effect)`).
    Complete(Vec<(i64, Effect)>),
    /// Some of them are no longer kept; `latest` is the conversation's latest `event_seq`.
    Incomplete { latest: i64 },
    /// The conversations service does not serve them (an older build, during an upgrade).
    NotServed,
}

#[derive(Clone)]
pub(super) struct Backlog {
    messages: MessagesServiceClient<Channel>,
    signer: Arc<ServiceSigner>,
    fills: Arc<Semaphore>,
    replays: Arc<Semaphore>,
}

impl Backlog {
    pub fn new(messages: MessagesServiceClient<Channel>, signer: ServiceSigner) -> Self {
        Self {
            messages,
            signer: Arc::new(signer),
            fills: Arc::new(Semaphore::new(CONCURRENT_FILLS)),
            replays: Arc::new(Semaphore::new(CONCURRENT_REPLAYS)),
        }
    }

    /// Up to `limit` messages of `room` with `seq > after`, oldest first, each serialized as
    /// `receiveMessage` carries it.
    pub async fn since(
        &self,
        read: Read,
        room: Uuid,
        after: i64,
        limit: u32,
    ) -> Result<Page, SocketError> {
        let _permit = self.permit(read).await?;
        let request = self.signed(ListMessagesSinceRequest {
            conversation_id: room.to_string(),
            after_seq: after,
            limit,
        })?;
        let page = self
            .messages
            .clone()
            .list_messages_since(request)
            .await?
            .into_inner();
        metrics::counter!("realtime_backlog_reads_total").increment(1);
        page.messages
            .into_iter()
            .map(|message| {
                let seq = message.seq;
                let body = serde_json::value::to_raw_value(&MessageDto::from(message))
                    .map_err(|_| SocketError::internal())?;
                Ok((seq, Arc::from(body)))
            })
            .collect()
    }

    /// Up to `limit` durable events of `room` with `event_seq > after`, each converted to what it does
    /// to the room. Read with the fills' permits (only fills read events).
    pub async fn events_since(
        &self,
        room: Uuid,
        after: i64,
        limit: u32,
    ) -> Result<Events, SocketError> {
        let _permit = self.permit(Read::Fill).await?;
        let request = self.signed(ListEventsSinceRequest {
            conversation_id: room.to_string(),
            after_event_seq: after,
            limit,
        })?;
        let page = match self.messages.clone().list_events_since(request).await {
            Ok(page) => page.into_inner(),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                return Ok(Events::NotServed);
            }
            Err(status) => return Err(status.into()),
        };
        metrics::counter!("realtime_backlog_reads_total").increment(1);
        if !page.complete {
            return Ok(Events::Incomplete {
                latest: page.latest_event_seq,
            });
        }
        let events = page
            .events
            .iter()
            .filter_map(|bytes| match Event::decode(bytes.as_slice()) {
                Ok(event) => Some((event.event_seq, effect::of(event))),
                Err(error) => {
                    // Its number is unknown: the room skips it, as a page's hole.
                    tracing::error!(%room, %error, "a stored event could not be decoded");
                    None
                }
            })
            .collect();
        Ok(Events::Complete(events))
    }

    /// `message` as a request of this service's own: the reads are for no user (each reader's access
    /// was checked with their own token).
    fn signed<T>(&self, message: T) -> Result<tonic::Request<T>, SocketError> {
        let token = self
            .signer
            .sign(None)
            .map_err(|_| SocketError::internal())?;
        Ok(upstream::with_token(&token, message))
    }

    /// A permit for one read of this kind.
    async fn permit(&self, read: Read) -> Result<SemaphorePermit<'_>, SocketError> {
        let permits = match read {
            Read::Fill => &self.fills,
            Read::Replay => &self.replays,
        };
        permits.acquire().await.map_err(|_| SocketError::internal())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use secrecy::SecretString;

    use super::*;

    fn backlog() -> Backlog {
        let channel = Channel::from_static("http://127.0.0.1:9").connect_lazy();
        Backlog::new(
            MessagesServiceClient::new(channel),
            ServiceSigner::new(&SecretString::from("test-secret"), "realtime"),
        )
    }

    #[tokio::test]
    async fn a_fill_gets_a_permit_while_every_replay_permit_is_held() {
        let backlog = backlog();
        let mut replays = Vec::new();
        for _ in 0..CONCURRENT_REPLAYS {
            replays.push(backlog.permit(Read::Replay).await.expect("a replay permit"));
        }
        // Replays are bounded: one more waits.
        assert!(
            backlog.replays.try_acquire().is_err(),
            "replays beyond their bound wait"
        );
        // A fill does not wait for them, up to its own bound.
        let mut fills = Vec::new();
        for _ in 0..CONCURRENT_FILLS {
            let fill = tokio::time::timeout(Duration::from_secs(1), backlog.permit(Read::Fill))
                .await
                .expect("a fill does not wait for replays");
            fills.push(fill.expect("a fill permit"));
        }
        drop(replays);
        drop(fills);
    }
}
