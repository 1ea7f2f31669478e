//! Publishes outbox events to RabbitMQ with publisher confirms, marks them published once confirmed, and
//! prunes the published ones past the event log's retention.
//!
//! Four tasks, so that no database work ever stalls publishing:
//! - the publisher owns the one AMQP connection of the process. Events arrive right after their
//!   transaction commits (the fast path) or from the relay. Each time it wakes, it takes everything
//!   queued meanwhile (no timer: under load that is many commits, when idle a single one) and publishes
//!   it as one message per shard of conversations (`batch.rs`), each shard's messages in the order the
//!   events were handed over, all on one channel, so every conversation's order holds. One confirm
//!   settles every outbox row of its message; a nack or a lost confirm leaves them all to the relay.
//!   Publishes are pipelined: each is queued on the channel and the loop moves on without waiting for
//!   the frame to be written; confirms are awaited concurrently.
//! - the marker marks confirmed rows published in batches (one statement for whatever was confirmed
//!   meanwhile, at most one every `FLUSH_EVERY`). They stay as the conversation's event log, which
//!   realtime reads to fill a gap (ListEventsSince); the relay no longer takes them.
//! - the relay covers every way the fast path can fail: every `relay_interval` it claims outbox rows
//!   older than `relay_grace` that no live replica holds (the broker was down, a confirm never came, the
//!   process died between commit and publish) and hands them to the publisher. A relayed row carries the
//!   `event_seq` it was stored with, as its first publish did.
//! - the pruner deletes published rows older than the retention (`EVENT_LOG_RETENTION_SECS`), in bounded
//!   batches; unpublished rows are never pruned.
//!
//! Claims keep replicas from publishing one row twice: a row is claimed by the replica that wrote it (at
//! insert) and, once its lease has run out, by whichever replica's relay takes it first (`FOR UPDATE SKIP
//! LOCKED`). An event may still be published twice when a confirm is lost; it keeps its event id, and
//! consumers drop ids they have seen.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use broker::lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use broker::lapin::types::ShortString;
use broker::lapin::{Channel, Connection};
use broker::{EventShards, Exchanges};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::batch::{self, ShardMessage};
use crate::store::outbox::{self, Claim, OutboxEvent};

#[derive(Debug, Clone)]
pub struct PublisherSettings {
    pub url: String,
    pub exchanges: Exchanges,
    pub relay_interval: Duration,
    pub relay_grace: Duration,
    pub shards: EventShards,
    /// How long published events stay readable by ListEventsSince.
    pub retention: Duration,
}

/// The handle the writers use; publishing never blocks them.
#[derive(Clone)]
pub struct EventPublisher {
    queue: mpsc::Sender<Vec<OutboxEvent>>,
    claim: Claim,
}

const QUEUE: usize = 1024;
/// Most events taken in one wake: what is queued beyond waits for the next round of messages.
const MAX_AT_HAND: usize = 4096;
/// Rows the relay takes per round; a full round goes again at once.
const RELAY_BATCH: i64 = 1000;
/// Most confirmed rows marked published by one statement.
const MARK_BATCH: usize = 4096;
/// At most one marking per this interval: under load it covers everything confirmed meanwhile.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// A replica's claim on the rows it wrote lasts this many relay graces: long enough that its own relay
/// (which renews it) always comes first, short enough that another replica soon takes over the rows of
/// one that died.
const LEASE_IN_GRACES: u32 = 5;

/// Outbox ids this process has published and not yet marked published: the publisher skips them, so a
/// row whose confirm or marking is under way is not published a second time by the relay.
type InHand = Arc<Mutex<HashSet<i64>>>;

/// Held by the marker while it marks rows published and lets go of them, and by the relay from its claim
/// query until it has filtered the result: otherwise a row the relay read just before its marking could
/// be let go of meanwhile and published again.
type MarkGate = Arc<tokio::sync::Mutex<()>>;

fn lock(in_hand: &InHand) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    // The set stays consistent whatever a panicking holder did: each operation is a single insert/remove.
    in_hand.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EventPublisher {
    pub fn spawn(
        settings: PublisherSettings,
        pool: PgPool,
        stop: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let claim = Claim {
            by: Uuid::new_v4(),
            lease_ms: millis(settings.relay_grace * LEASE_IN_GRACES),
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(receiver, settings, pool, claim, stop));
        (Self { queue, claim }, task)
    }

    /// The claim this replica puts on the outbox rows it writes.
    pub fn claim(&self) -> Claim {
        self.claim
    }

    /// Hands committed events to the publisher. If its queue is full the events simply wait in the
    /// outbox for the relay: nothing is lost, only delayed.
    pub fn publish(&self, events: Vec<OutboxEvent>) {
        if !events.is_empty() && self.queue.try_send(events).is_err() {
            tracing::debug!("publisher queue full; the relay will publish these events");
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

async fn run(
    mut receiver: mpsc::Receiver<Vec<OutboxEvent>>,
    settings: PublisherSettings,
    pool: PgPool,
    claim: Claim,
    stop: CancellationToken,
) {
    let in_hand = InHand::default();
    let (confirmed, to_mark) = mpsc::unbounded_channel();
    let gate = MarkGate::default();
    let marker = tokio::spawn(mark_confirmed(
        pool.clone(),
        in_hand.clone(),
        gate.clone(),
        to_mark,
    ));
    let (relayed, mut from_relay) = mpsc::channel(4);
    let stop_relay = stop.child_token();
    let renewer = tokio::spawn(renew_claims(
        pool.clone(),
        settings.relay_interval,
        claim,
        stop_relay.clone(),
    ));
    let pruner = tokio::spawn(prune(pool.clone(), settings.retention, stop_relay.clone()));
    let relay = tokio::spawn(relay(
        pool,
        settings.clone(),
        claim,
        in_hand.clone(),
        gate,
        relayed,
        stop_relay.clone(),
    ));

    let mut backoff = Duration::from_millis(100);
    loop {
        match connect(&settings).await {
            Ok((connection, channel)) => {
                tracing::info!("publishing events to RabbitMQ");
                backoff = Duration::from_millis(100);
                let mut session = Session::new(&channel, &settings, &in_hand, &confirmed);
                let outcome = session.serve(&mut receiver, &mut from_relay, &stop).await;
                session.release_unconfirmed();
                let _ = channel.close(200, "shutting down".into()).await;
                let _ = connection.close(200, "shutting down".into()).await;
                match outcome {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(%error, "lost RabbitMQ; unconfirmed events stay in the outbox")
                    }
                }
            }
            Err(error) => tracing::warn!(%error, retry_in = ?backoff, "cannot reach RabbitMQ"),
        }
        // While disconnected, events pile up in the outbox, not in memory.
        while receiver.try_recv().is_ok() {}
        while from_relay.try_recv().is_ok() {}
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    stop_relay.cancel();
    let _ = relay.await;
    let _ = renewer.await;
    let _ = pruner.await;
    // The marker ends once it has marked what was confirmed.
    drop(confirmed);
    let _ = marker.await;
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

/// One connected stretch: publish and collect confirms.
struct Session<'a> {
    channel: &'a Channel,
    settings: &'a PublisherSettings,
    in_hand: &'a InHand,
    confirmed: &'a mpsc::UnboundedSender<i64>,
    /// Published in this session, confirm not yet in.
    awaiting: HashSet<i64>,
}

/// A message's confirm, with the outbox rows it settles.
type Confirm =
    std::pin::Pin<Box<dyn Future<Output = (Vec<i64>, Result<bool, broker::lapin::Error>)> + Send>>;

impl<'a> Session<'a> {
    fn new(
        channel: &'a Channel,
        settings: &'a PublisherSettings,
        in_hand: &'a InHand,
        confirmed: &'a mpsc::UnboundedSender<i64>,
    ) -> Self {
        Self {
            channel,
            settings,
            in_hand,
            confirmed,
            awaiting: HashSet::new(),
        }
    }

    async fn serve(
        &mut self,
        receiver: &mut mpsc::Receiver<Vec<OutboxEvent>>,
        from_relay: &mut mpsc::Receiver<Vec<OutboxEvent>>,
        stop: &CancellationToken,
    ) -> Result<(), broker::lapin::Error> {
        let mut pending: FuturesUnordered<Confirm> = FuturesUnordered::new();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some((ids, outcome)) = pending.next() => self.settle(ids, outcome)?,
                received = receiver.recv() => match received {
                    Some(events) => {
                        let events = at_hand(Vec::new(), events, receiver, from_relay);
                        self.publish_all(events, &mut pending).await?;
                    }
                    None => break,
                },
                Some(events) = from_relay.recv() => {
                    let events = at_hand(events, Vec::new(), receiver, from_relay);
                    self.publish_all(events, &mut pending).await?;
                }
            }
        }
        // Stopping: give outstanding confirms a moment so their rows are not republished after a restart.
        let drain = async {
            while let Some((ids, outcome)) = pending.next().await {
                if self.settle(ids, outcome).is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
        Ok(())
    }

    fn settle(
        &mut self,
        ids: Vec<i64>,
        outcome: Result<bool, broker::lapin::Error>,
    ) -> Result<(), broker::lapin::Error> {
        for id in &ids {
            self.awaiting.remove(id);
        }
        match outcome {
            Ok(true) => {
                metrics::counter!("conversations_events_confirmed_total")
                    .increment(ids.len() as u64);
                // Stay in hand until marked published. The marker only ends after this task.
                for id in ids {
                    let _ = self.confirmed.send(id);
                }
                Ok(())
            }
            Ok(false) => {
                metrics::counter!("conversations_events_nacked_total").increment(ids.len() as u64);
                tracing::warn!(
                    events = ids.len(),
                    "broker refused a batch of events; the relay retries them"
                );
                let mut in_hand = lock(self.in_hand);
                for id in &ids {
                    in_hand.remove(id);
                }
                Ok(())
            }
            Err(error) => {
                let mut in_hand = lock(self.in_hand);
                for id in &ids {
                    in_hand.remove(id);
                }
                Err(error)
            }
        }
    }

    /// Rows whose confirm never came go back to the relay.
    fn release_unconfirmed(&mut self) {
        let mut in_hand = lock(self.in_hand);
        for id in self.awaiting.drain() {
            in_hand.remove(&id);
        }
    }

    /// Queues every event not already in hand, one message per shard, in order, without waiting for any
    /// of them to be written.
    async fn publish_all(
        &mut self,
        events: Vec<OutboxEvent>,
        pending: &mut FuturesUnordered<Confirm>,
    ) -> Result<(), broker::lapin::Error> {
        let fresh: Vec<OutboxEvent> = {
            let mut in_hand = lock(self.in_hand);
            events
                .into_iter()
                .filter(|e| in_hand.insert(e.id))
                .collect()
        };
        // Awaited from now on, all of them: if the connection fails part-way through, the messages not yet
        // published are released with the rest (`release_unconfirmed`), not left in hand for ever.
        self.awaiting.extend(fresh.iter().map(|e| e.id));
        for message in batch::by_shard(fresh, self.settings.shards) {
            let ids = message.outbox_ids.clone();
            let count = ids.len() as u64;
            let mut publish = self.publish(message);
            // lapin queues the frames (and numbers the confirm) on the first poll, synchronously; polling
            // each publish once here, in turn, keeps the broker's order the order events were handed over
            // while the writes themselves proceed concurrently.
            match futures::poll!(publish.as_mut()) {
                Poll::Ready(outcome) => self.settle(ids, outcome)?,
                Poll::Pending => pending.push(Box::pin(async move { (ids, publish.await) })),
            }
            metrics::counter!("conversations_events_published_total").increment(count);
            metrics::counter!("conversations_event_messages_published_total").increment(1);
        }
        Ok(())
    }

    /// The publish of one shard's message; resolves to whether the broker took it.
    fn publish(
        &self,
        message: ShardMessage,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, broker::lapin::Error>> + Send>> {
        let channel = self.channel.clone();
        let exchange: ShortString = self.settings.exchanges.events.as_str().into();
        Box::pin(async move {
            let confirm = channel
                .basic_publish(
                    exchange,
                    broker::shard_key(message.shard).as_str().into(),
                    BasicPublishOptions::default(),
                    &message.body,
                    broker::batch_properties(),
                )
                .await?;
            Ok(confirm.await?.is_ack())
        })
    }
}

/// Everything queued when the publisher wakes, up to [`MAX_AT_HAND`] events: what the relay handed over
/// first (older rows), then what the writers committed, each in the order it was queued.
fn at_hand(
    mut relayed: Vec<OutboxEvent>,
    mut fresh: Vec<OutboxEvent>,
    receiver: &mut mpsc::Receiver<Vec<OutboxEvent>>,
    from_relay: &mut mpsc::Receiver<Vec<OutboxEvent>>,
) -> Vec<OutboxEvent> {
    while relayed.len() + fresh.len() < MAX_AT_HAND
        && let Ok(more) = receiver.try_recv()
    {
        fresh.extend(more);
    }
    while relayed.len() + fresh.len() < MAX_AT_HAND
        && let Ok(more) = from_relay.try_recv()
    {
        relayed.extend(more);
    }
    if !relayed.is_empty() {
        metrics::counter!("conversations_events_relayed_total").increment(relayed.len() as u64);
        tracing::info!(count = relayed.len(), "relaying events left in the outbox");
    }
    relayed.extend(fresh);
    relayed
}

/// Marks confirmed rows published, everything confirmed meanwhile in one statement, until the publisher is
/// gone and the last ids are marked (or the database refuses: then the relay publishes them again later,
/// with the same numbers).
async fn mark_confirmed(
    pool: PgPool,
    in_hand: InHand,
    gate: MarkGate,
    mut confirmed: mpsc::UnboundedReceiver<i64>,
) {
    let mut batch = Vec::new();
    loop {
        let closed = confirmed.recv_many(&mut batch, MARK_BATCH).await == 0;
        if !batch.is_empty() {
            let _gate = gate.lock().await;
            match outbox::mark_published(&pool, &batch).await {
                Ok(()) => {
                    let mut in_hand = lock(&in_hand);
                    for id in batch.drain(..) {
                        in_hand.remove(&id);
                    }
                }
                // Kept for the next round.
                Err(error) => tracing::warn!(%error, "cannot mark confirmed outbox rows published"),
            }
        }
        if closed {
            return;
        }
        tokio::time::sleep(FLUSH_EVERY).await;
    }
}

/// Keeps this replica's claims alive for as long as it runs, whatever the relay is doing: while the broker
/// is away the relay waits for the publisher and renews nothing, and a lapsed claim would let another
/// replica publish rows this one still holds, so both would.
async fn renew_claims(pool: PgPool, every: Duration, claim: Claim, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(error) = outbox::renew_claims(&pool, claim).await {
            tracing::warn!(%error, "cannot renew the outbox claims");
        }
    }
}

/// Most rows one pruning statement deletes: a long backlog of expired rows (after an outage, or a lowered
/// retention) goes in short statements that never hold many locks or a long snapshot.
const PRUNE_BATCH: i64 = 5000;

/// How often the pruner looks for expired rows: a small fraction of the retention, at most a minute, so
/// rows are kept hardly longer than the retention.
fn prune_every(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Every [`prune_every`], deletes the published rows past the retention.
async fn prune(pool: PgPool, retention: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(prune_every(retention));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        match prune_expired(&pool, retention).await {
            Ok(0) => {}
            Ok(pruned) => {
                metrics::counter!("conversations_events_pruned_total").increment(pruned);
            }
            Err(error) => tracing::warn!(%error, "cannot prune the event log"),
        }
    }
}

/// Deletes every published outbox row older than `retention`, [`PRUNE_BATCH`] rows per statement;
/// returns how many. Unpublished rows stay whatever their age.
pub async fn prune_expired(
    pool: &PgPool,
    retention: Duration,
) -> Result<u64, crate::ConversationsError> {
    let retention_ms = millis(retention);
    let mut pruned = 0;
    loop {
        let deleted = outbox::prune(pool, retention_ms, PRUNE_BATCH).await?;
        pruned += deleted;
        if deleted < PRUNE_BATCH as u64 {
            return Ok(pruned);
        }
    }
}

/// Every `relay_interval`, claims rows left behind and hands them to the publisher.
async fn relay(
    pool: PgPool,
    settings: PublisherSettings,
    claim: Claim,
    in_hand: InHand,
    gate: MarkGate,
    publisher: mpsc::Sender<Vec<OutboxEvent>>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(settings.relay_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let grace_ms = millis(settings.relay_grace);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Ok(backlog) = outbox::backlog(&pool).await {
            metrics::gauge!("conversations_outbox_backlog").set(backlog as f64);
        }
        let gate = gate.lock().await;
        let rows = match outbox::claim_stale(&pool, claim, grace_ms, RELAY_BATCH).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "cannot read the outbox");
                continue;
            }
        };
        // This replica's own rows still on their way are claimed again (which renews the lease) but not
        // handed over twice.
        let rows: Vec<OutboxEvent> = {
            let in_hand = lock(&in_hand);
            rows.into_iter()
                .filter(|row| !in_hand.contains(&row.id))
                .collect()
        };
        drop(gate);
        // A full round of rows to publish means more are waiting: go again at once instead of next tick.
        if rows.len() as i64 == RELAY_BATCH {
            tick.reset_immediately();
        }
        if !rows.is_empty() {
            tokio::select! {
                sent = publisher.send(rows) => if sent.is_err() { return },
                () = stop.cancelled() => return,
            }
        }
    }
}
