//! RabbitMQ plumbing that every service does the same way. Business events and what to do with them
//! belong to the services; this crate only knows how to reach the broker and name things on it.
//!
//! Two exchanges carry Junqo's events, both of type topic with routing keys
//! `conversation.<conversation id>.<kind>` (and `presence.<user id>` for presence):
//! - the durable exchange (default `junqo.events`): domain events from the conversations service,
//!   persistent messages published with confirms from its outbox;
//! - the ephemeral exchange (default `junqo.ephemeral`): typing, presence and room notices between realtime
//!   instances; non-durable, losing one on a broker restart harms nobody.
//!
//! A third durable topic exchange (default `junqo.auth`) carries the auth service's events, routing keys
//! `tokens.revoked` and `user.deleted`, published from auth's outbox.

use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

pub use lapin;

/// The content type of every Junqo event body: an encoded `junqo.events.v1.Event`.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
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
