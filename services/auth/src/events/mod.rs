//! Auth's events: `tokens.revoked` and `user.deleted` on the durable topic exchange `junqo.auth`.
//!
//! As in conversations, an event is written to the `outbox` table in the transaction of the change it
//! announces ([`outbox::insert`]), so a committed revocation is always announced, and [`publisher`]
//! publishes it with confirms and deletes it once confirmed; rows left behind are relayed.

pub mod outbox;
pub mod publisher;

use chrono::Utc;
use junqo_proto::events::v1 as ev;
use prost::Message;
use uuid::Uuid;

pub use outbox::NewEvent;

fn build(payload: ev::auth_event::Payload) -> NewEvent {
    let routing_key = payload.routing_key().to_owned();
    let event_id = Uuid::new_v4();
    let now = Utc::now();
    let event = ev::AuthEvent {
        event_id: event_id.to_string(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or_default(),
        }),
        payload: Some(payload),
    };
    NewEvent {
        event_id,
        routing_key,
        payload: event.encode_to_vec(),
    }
}

/// Every token of `user` issued before `valid_after` (seconds) is revoked.
pub fn all_tokens_revoked(user: Uuid, valid_after: i64) -> NewEvent {
    build(ev::auth_event::Payload::TokensRevoked(ev::TokensRevoked {
        user_id: user.to_string(),
        jti: String::new(),
        expires_at: 0,
        valid_after,
    }))
}

/// One token of `user` is revoked until its expiry (seconds).
pub fn token_revoked(user: Uuid, jti: Uuid, expires_at: i64) -> NewEvent {
    build(ev::auth_event::Payload::TokensRevoked(ev::TokensRevoked {
        user_id: user.to_string(),
        jti: jti.to_string(),
        expires_at,
        valid_after: 0,
    }))
}

pub fn user_deleted(user: Uuid) -> NewEvent {
    build(ev::auth_event::Payload::UserDeleted(ev::UserDeleted {
        user_id: user.to_string(),
    }))
}
