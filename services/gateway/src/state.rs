//! The handles every handler shares. Cheap to clone: gRPC channels multiplex over one HTTP/2 connection
//! per peer, so cloning a client never opens a connection.

use std::sync::Arc;
use std::time::Duration;

use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::TokenVerifier;
use tonic::transport::{Channel, Endpoint};

use crate::GatewayConfig;

#[derive(Clone)]
pub struct AppState {
    pub auth: AuthServiceClient<Channel>,
    pub auth_channel: Channel,
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
    pub conversations_channel: Channel,
    pub verifier: Arc<TokenVerifier>,
}

impl AppState {
    pub fn new(config: &GatewayConfig) -> Result<Self, tonic::transport::Error> {
        let auth_channel = channel(&config.auth_url)?;
        let conversations_channel = channel(&config.conversations_url)?;
        Ok(Self {
            auth: AuthServiceClient::new(auth_channel.clone()),
            auth_channel,
            conversations: ConversationsServiceClient::new(conversations_channel.clone()),
            messages: MessagesServiceClient::new(conversations_channel.clone()),
            conversations_channel,
            verifier: Arc::new(TokenVerifier::new(&config.jwt_secret)),
        })
    }
}

/// A lazily connected channel: the gateway starts even while a peer is still starting, and reconnects
/// on its own when a peer restarts.
fn channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
