//! The user directory, owned by the auth service: asked whether participants exist before they join.

use std::sync::Arc;

use junqo_proto::auth::v1::GetUsersRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use jwt::ServiceSigner;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::ConversationsError;

#[derive(Clone)]
pub struct UserDirectory {
    client: AuthServiceClient<Channel>,
    /// Asking about users is this service's own business, not a user's: it calls with a service token.
    signer: Arc<ServiceSigner>,
}

impl UserDirectory {
    pub fn new(channel: Channel, signer: ServiceSigner) -> Self {
        Self {
            client: AuthServiceClient::new(channel),
            signer: Arc::new(signer),
        }
    }

    /// Fails with the first id that names no user.
    pub async fn ensure_exist(&self, ids: &[Uuid]) -> Result<(), ConversationsError> {
        if ids.is_empty() {
            return Ok(());
        }
        let token = self
            .signer
            .sign(None)
            .map_err(|e| ConversationsError::Internal(e.to_string()))?;
        let mut request = tonic::Request::new(GetUsersRequest {
            user_ids: ids.iter().map(Uuid::to_string).collect(),
        });
        platform::grpc::authorize(&mut request, &token);
        let found = self
            .client
            .clone()
            .get_users(request)
            .await
            .map_err(ConversationsError::Auth)?
            .into_inner()
            .users;
        match ids
            .iter()
            .find(|id| !found.iter().any(|u| u.id == id.to_string()))
        {
            Some(missing) => Err(ConversationsError::UnknownUser(*missing)),
            None => Ok(()),
        }
    }
}
