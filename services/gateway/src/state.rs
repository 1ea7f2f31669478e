//! The handles every handler shares, behind one `Arc`: axum clones the state for every extractor and
//! middleware that takes it, and a clone of each gRPC client and channel is several atomic operations
//! (five of them per clone otherwise). Handlers still clone the client they call.

use std::sync::Arc;

use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::TokenVerifier;
use revocation::Revocations;
use tonic::transport::Channel;

use crate::GatewayConfig;
use crate::http::{Profiles, RestLimits};

#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;
    fn deref(&self) -> &Handles {
        &self.0
    }
}

pub struct Handles {
    pub auth: AuthServiceClient<Channel>,
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
    /// The channels themselves, for the readiness probe.
    pub auth_channel: Channel,
    pub conversations_channel: Channel,
    pub verifier: Arc<TokenVerifier>,
    pub rest_limits: Arc<RestLimits>,
    /// Revoked tokens, kept current from the broker (see the `revocation` crate).
    pub revocations: Revocations,
    /// The callers' own profiles, read from auth a moment ago (`GET /users/me`).
    pub profiles: Arc<Profiles>,
}

impl AppState {
    pub fn new(
        config: &GatewayConfig,
        auth_channel: Channel,
        revocations: Revocations,
    ) -> Result<Self, platform::Error> {
        let conversations_channel = platform::grpc::channel(&config.conversations_url)?;
        let profiles = Arc::new(Profiles::new(crate::http::PROFILE_TTL));
        tokio::spawn(profiles.clone().follow(revocations.clone()));
        Ok(Self(Arc::new(Handles {
            auth: AuthServiceClient::new(auth_channel.clone()),
            conversations: ConversationsServiceClient::new(conversations_channel.clone()),
            messages: MessagesServiceClient::new(conversations_channel.clone()),
            auth_channel,
            conversations_channel,
            verifier: Arc::new(TokenVerifier::new(&config.jwt_secret)),
            rest_limits: Arc::new(RestLimits::new(
                config.rate_per_user,
                config.rate_per_address,
                config.trusted_proxies.clone(),
            )),
            revocations,
            profiles,
        })))
    }
}
