//! RabbitMQ plumbing that every service does the same way. Business events and what to do with them
//! belong to the services; this crate only knows how to reach the broker and name things on it.
//!
//! Two exchanges carry Junqo's conversation events, both of type topic:
//! - the durable exchange (default `junqo.events`): domain events from the conversations service,
//!   persistent messages published with confirms from its outbox. Each message is an `EventBatch` of the
//!   events of one shard of conversations, routing key `shard.<n>` ([`shard_key`], [`EventShards`]);
//! - the ephemeral exchange (default `junqo.ephemeral`): typing, presence and room notices between realtime
//!   instances, one `Event` per message, routing keys `conversation.<conversation id>.<kind>` and
//!   `presence.<user id>`; non-durable, losing one on a broker restart harms nobody.
//!
//! A third durable topic exchange (default `junqo.auth`) carries the auth service's events, routing keys
//! `tokens.revoked` and `user.deleted`, published from auth's outbox.

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use uuid::Uuid;

pub use lapin;

/// The content type of every Junqo event body: an encoded `junqo.events.v1.Event` (ephemeral exchange)
/// or `junqo.events.v1.EventBatch` (durable exchange; the message's `type` property says so).
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The AMQP `type` property of a message whose body is an `EventBatch`.
pub const BATCH_TYPE: &str = "junqo.events.v1.EventBatch";
/// The AMQP header that carries W3C trace context.
pub const TRACEPARENT_HEADER: &str = "traceparent";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("RabbitMQ: {0}")]
    Lapin(#[from] lapin::Error),
    #[error("RabbitMQ: connecting timed out")]
    Timeout,
    #[error("RabbitMQ: {0}")]
    Closed(&'static str),
}

/// The exchange names a service uses; tests give each run its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanges {
    pub events: String,
    pub ephemeral: String,
    /// Auth's events: token revocations and deleted users.
    pub auth: String,
}

impl Default for Exchanges {
    fn default() -> Self {
        Self {
            events: "junqo.events".into(),
            ephemeral: "junqo.ephemeral".into(),
            auth: "junqo.auth".into(),
        }
    }
}

/// Opens one connection, named after the service so operators can tell connections apart.
pub async fn connect(url: &str, service: &str) -> Result<Connection, Error> {
    let properties = ConnectionProperties::default().with_connection_name(service.into());
    let connect = Connection::connect(url, properties);
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Timeout),
    }
}

/// Declares the durable events exchange (idempotent).
pub async fn declare_events(channel: &Channel, exchanges: &Exchanges) -> Result<(), Error> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchanges.events.as_str().into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares the durable exchange of auth's events (idempotent).
pub async fn declare_auth(channel: &Channel, exchanges: &Exchanges) -> Result<(), Error> {
    let options = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchanges.auth.as_str().into(),
            ExchangeKind::Topic,
            options,
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Declares the non-durable exchange for ephemeral events (idempotent).
pub async fn declare_ephemeral(channel: &Channel, exchanges: &Exchanges) -> Result<(), Error> {
    channel
        .exchange_declare(
            exchanges.ephemeral.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Properties of an event message: its id (for consumers' de-duplication), content type, persistence,
/// and the trace context when there is one.
pub fn event_properties(
    event_id: &str,
    traceparent: Option<&str>,
    persistent: bool,
) -> BasicProperties {
    let mut properties = BasicProperties::default()
        .with_message_id(event_id.into())
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(if persistent { 2 } else { 1 });
    if let Some(traceparent) = traceparent {
        let mut headers = FieldTable::default();
        headers.insert(
            ShortString::from(TRACEPARENT_HEADER),
            AMQPValue::LongString(traceparent.into()),
        );
        properties = properties.with_headers(headers);
    }
    properties
}

/// Properties of a message of the durable exchange: an `EventBatch`, persistent. Its events carry their
/// own ids and trace contexts.
pub fn batch_properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_type(BATCH_TYPE.into())
        .with_delivery_mode(2)
}

/// The trace context carried by a delivered message, if any.
pub fn traceparent_of(properties: &BasicProperties) -> Option<String> {
    let headers = properties.headers().as_ref()?;
    match headers.inner().get(TRACEPARENT_HEADER)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        AMQPValue::ShortString(value) => Some(value.to_string()),
        _ => None,
    }
}

/// The routing key of a conversation's event: `conversation.<id>.<kind>`.
pub fn conversation_key(conversation_id: &str, kind: &str) -> String {
    format!("conversation.{conversation_id}.{kind}")
}

/// How many shards the conversations are spread over on the durable exchange: `EVENT_SHARDS`. The
/// conversations service publishes a conversation's events to `shard.<shard of its id>`, and each realtime
/// instance binds the shards its rooms fall in, so **every replica of both services must use the same
/// count**: a realtime instance that computes another shard for a room than the publisher does never
/// receives that room's live events (its sequencer would only fill them in from the store on the next
/// gap). Fewer shards coalesce more events per message; more shards shrink what an instance receives for
/// rooms it does not host (docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventShards(u16);

impl EventShards {
    /// Chosen by measurement (docs/benchmarks.md, "events batched per shard").
    pub const DEFAULT: EventShards = EventShards(16);

    /// At least one shard.
    pub fn new(count: u16) -> Self {
        Self(count.max(1))
    }

    pub fn count(self) -> u16 {
        self.0
    }

    /// The shard of a conversation: its id's 128 bits, big-endian, modulo the count. Stable across
    /// processes, versions and platforms (no hasher seed), and even for random (v4) or time-ordered (v7)
    /// ids, whose low bits are random.
    pub fn of(self, conversation: &Uuid) -> u16 {
        let shard = conversation.as_u128() % u128::from(self.0);
        // Less than `self.0`, a u16.
        u16::try_from(shard).unwrap_or(0)
    }

    /// The shard of an event routed by [`conversation_key`], read from the key; `None` if it names no
    /// conversation id.
    pub fn of_key(self, routing_key: &str) -> Option<u16> {
        let id = routing_key.strip_prefix("conversation.")?.get(..36)?;
        Uuid::parse_str(id).ok().map(|id| self.of(&id))
    }

    /// Reads `EVENT_SHARDS`, defaulting to [`Self::DEFAULT`].
    pub fn from_env<E>(parse_or: impl Fn(&'static str, u16) -> Result<u16, E>) -> Result<Self, E> {
        parse_or("EVENT_SHARDS", Self::DEFAULT.0).map(Self::new)
    }
}

impl Default for EventShards {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The routing key of the durable events of one shard: `shard.<n>`.
pub fn shard_key(shard: u16) -> String {
    format!("shard.{shard}")
}

/// Reads the exchange names from the environment (`EVENTS_EXCHANGE`, `EPHEMERAL_EXCHANGE`,
/// `AUTH_EXCHANGE`), each defaulting to its production name.
pub fn exchanges_from(string_or: impl Fn(&str, &str) -> String) -> Exchanges {
    let defaults = Exchanges::default();
    Exchanges {
        events: string_or("EVENTS_EXCHANGE", &defaults.events),
        ephemeral: string_or("EPHEMERAL_EXCHANGE", &defaults.ephemeral),
        auth: string_or("AUTH_EXCHANGE", &defaults.auth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_always_falls_in_the_same_shard() {
        let shards = EventShards::new(16);
        let id = Uuid::parse_str("0191f1c2-7a3b-7c4d-8e5f-a1b2c3d4e5f6").expect("uuid");
        // Fixed forever: publishers and consumers of any version must agree.
        assert_eq!(shards.of(&id), (id.as_u128() % 16) as u16);
        assert_eq!(shards.of(&id), 6);
        assert_eq!(
            shards.of_key(&conversation_key(&id.to_string(), "message.created")),
            Some(6)
        );
        assert_eq!(shards.of_key("presence.someone"), None);
    }

    #[test]
    fn random_ids_spread_over_every_shard() {
        let shards = EventShards::new(8);
        let mut seen = [0usize; 8];
        for _ in 0..800 {
            seen[usize::from(shards.of(&Uuid::new_v4()))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 40), "{seen:?}");
        assert_eq!(EventShards::new(0).count(), 1, "at least one shard");
    }
}
