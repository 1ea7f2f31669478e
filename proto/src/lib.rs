//! The Junqo wire contracts, generated from `proto/junqo/**` at build time.
//!
//! - [`auth::v1`]: users, credentials and tokens (served by the auth service).
//! - [`conversations::v1`]: conversations and messages (served by the conversations service).
//! - [`events::v1`]: what the auth, conversations and realtime services publish on RabbitMQ.
//! - [`common::v1`]: types every API shares, such as validation failure details.
//!
//! Nothing here is edited by hand: change the `.proto` files instead.

#![allow(clippy::all, missing_docs)]

pub mod common {
    pub mod v1 {
        tonic::include_proto!("junqo.common.v1");
    }
}

pub mod auth {
    pub mod v1 {
        tonic::include_proto!("junqo.auth.v1");
    }
}

pub mod conversations {
    pub mod v1 {
        tonic::include_proto!("junqo.conversations.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("junqo.events.v1");

        impl event::Payload {
            /// The kind of event, as the last part of its routing key (`conversation.<id>.<kind>`) and as
            /// a metric label.
            pub fn kind(&self) -> &'static str {
                match self {
                    Self::MessageCreated(_) => "message.created",
                    Self::MessageUpdated(_) => "message.updated",
                    Self::MessageDeleted(_) => "message.deleted",
                    Self::MessageRead(_) => "message.read",
                    Self::ParticipantsAdded(_) => "participants.added",
                    Self::ParticipantsRemoved(_) => "participants.removed",
                    Self::ConversationDeleted(_) => "conversation.deleted",
                    Self::ConversationRead(_) => "conversation.read",
                    Self::Typing(_) => "typing",
                    Self::RoomNotice(_) => "room",
                    Self::Presence(_) => "presence",
                    Self::PresenceHeartbeat(_) => "presence.heartbeat",
                    Self::PresenceSnapshot(_) => "presence.snapshot",
                    Self::PresenceSyncRequest(_) => "presence.sync",
                }
            }
        }

        impl auth_event::Payload {
            /// The routing key of an auth event on the `junqo.auth` exchange.
            pub fn routing_key(&self) -> &'static str {
                match self {
                    Self::TokensRevoked(_) => "tokens.revoked",
                    Self::UserDeleted(_) => "user.deleted",
                }
            }
        }
    }
}

pub use prost;
pub use prost_types;
