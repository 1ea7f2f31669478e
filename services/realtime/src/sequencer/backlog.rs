//! Reading what the broker did not bring: the messages of a conversation after a `seq`, from the
//! conversations service (`ListMessagesSince`, which answers service tokens only). Reads are bounded
//! in number, so that a rebinding that fills every hosted room at once does not flood the service.

use std::sync::Arc;

use junqo_proto::conversations::v1::ListMessagesSinceRequest;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::ServiceSigner;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;
use tonic::transport::Channel;
use uuid::Uuid;
use wire::MessageDto;

use crate::error::SocketError;
use crate::upstream;

/// Reads in flight at once, all rooms together.
const CONCURRENT_READS: usize = 8;

/// A page of messages, oldest first: `(seq, receiveMessage body)`.
pub(super) type Page = Vec<(i64, Arc<RawValue>)>;

#[derive(Clone)]
pub(super) struct Backlog {
    messages: MessagesServiceClient<Channel>,
    signer: Arc<ServiceSigner>,
    permits: Arc<Semaphore>,
}

impl Backlog {
    pub fn new(messages: MessagesServiceClient<Channel>, signer: ServiceSigner) -> Self {
        Self {
            messages,
            signer: Arc::new(signer),
            permits: Arc::new(Semaphore::new(CONCURRENT_READS)),
        }
    }

    /// Up to `limit` messages of `room` with `seq > after`, oldest first, each serialized as
    /// `receiveMessage` carries it.
    pub async fn since(&self, room: Uuid, after: i64, limit: u32) -> Result<Page, SocketError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SocketError::internal())?;
        let token = self
            .signer
            .sign(None)
            .map_err(|_| SocketError::internal())?;
        let request = upstream::with_token(
            &token,
            ListMessagesSinceRequest {
                conversation_id: room.to_string(),
                after_seq: after,
                limit,
            },
        );
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
}
