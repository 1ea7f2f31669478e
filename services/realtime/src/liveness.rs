//! Presence over time, across instances: one task per instance that sends this instance's heartbeat
//! every interval, forgets the instances that stopped sending theirs (their users go offline), asks for
//! and answers snapshots, and tells local sockets about status changes that came without an audience.
//!
//! An announcement carries its audience (the user's contacts, looked up by the instance that saw the
//! change), so [`crate::dispatch`] tells it at once. A user who goes offline because their instance died,
//! or whose status a snapshot corrected, comes with no audience: their contacts are looked up here, a few
//! at a time, and only if this instance has sockets to tell at all. Lookups run in tasks of their own, so
//! heartbeats are never late because of them.

use std::time::Duration;

use futures::StreamExt;
use junqo_proto::events::v1::{
    Event, PresenceHeartbeat, PresenceSnapshot, PresenceSyncRequest, event::Payload,
};
use socketioxide::SocketIo;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::dispatch::tell_status;
use crate::hub::Hub;
use crate::presence::Change;

/// Routing keys on the ephemeral exchange; each matches the `presence.*` binding every instance has.
pub const HEARTBEAT_KEY: &str = "presence.heartbeat";
pub const SNAPSHOT_KEY: &str = "presence.snapshot";
pub const SYNC_KEY: &str = "presence.sync";

/// How often silent instances are looked for (an instance is gone within the expiry plus this).
const SWEEP: Duration = Duration::from_millis(500);
/// Contact look-ups in flight at once when many users change status together (an instance died).
const LOOKUPS: usize = 16;

/// What the dispatcher hands to the task.
pub enum Signal {
    /// These users' status changed and nobody has told their contacts (a snapshot corrected it).
    Tell(Vec<Change>),
    /// Ask this instance for its snapshot.
    Ask(String),
    /// Some instance asked for this one's snapshot.
    SnapshotWanted,
}

/// The handle the dispatcher uses.
#[derive(Clone)]
pub struct Liveness(mpsc::UnboundedSender<Signal>);

impl Liveness {
    pub fn send(&self, signal: Signal) {
        let _ = self.0.send(signal);
    }
}

/// The task, before it starts (it needs the hub and the Socket.IO handle, which need the handle).
pub struct LivenessRunner {
    heartbeat: Duration,
    signals: mpsc::UnboundedReceiver<Signal>,
}

pub fn channel(heartbeat: Duration) -> (Liveness, LivenessRunner) {
    let (sender, signals) = mpsc::unbounded_channel();
    (Liveness(sender), LivenessRunner { heartbeat, signals })
}

impl LivenessRunner {
    pub fn start(self, hub: Arc<Hub>, io: SocketIo, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(self.run(hub, io, stop))
    }

    async fn run(mut self, hub: Arc<Hub>, io: SocketIo, stop: CancellationToken) {
        let mut beat = tokio::time::interval(self.heartbeat);
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SWEEP);
        let mut tells = JoinSet::new();
        let mut started = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = beat.tick() => {
                    heartbeat(&hub);
                    if !started {
                        // Everyone's snapshot, this instance's first thing on the broker after its first
                        // heartbeat: the online set is filled in within a round trip, not a round.
                        ask(&hub, String::new());
                        started = true;
                    }
                }
                _ = sweep.tick() => {
                    let offline = hub.presence.expire();
                    hub.presence.refresh();
                    if !offline.is_empty() {
                        let changes = offline.into_iter().map(|user| (user, false)).collect();
                        tells.spawn(tell(hub.clone(), io.clone(), changes));
                    }
                }
                Some(signal) = self.signals.recv() => match signal {
                    Signal::Tell(changes) => {
                        tells.spawn(tell(hub.clone(), io.clone(), changes));
                    }
                    Signal::Ask(instance) => ask(&hub, instance),
                    Signal::SnapshotWanted => snapshot(&hub),
                },
                Some(_) = tells.join_next(), if !tells.is_empty() => {}
            }
        }
        // Nothing is emitted once the namespace closes.
        tells.shutdown().await;
    }
}

fn event(payload: Payload) -> Event {
    Event {
        event_id: Uuid::new_v4().to_string(),
        occurred_at: None,
        conversation_id: String::new(),
        traceparent: String::new(),
        event_seq: 0,
        payload: Some(payload),
    }
}

/// Published under the presence lock, so it follows every announcement it counts.
fn heartbeat(hub: &Hub) {
    hub.presence.publish_heartbeat(|version, users| {
        let payload = Payload::PresenceHeartbeat(PresenceHeartbeat {
            instance_id: hub.instance_id.clone(),
            version,
            users: u32::try_from(users).unwrap_or(u32::MAX),
        });
        hub.fanout.publish(HEARTBEAT_KEY.to_owned(), event(payload));
    });
}

/// Every user with a socket here, 16 bytes each: 160 kB for 10,000 users.
fn snapshot(hub: &Hub) {
    hub.presence.publish_snapshot(|version, users| {
        let user_ids = users.iter().flat_map(|user| *user.as_bytes()).collect();
        let payload = Payload::PresenceSnapshot(PresenceSnapshot {
            instance_id: hub.instance_id.clone(),
            version,
            user_ids,
        });
        hub.fanout.publish(SNAPSHOT_KEY.to_owned(), event(payload));
    });
}

/// Asks `instance` (every instance, if empty) for its snapshot.
fn ask(hub: &Hub, instance: String) {
    let payload = Payload::PresenceSyncRequest(PresenceSyncRequest {
        instance_id: instance,
        from_instance_id: hub.instance_id.clone(),
    });
    hub.fanout.publish(SYNC_KEY.to_owned(), event(payload));
}

/// Tells the local sockets of each user's contacts about the user's new status, if it still holds when
/// the contacts are known (a user gone offline with their instance may already be back elsewhere).
async fn tell(hub: Arc<Hub>, io: SocketIo, changes: Vec<Change>) {
    if !hub.presence.has_local() {
        return;
    }
    let lookups = futures::stream::iter(changes).map(|(user, online)| {
        let hub = hub.clone();
        async move { (user, online, hub.contacts_for_presence(user).await) }
    });
    let mut answers = lookups.buffer_unordered(LOOKUPS);
    while let Some((user, online, audience)) = answers.next().await {
        match audience {
            Ok(audience) if hub.presence.is_online(user) == online => {
                tell_status(&io, &user.to_string(), online, &audience);
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, %user, "cannot find who to tell about a status change");
            }
        }
    }
}
