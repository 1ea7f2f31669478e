//! The task that owns this instance's RabbitMQ connection, queue, bindings and room counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use broker::lapin::message::Delivery;
use broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use broker::lapin::types::{AMQPValue, FieldTable};
use broker::lapin::{Channel, Connection, Consumer};
use broker::{EventShards, Exchanges};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use junqo_proto::events::v1::{Event, EventBatch};
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use super::dedup::RecentIds;
use super::hosting::{Change, Hosting, LeftWhileAway};
use super::{Command, Deliver, Fanout, PUBLISH_QUEUE, Publish};

#[derive(Debug, Clone)]
pub struct FanoutSettings {
    pub url: String,
    pub exchanges: Exchanges,
    /// The shards durable events are published to: the same count as the conversations service's.
    pub shards: EventShards,
    pub instance_id: String,
    /// How long the broker keeps this instance's queue, and routes events into it, once no connection
    /// consumes it. A connection lost for less than this finds every event routed meanwhile waiting in
    /// the queue when it comes back, edits, deletions and receipts included (messages could be refilled
    /// from the store, those could not). An instance that dies leaves a queue the broker drops after
    /// this long.
    pub queue_expires: Duration,
}

/// How many deliveries may be in flight to this instance before it acknowledges some.
const PREFETCH: u16 = 512;
/// Most deliveries acknowledged by one `basic.ack` (`multiple`); well under the prefetch, so the broker
/// never waits on an ack that is being held back.
const ACK_BATCH: usize = 64;
/// Event ids remembered for de-duplication.
const DEDUP_WINDOW: usize = 50_000;
/// Most events the queue holds while nobody consumes it (the oldest are dropped beyond): bounds what a dead
/// instance's queue costs the broker. Messages dropped this way are refilled from the store.
const QUEUE_MAX_LENGTH: i64 = 100_000;

/// Starts the task; returns the handle for handlers and the task to await at shutdown.
pub fn spawn(settings: FanoutSettings, stop: CancellationToken) -> (Fanout, FanoutRunner) {
    let (commands, receiver) = mpsc::unbounded_channel();
    let (publications, to_publish) = mpsc::channel(PUBLISH_QUEUE);
    let hosted = Arc::new(AtomicUsize::new(0));
    let runner = FanoutRunner {
        receiver,
        to_publish,
        hosting: Hosting::new(settings.shards),
        settings,
        stop,
        hosted: hosted.clone(),
        recent: RecentIds::new(DEDUP_WINDOW),
        left_while_away: LeftWhileAway::default(),
    };
    (
        Fanout {
            commands,
            publications,
            hosted,
        },
        runner,
    )
}

/// The task's state, started with [`FanoutRunner::start`] once what it delivers to (which needs the
/// Socket.IO handle) exists.
pub struct FanoutRunner {
    settings: FanoutSettings,
    receiver: mpsc::UnboundedReceiver<Command>,
    to_publish: mpsc::Receiver<Publish>,
    stop: CancellationToken,
    /// Local sockets per room and hosted rooms per shard: what the queue is bound to.
    hosting: Hosting,
    /// The number of hosted rooms, for [`Fanout::hosted_rooms`].
    hosted: Arc<AtomicUsize>,
    recent: RecentIds,
    /// Rooms left while disconnected: their bindings may survive in the queue, and are removed on
    /// reconnection.
    left_while_away: LeftWhileAway,
}

/// One connection's channels, consumer and queue.
struct Link {
    connection: Connection,
    consume: Channel,
    publish: Channel,
    consumer: Consumer,
    queue: String,
}

impl FanoutRunner {
    pub fn start(self, deliver: impl Deliver) -> JoinHandle<()> {
        tokio::spawn(self.run(deliver))
    }

    async fn run(mut self, deliver: impl Deliver) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.connect().await {
                Ok(link) => {
                    self.left_while_away.clear();
                    tracing::info!(
                        queue = %link.queue,
                        rooms = self.hosting.room_count(),
                        shards = self.hosting.shard_count(),
                        "consuming events from RabbitMQ"
                    );
                    backoff = Duration::from_millis(100);
                    // Bound again: what was routed while the queue was gone (if the broker dropped it) is
                    // read from the store.
                    deliver.rebound();
                    let outcome = self.serve(&link, &deliver).await;
                    if outcome.is_ok() {
                        // Stopping for good: nobody will come back for what the queue would keep.
                        let _ = link
                            .consume
                            .queue_delete(link.queue.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                    let _ = link.connection.close(200, "shutting down".into()).await;
                    match outcome {
                        Ok(()) => return,
                        Err(error) => tracing::warn!(%error, "lost RabbitMQ; reconnecting"),
                    }
                }
                Err(error) => tracing::warn!(%error, retry_in = ?backoff, "cannot reach RabbitMQ"),
            }
            // Until the broker is back, joins are counted (and bound on reconnection) and ephemeral
            // events are dropped: nobody else would receive them either.
            let pause = tokio::time::sleep(backoff);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    () = &mut pause => break,
                    () = self.stop.cancelled() => return,
                    command = self.receiver.recv() => match command {
                        Some(command) => self.count(command),
                        None => return,
                    },
                    // Nobody would receive them while the broker is away.
                    Some(_) = self.to_publish.recv() => {}
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Applies a command to the counts alone (while disconnected).
    fn count(&mut self, command: Command) {
        match command {
            Command::Join { room, bound } => {
                self.hosting.join(room);
                self.rooms_changed();
                let _ = bound.send(());
            }
            Command::Leave { room } => {
                let change = self.hosting.leave(room);
                if change.room {
                    self.rooms_changed();
                    self.left_while_away.remember(room, change);
                }
            }
            Command::Flush { done } => {
                let _ = done.send(());
            }
        }
    }

    fn rooms_changed(&self) {
        let rooms = self.hosting.room_count();
        self.hosted.store(rooms, Ordering::Relaxed);
        metrics::gauge!("realtime_rooms").set(rooms as f64);
        metrics::gauge!("realtime_shards_bound").set(self.hosting.shard_count() as f64);
    }

    async fn connect(&self) -> Result<Link, broker::Error> {
        let connection = broker::connect(&self.settings.url, "realtime").await?;
        let consume = connection
            .create_channel()
            .await
            .map_err(broker::Error::from)?;
        let publish = connection
            .create_channel()
            .await
            .map_err(broker::Error::from)?;
        broker::declare_events(&consume, &self.settings.exchanges).await?;
        broker::declare_ephemeral(&consume, &self.settings.exchanges).await?;
        // Named after this process (a fresh id per start), so nobody else consumes it; not exclusive, so
        // that it outlives a lost connection (see `FanoutSettings::queue_expires`).
        let queue = format!("realtime.{}", self.settings.instance_id);
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(
                i64::try_from(self.settings.queue_expires.as_millis()).unwrap_or(i64::MAX),
            ),
        );
        arguments.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(QUEUE_MAX_LENGTH),
        );
        consume
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions::default(),
                arguments,
            )
            .await
            .map_err(broker::Error::from)?;
        let link_queue = queue.clone();
        bind(
            &consume,
            &queue,
            &self.settings.exchanges.ephemeral,
            "presence.*",
        )
        .await?;
        for room in self.hosting.rooms() {
            bind(
                &consume,
                &queue,
                &self.settings.exchanges.ephemeral,
                &room_key(*room),
            )
            .await?;
        }
        for shard in self.hosting.shards() {
            bind(
                &consume,
                &queue,
                &self.settings.exchanges.events,
                &broker::shard_key(shard),
            )
            .await?;
        }
        // Unbinding what a fresh queue never had is harmless.
        for room in &self.left_while_away.rooms {
            if !self.hosting.hosts(room) {
                let key = room_key(*room);
                unbind(&consume, &queue, &self.settings.exchanges.ephemeral, &key).await?;
            }
        }
        for shard in &self.left_while_away.shards {
            if !self.hosting.binds_shard(*shard) {
                let key = broker::shard_key(*shard);
                unbind(&consume, &queue, &self.settings.exchanges.events, &key).await?;
            }
        }
        consume
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .map_err(broker::Error::from)?;
        let consumer = consume
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(broker::Error::from)?;
        Ok(Link {
            connection,
            consume,
            publish,
            consumer,
            queue: link_queue,
        })
    }

    /// Binds what a join needs: the room's key on the ephemeral exchange, its shard on the durable one.
    async fn bind_for(
        &self,
        channel: &Channel,
        queue: &str,
        room: Uuid,
        change: Change,
    ) -> Result<(), broker::Error> {
        if let Some(shard) = change.shard {
            let key = broker::shard_key(shard);
            bind(channel, queue, &self.settings.exchanges.events, &key).await?;
        }
        if change.room {
            let key = room_key(room);
            bind(channel, queue, &self.settings.exchanges.ephemeral, &key).await?;
        }
        Ok(())
    }

    /// Unbinds what a leave no longer needs.
    async fn unbind_for(
        &self,
        channel: &Channel,
        queue: &str,
        room: Uuid,
        change: Change,
    ) -> Result<(), broker::Error> {
        if change.room {
            let key = room_key(room);
            unbind(channel, queue, &self.settings.exchanges.ephemeral, &key).await?;
        }
        if let Some(shard) = change.shard {
            let key = broker::shard_key(shard);
            unbind(channel, queue, &self.settings.exchanges.events, &key).await?;
        }
        Ok(())
    }

    async fn serve(&mut self, link: &Link, deliver: &impl Deliver) -> Result<(), broker::Error> {
        let mut consumer = link.consumer.clone();
        let mut acks = FuturesUnordered::new();
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                command = self.receiver.recv() => match command {
                    None => return Ok(()),
                    Some(Command::Join { room, bound }) => {
                        let change = self.hosting.join(room);
                        if change.room {
                            self.rooms_changed();
                            self.bind_for(&link.consume, &link.queue, room, change).await?;
                        }
                        let _ = bound.send(());
                    }
                    Some(Command::Leave { room }) => {
                        let change = self.hosting.leave(room);
                        if change.room {
                            self.rooms_changed();
                            let unbound = self.unbind_for(&link.consume, &link.queue, room, change).await;
                            if unbound.is_err() {
                                // The connection is failing, and the queue may outlive it with the
                                // bindings still on: removed on reconnection, as for a leave while away.
                                self.left_while_away.remember(room, change);
                            }
                            unbound?;
                        }
                    }
                    Some(Command::Flush { done }) => {
                        while let Ok(publication) = self.to_publish.try_recv() {
                            self.publish(link, publication).await?;
                        }
                        let _ = done.send(());
                    }
                },
                Some(publication) = self.to_publish.recv() => self.publish(link, publication).await?,
                Some(acked) = acks.next() => {
                    let acked: Result<(), broker::lapin::Error> = acked;
                    acked.map_err(broker::Error::from)?;
                }
                delivery = consumer.next() => {
                    let mut last_tag = self.handle(delivery, deliver).await?;
                    // Whatever else has already arrived is handled now, and acknowledged by one ack.
                    for _ in 1..ACK_BATCH {
                        let Some(delivery) = consumer.next().now_or_never() else { break };
                        last_tag = self.handle(delivery, deliver).await?;
                    }
                    let mut ack = Box::pin(link.consume.basic_ack(last_tag, BasicAckOptions { multiple: true }));
                    // lapin queues the ack frame on the first poll; the write itself is awaited alongside the
                    // rest, never before the next delivery.
                    if let Poll::Ready(acked) = futures::poll!(ack.as_mut()) {
                        acked.map_err(broker::Error::from)?;
                    } else {
                        acks.push(ack);
                    }
                }
            }
        }
    }
}

impl FanoutRunner {
    /// Hands each new event of the delivery to the local sockets (once per event id); returns its tag to
    /// acknowledge. A durable message is a batch of one shard: only the events of rooms hosted here are
    /// kept.
    async fn handle(
        &mut self,
        delivery: Option<Result<Delivery, broker::lapin::Error>>,
        deliver: &impl Deliver,
    ) -> Result<u64, broker::Error> {
        let Some(delivery) = delivery else {
            return Err(broker::Error::Closed("the consumer was cancelled"));
        };
        let delivery = delivery.map_err(broker::Error::from)?;
        let header_trace = broker::traceparent_of(&delivery.properties);
        let is_batch = delivery
            .properties
            .kind()
            .as_ref()
            .is_some_and(|kind| kind.as_str() == broker::BATCH_TYPE);
        if is_batch {
            match EventBatch::decode(delivery.data.as_slice()) {
                Ok(batch) => {
                    for event in batch.events {
                        if self.hosts(&event) {
                            self.offer(event, header_trace.as_deref(), deliver).await;
                        } else {
                            // Another room of a shard this instance listens to.
                            metrics::counter!("realtime_events_foreign_total").increment(1);
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "undecodable event batch dropped"),
            }
        } else {
            match Event::decode(delivery.data.as_slice()) {
                Ok(event) => self.offer(event, header_trace.as_deref(), deliver).await,
                Err(error) => tracing::warn!(%error, "undecodable event dropped"),
            }
        }
        Ok(delivery.delivery_tag)
    }

    fn hosts(&self, event: &Event) -> bool {
        Uuid::parse_str(&event.conversation_id).is_ok_and(|room| self.hosting.hosts(&room))
    }

    /// Delivers an event unless its id was seen already, in the trace of the change that caused it.
    async fn offer(&mut self, event: Event, header_trace: Option<&str>, deliver: &impl Deliver) {
        if !self.recent.first_time(&event.event_id) {
            metrics::counter!("realtime_events_duplicate_total").increment(1);
            tracing::debug!("duplicate event dropped");
            return;
        }
        let kind = event.payload.as_ref().map_or("empty", |p| p.kind());
        metrics::counter!("realtime_events_consumed_total", "kind" => kind).increment(1);
        // None when spans are not exported: nothing per delivery when nobody traces.
        if !platform::trace::exporting() {
            deliver.deliver(event).await;
            return;
        }
        let span = tracing::info_span!(
            "deliver",
            otel.name = super::span::deliver(kind),
            event.kind = kind
        );
        let traceparent = if event.traceparent.is_empty() {
            header_trace
        } else {
            Some(event.traceparent.as_str())
        };
        platform::trace::set_remote_parent(&span, traceparent);
        deliver.deliver(event).instrument(span).await;
    }
}

/// A room's binding on the ephemeral exchange.
fn room_key(room: Uuid) -> String {
    format!("conversation.{room}.#")
}

async fn unbind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), broker::Error> {
    channel
        .queue_unbind(
            queue.into(),
            exchange.into(),
            key.into(),
            FieldTable::default(),
        )
        .await
        .map_err(broker::Error::from)
}

async fn bind(
    channel: &Channel,
    queue: &str,
    exchange: &str,
    key: &str,
) -> Result<(), broker::Error> {
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(broker::Error::from)
}

impl FanoutRunner {
    async fn publish(
        &self,
        link: &Link,
        Publish { routing_key, event }: Publish,
    ) -> Result<(), broker::Error> {
        let properties = broker::event_properties(&event.event_id, None, false);
        link.publish
            .basic_publish(
                self.settings.exchanges.ephemeral.as_str().into(),
                routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &event.encode_to_vec(),
                properties,
            )
            .await
            .map_err(broker::Error::from)?;
        metrics::counter!("realtime_events_published_total").increment(1);
        Ok(())
    }
}
