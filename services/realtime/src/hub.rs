//! What every socket handler shares. Lives in an `Arc`, handed to handlers as socketioxide state.

use std::sync::Arc;

use junqo_proto::conversations::v1::ListContactsRequest;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::{ServiceSigner, TokenVerifier};
use revocation::Revocations;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::error::SocketError;
use crate::fanout::Fanout;
use crate::presence::Presence;
use crate::rooms::Rooms;
use crate::session::Session;
use crate::tokens::TokenWatch;
use crate::typing::Typing;
use crate::upstream;
use crate::upstream::send_batch::SendBatcher;

pub struct Hub {
    pub verifier: TokenVerifier,
    /// Signs this service's own calls (presence), which act for a user without their token.
    pub service: ServiceSigner,
    /// Revoked tokens, kept current from the broker: the handshake refuses them.
    pub revocations: Revocations,
    /// Ends each live socket when its token expires or is revoked.
    pub tokens: TokenWatch,
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
    /// Where `sendMessage` hands its message: batched with the instance's concurrent sends.
    pub sends: SendBatcher,
    pub fanout: Fanout,
    pub presence: Arc<Presence>,
    pub rooms: Rooms,
    pub typing: Typing,
    /// This instance's name in presence announcements.
    pub instance_id: String,
    /// `SOCKET_MAX_PER_USER`: sockets one user may hold on this instance.
    pub sockets_per_user: usize,
    /// Held while a socket is counted against [`Self::sockets_per_user`] and joins its user's room, so
    /// that concurrent handshakes of one user cannot all pass the count.
    pub admission: std::sync::Mutex<()>,
}

impl Hub {
    /// The users who share at least one conversation with the session's user, asked as that user.
    pub async fn contacts(&self, session: &Session) -> Result<Vec<String>, SocketError> {
        self.list_contacts(upstream::request(session, ListContactsRequest {}))
            .await
    }

    /// The same, asked by this service for the user's presence announcements: those also happen after
    /// the user's own token has expired (the socket closed for that reason) or on shutdown, and their
    /// contacts must still hear that they went offline.
    pub async fn contacts_for_presence(&self, user: Uuid) -> Result<Vec<String>, SocketError> {
        let token = self
            .service
            .sign(Some(user))
            .map_err(|_| SocketError::internal())?;
        self.list_contacts(upstream::with_token(&token, ListContactsRequest {}))
            .await
    }

    async fn list_contacts(
        &self,
        request: tonic::Request<ListContactsRequest>,
    ) -> Result<Vec<String>, SocketError> {
        Ok(self
            .conversations
            .clone()
            .list_contacts(request)
            .await?
            .into_inner()
            .user_ids)
    }

    /// The users kept apart from the session's user by a block, either way: they must not see the user
    /// typing. Asked on every start of typing, so a block counts from the moment it is made.
    pub async fn kept_apart(&self, session: &Session) -> Result<Vec<String>, SocketError> {
        let request = upstream::request(session, ListContactsRequest {});
        Ok(self
            .conversations
            .clone()
            .list_kept_apart(request)
            .await?
            .into_inner()
            .user_ids)
    }
}
