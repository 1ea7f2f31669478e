//! RabbitMQ isolation: each [`TestBroker`] names its own exchanges, deleted when it is dropped. Services
//! under test get these names through their environment; [`EventTap`]s read what they publish through an
//! exclusive queue that RabbitMQ removes with the tap's connection.

use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use broker::lapin::types::FieldTable;
use broker::lapin::{Channel, Connection, Consumer};
use futures::StreamExt;
use junqo_proto::events::v1::Event;
use prost::Message;

pub struct TestBroker {
    pub url: String,
    pub exchanges: Exchanges,
}

/// One delivered event with the AMQP metadata tests look at.
#[derive(Debug, Clone)]
pub struct TapEvent {
    pub event: Event,
    pub routing_key: String,
    pub message_id: Option<String>,
    pub traceparent: Option<String>,
    pub persistent: bool,
}

pub struct EventTap {
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

    /// Receives every event on the durable exchange whose routing key matches `binding` (e.g. `#`).
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
                binding.into(),
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
            consumer,
            _channel: channel,
            _connection: connection,
        }
    }
}

impl EventTap {
    /// The next event, waiting at most `within`; `None` if none came.
    pub async fn next_within(&mut self, within: Duration) -> Option<TapEvent> {
        let delivery = tokio::time::timeout(within, self.consumer.next())
            .await
            .ok()??;
        let delivery = delivery.expect("delivery is readable");
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let event =
            Event::decode(delivery.data.as_slice()).expect("the body is a junqo.events.v1.Event");
        Some(TapEvent {
            event,
            routing_key: delivery.routing_key.to_string(),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(ToString::to_string),
            traceparent: broker::traceparent_of(&delivery.properties),
            persistent: *delivery.properties.delivery_mode() == Some(2),
        })
    }

    /// The next event, failing the test if none arrives within ten seconds.
    pub async fn next(&mut self) -> TapEvent {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("an event arrives within 10 s")
    }
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
