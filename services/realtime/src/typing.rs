//! "Is typing". It goes to the others in the room on every instance (as an ephemeral event), except
//! users kept apart from the typist by a block, and stops by itself after the typing timeout, or when the
//! user stops, sends, leaves or disconnects.

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
    /// The running "stop typing" timer per (conversation, user), with a number telling timers apart and
    /// who is not told (the stop goes where the start went).
    timers: Mutex<Timers>,
}

struct Timer {
    number: u64,
    expiry: AbortHandle,
    hidden_from: Vec<String>,
}

#[derive(Default)]
struct Timers {
    running: HashMap<(Uuid, Uuid), Timer>,
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

    /// The user types: tell the room (but not `hidden_from`), and stop by itself after the timeout
    /// unless started again.
    pub fn start(&self, user: Uuid, conversation: Uuid, hidden_from: Vec<String>) {
        self.publish(user, conversation, true, hidden_from.clone());
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
                let current = timers.running.get(&key).is_some_and(|t| t.number == number);
                if current {
                    timers.running.remove(&key)
                } else {
                    None
                }
            };
            if let Some(timer) = expired {
                this.publish(user, conversation, false, timer.hidden_from);
            }
        });
        let timer = Timer {
            number,
            expiry: expiry.abort_handle(),
            hidden_from,
        };
        if let Some(previous) = timers.running.insert(key, timer) {
            previous.expiry.abort();
        }
    }

    /// The user stops typing (said so themselves): tell the room, whatever it last heard.
    pub fn stop(&self, user: Uuid, conversation: Uuid) {
        let hidden_from = self
            .cancel(user, conversation)
            .map(|timer| timer.hidden_from)
            .unwrap_or_default();
        self.publish(user, conversation, false, hidden_from);
    }

    /// Stops the user's typing if it is on (after a send, a leave, a disconnect).
    pub fn clear(&self, user: Uuid, conversation: Uuid) {
        if let Some(timer) = self.cancel(user, conversation) {
            self.publish(user, conversation, false, timer.hidden_from);
        }
    }

    /// The timer that was running, stopped.
    fn cancel(&self, user: Uuid, conversation: Uuid) -> Option<Timer> {
        let timer = self.timers().running.remove(&(conversation, user))?;
        timer.expiry.abort();
        Some(timer)
    }

    fn publish(&self, user: Uuid, conversation: Uuid, typing: bool, hidden_from: Vec<String>) {
        let payload = Payload::Typing(TypingEvent {
            user_id: user.to_string(),
            typing,
            hidden_from,
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
