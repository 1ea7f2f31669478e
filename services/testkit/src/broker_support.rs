//! RabbitMQ isolation: each [`TestBroker`] names its own exchanges, deleted when it is dropped. Services
//! under test get these names through their environment; [`EventTap`]s read what they publish through an
//! exclusive queue that RabbitMQ removes with the tap's connection.
//!
//! The durable exchange carries batches of events routed by shard (`shard.<n>`); a tap takes every
//! batch and hands over, one at a time, the events whose own key (`conversation.<id>.<kind>`) matches
//! the pattern it was opened with, so tests can wait for one conversation's events as before.

use std::collections::VecDeque;
use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use broker::lapin::types::FieldTable;
use broker::lapin::{Channel, Connection, Consumer};
use futures::StreamExt;
use junqo_proto::events::v1::{Event, EventBatch};
use prost::Message;

pub struct TestBroker {
    pub url: String,
    pub exchanges: Exchanges,
}

/// One delivered event with the AMQP metadata tests look at.
#[derive(Debug, Clone)]
pub struct TapEvent {
    pub event: Event,
    /// The event's own key, `conversation.<id>.<kind>`.
    pub routing_key: String,
    /// The key the message carrying it was routed by (`shard.<n>` for a batch).
    pub amqp_routing_key: String,
    /// The carrying message's `message_id` property (none on a batch).
    pub message_id: Option<String>,
    /// Whether the event came inside an `EventBatch`.
    pub batched: bool,
    /// The event's own trace context, else the message's `traceparent` header.
    pub traceparent: Option<String>,
    pub persistent: bool,
}

pub struct EventTap {
    /// The pattern events are matched against, as a topic binding would be.
    pattern: String,
    /// Matching events of a batch not yet handed over.
    ready: VecDeque<TapEvent>,
    consumer: Consumer,
    _channel: Channel,
    _connection: Connection,
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBroker {
    pub fn new() -> Self {
        let url = std::env::var("TEST_RABBITMQ_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
        let run = uuid::Uuid::new_v4().simple().to_string();
        Self {
            url,
            exchanges: Exchanges {
                events: format!("junqo.test.{run}.events"),
                ephemeral: format!("junqo.test.{run}.ephemeral"),
                auth: format!("junqo.test.{run}.auth"),
            },
        }
    }

    /// The environment a service reads to use these names on this broker.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("RABBITMQ_URL".into(), self.url.clone()),
            ("EVENTS_EXCHANGE".into(), self.exchanges.events.clone()),
            (
                "EPHEMERAL_EXCHANGE".into(),
                self.exchanges.ephemeral.clone(),
            ),
            ("AUTH_EXCHANGE".into(), self.exchanges.auth.clone()),
        ]
    }

    async fn connect(&self) -> (Connection, Channel) {
        let connection = broker::connect(&self.url, "test").await.unwrap_or_else(|e| {
            panic!("RabbitMQ is not reachable at {} ({e}). Start it (see README) before running tests.", self.url)
        });
        let channel = connection.create_channel().await.expect("a channel opens");
        (connection, channel)
    }

    /// Receives every event on the durable exchange whose own key (`conversation.<id>.<kind>`) matches
    /// the topic pattern `binding` (e.g. `conversation.*.message.created`, or `#`).
    pub async fn tap(&self, binding: &str) -> EventTap {
        let (connection, channel) = self.connect().await;
        broker::declare_events(&channel, &self.exchanges)
            .await
            .expect("exchange declared");
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue declared");
        channel
            .queue_bind(
                queue.name().clone(),
                self.exchanges.events.as_str().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("queue bound");
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consumer starts");
        EventTap {
            pattern: binding.to_owned(),
            ready: VecDeque::new(),
            consumer,
            _channel: channel,
            _connection: connection,
        }
    }
}

impl EventTap {
    /// The next matching event, waiting at most `within`; `None` if none came.
    pub async fn next_within(&mut self, within: Duration) -> Option<TapEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            let delivery = tokio::time::timeout_at(deadline, self.consumer.next())
                .await
                .ok()??;
            let delivery = delivery.expect("delivery is readable");
            delivery.ack(BasicAckOptions::default()).await.expect("ack");
            let batched = delivery
                .properties
                .kind()
                .as_ref()
                .is_some_and(|kind| kind.as_str() == broker::BATCH_TYPE);
            let events = if batched {
                EventBatch::decode(delivery.data.as_slice())
                    .expect("the body is a junqo.events.v1.EventBatch")
                    .events
            } else {
                vec![
                    Event::decode(delivery.data.as_slice())
                        .expect("the body is a junqo.events.v1.Event"),
                ]
            };
            let header_trace = broker::traceparent_of(&delivery.properties);
            for event in events {
                let kind = event.payload.as_ref().map_or("empty", |p| p.kind());
                let routing_key = broker::conversation_key(&event.conversation_id, kind);
                if !topic_matches(&self.pattern, &routing_key) {
                    continue;
                }
                let traceparent = if event.traceparent.is_empty() {
                    header_trace.clone()
                } else {
                    Some(event.traceparent.clone())
                };
                self.ready.push_back(TapEvent {
                    event,
                    routing_key,
                    amqp_routing_key: delivery.routing_key.to_string(),
                    message_id: delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(ToString::to_string),
                    batched,
                    traceparent,
                    persistent: *delivery.properties.delivery_mode() == Some(2),
                });
            }
        }
    }

    /// The next event, failing the test if none arrives within ten seconds.
    pub async fn next(&mut self) -> TapEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event arrives within 10 s")
    }
}

/// Whether `key` matches the topic `pattern` as RabbitMQ would match it: words separated by dots, `*`
/// one word, `#` zero or more.
fn topic_matches(pattern: &str, key: &str) -> bool {
    fn matches(pattern: &[&str], key: &[&str]) -> bool {
        match pattern.split_first() {
            None => key.is_empty(),
            Some((&"#", rest)) => (0..=key.len()).any(|skip| matches(rest, &key[skip..])),
            Some((&word, rest)) => key.split_first().is_some_and(|(first, tail)| {
                (word == "*" || word == *first) && matches(rest, tail)
            }),
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    matches(&pattern, &key)
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let url = self.url.clone();
        let exchanges = self.exchanges.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(connection) = broker::connect(&url, "test-cleanup").await else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    for name in [&exchanges.events, &exchanges.ephemeral, &exchanges.auth] {
                        let _ = channel
                            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                            .await;
                    }
                }
                let _ = connection.close(200, "done".into()).await;
            });
        });
        let _ = cleanup.join();
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn patterns_match_as_topic_bindings_do() {
        assert!(topic_matches("#", "conversation.a.message.created"));
        assert!(topic_matches(
            "conversation.*.message.created",
            "conversation.a.message.created"
        ));
        assert!(topic_matches(
            "conversation.a.message.*",
            "conversation.a.message.read"
        ));
        assert!(topic_matches(
            "conversation.a.#",
            "conversation.a.participants.added"
        ));
        assert!(!topic_matches(
            "conversation.b.#",
            "conversation.a.message.created"
        ));
        assert!(!topic_matches(
            "conversation.*.message",
            "conversation.a.message.created"
        ));
    }
}
