//! What every socket handler shares. Lives in an `Arc`, handed to handlers as socketioxide state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::TokenVerifier;
use tokio::task::AbortHandle;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::fanout::Fanout;
use crate::presence::Presence;

pub struct Hub {
    pub verifier: TokenVerifier,
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
    pub fanout: Fanout,
    pub presence: std::sync::Arc<Presence>,
    /// Running "stop typing" timers, per (conversation, user).
    pub typing: Mutex<HashMap<(Uuid, Uuid), AbortHandle>>,
    pub typing_timeout: Duration,
    /// This instance's name in presence announcements.
    pub instance_id: String,
}

impl Hub {
    pub fn typing_timers(&self) -> std::sync::MutexGuard<'_, HashMap<(Uuid, Uuid), AbortHandle>> {
        self.typing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The room of all of a user's sockets on an instance; presence and "the others in the room" use it.
pub fn user_room(user: Uuid) -> String {
    format!("user:{user}")
}
