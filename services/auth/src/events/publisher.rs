//! Publishes auth's outbox to the `junqo.auth` exchange with publisher confirms.
//!
//! Auth's events are rare (a logout, a password change), so this is simpler than conversations' publisher:
//! one task, told the row ids of each commit (the fast path), publishes them, awaits their confirms
//! together and deletes the confirmed rows. Every `relay_interval` it also publishes rows older than
//! `relay_grace`: the broker was down, a confirm never came, a process died after its commit. An event
//! may be published twice (it keeps its id); consumers apply revocations idempotently.

use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use broker::lapin::{Channel, Connection};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::outbox::{self, OutboxRow};

#[derive(Debug, Clone)]
pub struct PublisherSettings {
    pub url: String,
    pub exchanges: Exchanges,
    pub relay_interval: Duration,
    pub relay_grace: Duration,
}

/// The handle request handlers use after their commit; it never blocks them.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<Vec<i64>>,
}

const QUEUE: usize = 256;
const RELAY_BATCH: i64 = 500;

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

    /// Hands committed outbox rows to the publisher; when its queue is full they wait for the relay.
    pub fn publish(&self, ids: Vec<i64>) {
        if !ids.is_empty() && self.queue.try_send(ids).is_err() {
            tracing::debug!("auth publisher queue full; the relay will publish these events");
        }
    }
}

async fn run(
    mut receiver: mpsc::Receiver<Vec<i64>>,
    settings: PublisherSettings,
    pool: PgPool,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&settings).await {
            Ok((connection, channel)) => {
                tracing::info!("publishing auth events to RabbitMQ");
                backoff = Duration::from_millis(100);
                let outcome = serve(&channel, &settings, &pool, &mut receiver, &stop).await;
                let _ = channel.close(200, "shutting down".into()).await;
                let _ = connection.close(200, "shutting down".into()).await;
                match outcome {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "lost RabbitMQ; unconfirmed auth events stay in the outbox")
                    }
                }
            }
            Err(error) => tracing::warn!(%error, retry_in = ?backoff, "cannot reach RabbitMQ"),
        }
        // While disconnected, the rows wait in the outbox for the relay.
        while receiver.try_recv().is_ok() {}
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn connect(settings: &PublisherSettings) -> Result<(Connection, Channel), broker::Error> {
    let connection = broker::connect(&settings.url, "auth").await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    broker::declare_auth(&channel, &settings.exchanges).await?;
    Ok((connection, channel))
}

async fn serve(
    channel: &Channel,
    settings: &PublisherSettings,
    pool: &PgPool,
    receiver: &mut mpsc::Receiver<Vec<i64>>,
    stop: &CancellationToken,
) -> Result<(), broker::lapin::Error> {
    let mut relay = tokio::time::interval(settings.relay_interval);
    relay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let grace = i64::try_from(settings.relay_grace.as_millis()).unwrap_or(i64::MAX);
    loop {
        let rows = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            received = receiver.recv() => match received {
                Some(ids) => outbox::by_ids(pool, &ids).await,
                None => return Ok(()),
            },
            _ = relay.tick() => outbox::stale(pool, grace, RELAY_BATCH).await,
        };
        match rows {
            Ok(rows) if !rows.is_empty() => publish(channel, settings, pool, rows).await?,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot read auth's outbox"),
        }
    }
}

/// Publishes the rows with confirms pipelined, then deletes those the broker took.
async fn publish(
    channel: &Channel,
    settings: &PublisherSettings,
    pool: &PgPool,
    rows: Vec<OutboxRow>,
) -> Result<(), broker::lapin::Error> {
    let mut confirms = Vec::with_capacity(rows.len());
    for row in &rows {
        let properties = broker::event_properties(&row.event_id.to_string(), None, true);
        let confirm = channel
            .basic_publish(
                settings.exchanges.auth.as_str().into(),
                row.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &row.payload,
                properties,
            )
            .await?;
        confirms.push((row.id, confirm));
    }
    let mut confirmed = Vec::with_capacity(confirms.len());
    for (id, confirm) in confirms {
        if confirm.await?.is_ack() {
            confirmed.push(id);
        } else {
            tracing::warn!(
                outbox_id = id,
                "broker refused an auth event; the relay retries it"
            );
        }
    }
    metrics::counter!("auth_events_published_total").increment(confirmed.len() as u64);
    if let Err(error) = outbox::delete(pool, &confirmed).await {
        tracing::warn!(%error, "cannot delete confirmed auth outbox rows; they will be published again");
    }
    Ok(())
}
