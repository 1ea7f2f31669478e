//! "Is typing". It goes to the others in the room on every instance (as an ephemeral event), and stops
//! by itself after the typing timeout, or when the user stops, sends, leaves or disconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use junqo_proto::events::v1::{Typing as TypingEvent, event::Payload};
use tokio::task::AbortHandle;
use uuid::Uuid;

use crate::fanout::Fanout;

#[derive(Clone)]
pub struct Typing(Arc<Inner>);

struct Inner {
    fanout: Fanout,
    timeout: Duration,
    /// The running "stop typing" timer per (conversation, user), with a number telling timers apart.
    timers: Mutex<Timers>,
}

#[derive(Default)]
struct Timers {
    running: HashMap<(Uuid, Uuid), (u64, AbortHandle)>,
    next: u64,
}

impl Typing {
    pub fn new(fanout: Fanout, timeout: Duration) -> Self {
        Self(Arc::new(Inner {
            fanout,
            timeout,
            timers: Mutex::new(Timers::default()),
        }))
    }

    /// The user types: tell the room, and stop by itself after the timeout unless started again.
    pub fn start(&self, user: Uuid, conversation: Uuid) {
        self.publish(user, conversation, true);
        let key = (conversation, user);
        let mut timers = self.timers();
        timers.next += 1;
        let number = timers.next;
        let this = self.clone();
        let expiry = tokio::spawn(async move {
            tokio::time::sleep(this.0.timeout).await;
            let expired = {
                let mut timers = this.timers();
                // Only this timer's own entry: a newer start replaced it (and aborted this one, but the
                // abort may land after the sleep ended).
                let current = timers.running.get(&key).is_some_and(|(n, _)| *n == number);
                current && timers.running.remove(&key).is_some()
            };
            if expired {
                this.publish(user, conversation, false);
            }
        });
        if let Some((_, previous)) = timers.running.insert(key, (number, expiry.abort_handle())) {
            previous.abort();
        }
    }

    /// The user stops typing (said so themselves): tell the room, whatever it last heard.
    pub fn stop(&self, user: Uuid, conversation: Uuid) {
        self.cancel(user, conversation);
        self.publish(user, conversation, false);
    }

    /// Stops the user's typing if it is on (after a send, a leave, a disconnect).
    pub fn clear(&self, user: Uuid, conversation: Uuid) {
        if self.cancel(user, conversation) {
            self.publish(user, conversation, false);
        }
    }

    /// True if a timer was running.
    fn cancel(&self, user: Uuid, conversation: Uuid) -> bool {
        match self.timers().running.remove(&(conversation, user)) {
            Some((_, timer)) => {
                timer.abort();
                true
            }
            None => false,
        }
    }

    fn publish(&self, user: Uuid, conversation: Uuid, typing: bool) {
        let payload = Payload::Typing(TypingEvent {
            user_id: user.to_string(),
            typing,
        });
        self.0
            .fanout
            .publish_to_room(conversation, "typing", payload);
    }

    fn timers(&self) -> std::sync::MutexGuard<'_, Timers> {
        // The map stays usable whatever a panicking holder was doing.
        self.0.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
