//! Publishes outbox events to RabbitMQ with publisher confirms, and deletes them once confirmed.
//!
//! One task owns the one AMQP connection of the process. Events arrive right after their transaction
//! commits (the fast path) and are published at once; confirms are awaited concurrently, never one
//! publish at a time, and confirmed rows are deleted in batches rather than one statement per event.
//!
//! The relay covers every way the fast path can fail: every `relay_interval` the task republishes outbox
//! rows older than `relay_grace` (the broker was down, a confirm never came, the process died between
//! commit and publish). An event may therefore be published twice; it keeps its event id, and consumers
//! drop ids they have seen.

use std::collections::HashSet;
use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use broker::lapin::{Channel, Connection};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::outbox::{self, OutboxEvent};

#[derive(Debug, Clone)]
pub struct PublisherSettings {
    pub url: String,
    pub exchanges: Exchanges,
    pub relay_interval: Duration,
    pub relay_grace: Duration,
}

/// The handle the writers use; publishing never blocks them.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<Vec<OutboxEvent>>,
}

const QUEUE: usize = 1024;
/// Rows the relay takes per round; the next round takes the rest.
const RELAY_BATCH: i64 = 500;
/// Confirmed rows are deleted when this many have gathered, or at the next flush tick.
const DELETE_BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_millis(20);

impl EventPublisher {
    pub fn spawn(
        settings: PublisherSettings,
        pool: PgPool,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(receiver, settings, pool, stop));
        (Self { queue }, task)
    }

    /// Hands committed events to the publisher. If its queue is full the events simply wait in the
    /// outbox for the relay: nothing is lost, only delayed.
    pub fn publish(&self, events: Vec<OutboxEvent>) {
        if !events.is_empty() && self.queue.try_send(events).is_err() {
            tracing::debug!("publisher queue full; the relay will publish these events");
        }
    }
}

async fn run(
    mut receiver: mpsc::Receiver<Vec<OutboxEvent>>,
    settings: PublisherSettings,
    pool: PgPool,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&settings).await {
            Ok((connection, channel)) => {
                tracing::info!("publishing events to RabbitMQ");
                backoff = Duration::from_millis(100);
                let mut session = Session::new(&channel, &settings, &pool);
                let outcome = session.serve(&mut receiver, &stop).await;
                session.flush().await;
                let _ = channel.close(200, "shutting down".into()).await;
                let _ = connection.close(200, "shutting down".into()).await;
                match outcome {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "lost RabbitMQ; unconfirmed events stay in the outbox")
                    }
                }
            }
            Err(error) => tracing::warn!(%error, retry_in = ?backoff, "cannot reach RabbitMQ"),
        }
        // While disconnected, events pile up in the outbox, not in memory.
        while receiver.try_recv().is_ok() {}
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(settings: &PublisherSettings) -> Result<(Connection, Channel), broker::Error> {
    let connection = broker::connect(&settings.url, "conversations").await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(broker::Error::from)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(broker::Error::from)?;
    broker::declare_events(&channel, &settings.exchanges).await?;
    Ok((connection, channel))
}

/// One connected stretch: publish, collect confirms, delete confirmed rows, relay leftovers.
struct Session<'a> {
    channel: &'a Channel,
    settings: &'a PublisherSettings,
    pool: &'a PgPool,
    in_flight: HashSet<i64>,
    confirmed: Vec<i64>,
}

type Confirm =
    std::pin::Pin<Box<dyn Future<Output = (i64, Result<bool, broker::lapin::Error>)> + Send>>;

impl<'a> Session<'a> {
    fn new(channel: &'a Channel, settings: &'a PublisherSettings, pool: &'a PgPool) -> Self {
        Self {
            channel,
            settings,
            pool,
            in_flight: HashSet::new(),
            confirmed: Vec::new(),
        }
    }

    async fn serve(
        &mut self,
        receiver: &mut mpsc::Receiver<Vec<OutboxEvent>>,
        stop: &CancellationToken,
    ) -> Result<(), broker::lapin::Error> {
        let mut pending: FuturesUnordered<Confirm> = FuturesUnordered::new();
        let mut relay = tokio::time::interval(self.settings.relay_interval);
        relay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut flush = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some((id, outcome)) = pending.next() => {
                    self.in_flight.remove(&id);
                    match outcome {
                        Ok(true) => {
                            metrics::counter!("conversations_events_confirmed_total").increment(1);
                            self.confirmed.push(id);
                        }
                        Ok(false) => {
                            metrics::counter!("conversations_events_nacked_total").increment(1);
                            tracing::warn!(outbox_id = id, "broker refused an event; the relay retries it");
                        }
                        Err(error) => return Err(error),
                    }
                    if self.confirmed.len() >= DELETE_BATCH {
                        self.flush().await;
                    }
                }
                received = receiver.recv() => match received {
                    Some(events) => {
                        for event in events {
                            if let Some(confirm) = self.publish(event).await? {
                                pending.push(confirm);
                            }
                        }
                    }
                    None => break,
                },
                _ = flush.tick(), if !self.confirmed.is_empty() => self.flush().await,
                _ = relay.tick() => {
                    let grace = i64::try_from(self.settings.relay_grace.as_millis()).unwrap_or(i64::MAX);
                    if let Ok(backlog) = outbox::backlog(self.pool).await {
                        metrics::gauge!("conversations_outbox_backlog").set(backlog as f64);
                    }
                    match outbox::stale(self.pool, grace, RELAY_BATCH).await {
                        Ok(rows) => {
                            if !rows.is_empty() {
                                metrics::counter!("conversations_events_relayed_total").increment(rows.len() as u64);
                                tracing::info!(count = rows.len(), "relaying events left in the outbox");
                            }
                            // A full batch means more are waiting: go again at once instead of next tick.
                            if rows.len() as i64 == RELAY_BATCH {
                                relay.reset_immediately();
                            }
                            for event in rows {
                                if let Some(confirm) = self.publish(event).await? {
                                    pending.push(confirm);
                                }
                            }
                        }
                        Err(error) => tracing::warn!(%error, "cannot read the outbox"),
                    }
                }
            }
        }
        // Stopping: give outstanding confirms a moment so their rows are not republished after a restart.
        let drain = async {
            while let Some((id, outcome)) = pending.next().await {
                if matches!(outcome, Ok(true)) {
                    self.confirmed.push(id);
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        Ok(())
    }

    /// Publishes one event unless it is already on its way; the confirm resolves to whether the broker
    /// took it.
    async fn publish(
        &mut self,
        outbox_event: OutboxEvent,
    ) -> Result<Option<Confirm>, broker::lapin::Error> {
        if !self.in_flight.insert(outbox_event.id) {
            return Ok(None);
        }
        let event = &outbox_event.event;
        let properties = broker::event_properties(
            &event.event_id.to_string(),
            event.traceparent.as_deref(),
            true,
        );
        let confirm = self
            .channel
            .basic_publish(
                self.settings.exchanges.events.as_str().into(),
                event.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &event.payload,
                properties,
            )
            .await?;
        metrics::counter!("conversations_events_published_total").increment(1);
        let id = outbox_event.id;
        Ok(Some(Box::pin(async move {
            (id, confirm.await.map(|c| c.is_ack()))
        })))
    }

    async fn flush(&mut self) {
        if self.confirmed.is_empty() {
            return;
        }
        match outbox::delete(self.pool, &self.confirmed).await {
            Ok(()) => self.confirmed.clear(),
            // Kept for the next flush; at worst the relay publishes them again.
            Err(error) => tracing::warn!(%error, "cannot delete confirmed outbox rows"),
        }
    }
}
