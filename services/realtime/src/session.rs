//! Who is behind a socket, and what one socket holds. The handshake attaches both to the socket's
//! extensions; every layer above reads them through [`Peer::of`]. This module depends on no other module
//! of the crate.
//!
//! socketioxide runs a socket's connect handler, its disconnect handler and each of its events in tasks
//! of their own, in no guaranteed order (a client that leaves at once can see its disconnect handler run
//! before its connect handler). [`SocketState`] is where those tasks agree.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use jwt::UserType;
use socketioxide::extract::SocketRef;
use uuid::Uuid;

/// The socketioxide room of a conversation.
pub fn conversation_room(conversation: Uuid) -> String {
    conversation.to_string()
}

/// The socketioxide room of all of a user's sockets on this instance (presence, and "the others in the
/// room" for typing).
pub fn user_room(user: Uuid) -> String {
    format!("user:{user}")
}

/// The verified user behind a socket.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: Uuid,
    pub user_name: String,
    pub user_type: UserType,
    /// The token the socket connected with, forwarded on every call made for the user: the
    /// conversations service takes the acting user from it, not from anything this service says.
    pub token: String,
}

/// Who, never the token.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("user_type", &self.user_type)
            .finish_non_exhaustive()
    }
}

/// One socket's own state, shared by its handlers.
#[derive(Debug, Clone, Default)]
pub struct SocketState(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    stage: Mutex<Stage>,
    joined: tokio::sync::Mutex<Joined>,
    lagging: AtomicBool,
}

/// Where a socket is in its life, as far as counting it (presence, the socket gauge) goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Connecting,
    Counted,
    Gone,
}

impl SocketState {
    /// For the connect handler: counts the socket with `count` and returns what it returned, unless its
    /// disconnect handler already ran, in which case it is never counted (and so never left counted).
    /// `count` runs under the socket's own lock, which [`SocketState::count_out`] takes too: an uncount
    /// cannot slip between deciding to count and counting (where it would find nothing to uncount, and
    /// the count that follows would stay forever).
    pub fn count_in<T>(&self, count: impl FnOnce() -> T) -> Option<T> {
        let mut stage = self.stage();
        if *stage != Stage::Connecting {
            return None;
        }
        *stage = Stage::Counted;
        Some(count())
    }

    /// For the disconnect handler: uncounts the socket with `uncount` (under the same lock) if the connect
    /// handler counted it. Either way the socket can no longer be counted.
    pub fn count_out<T>(&self, uncount: impl FnOnce() -> T) -> Option<T> {
        let mut stage = self.stage();
        let counted = std::mem::replace(&mut *stage, Stage::Gone) == Stage::Counted;
        counted.then(uncount)
    }

    /// The conversations this socket has joined. The guard is held across a whole join, leave, eviction
    /// or disconnect of this socket, so they apply one at a time, in the order they took it.
    pub async fn joined(&self) -> tokio::sync::MutexGuard<'_, Joined> {
        self.0.joined.lock().await
    }

    /// Marks the socket as having missed a packet (its outgoing buffer was full); true the first time.
    pub fn mark_lagging(&self) -> bool {
        !self.0.lagging.swap(true, Ordering::AcqRel)
    }

    /// A lagging socket is on its way out: it joins nothing more.
    pub fn is_lagging(&self) -> bool {
        self.0.lagging.load(Ordering::Acquire)
    }

    fn stage(&self) -> std::sync::MutexGuard<'_, Stage> {
        // The stage is one value, valid whatever a panicking holder was doing.
        self.0.stage.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The conversations a socket is in, and whether it is closed. socketioxide may already have emptied its
/// rooms when the disconnect handler runs, so the socket keeps its own list for the clean-up.
#[derive(Debug, Default)]
pub struct Joined {
    conversations: HashSet<Uuid>,
    closed: bool,
}

impl Joined {
    /// Closed by the disconnect: nothing joins any more.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn contains(&self, conversation: Uuid) -> bool {
        self.conversations.contains(&conversation)
    }

    /// How many conversations the socket is in.
    pub fn len(&self) -> usize {
        self.conversations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty()
    }

    /// True if the socket was not in the conversation yet. Refused once closed.
    pub fn insert(&mut self, conversation: Uuid) -> bool {
        !self.closed && self.conversations.insert(conversation)
    }

    /// True if the socket was in the conversation.
    pub fn remove(&mut self, conversation: Uuid) -> bool {
        self.conversations.remove(&conversation)
    }

    /// Closes the list and returns what was in it.
    pub fn close(&mut self) -> Vec<Uuid> {
        self.closed = true;
        self.conversations.drain().collect()
    }
}

/// An admitted socket with the user behind it and its state: what rooms and event handlers work with.
#[derive(Debug, Clone)]
pub struct Peer {
    pub socket: SocketRef,
    pub session: Arc<Session>,
    pub state: SocketState,
}

impl Peer {
    /// Gives a socket being admitted its user and a fresh state.
    pub fn attach(socket: &SocketRef, session: Session) {
        socket.extensions.insert(Arc::new(session));
        socket.extensions.insert(SocketState::default());
    }

    /// The peer of a socket that [`Peer::attach`] admitted.
    pub fn of(socket: &SocketRef) -> Option<Self> {
        Some(Self {
            session: socket.extensions.get::<Arc<Session>>()?,
            state: socket.extensions.get::<SocketState>()?,
            socket: socket.clone(),
        })
    }

    pub fn user_id(&self) -> Uuid {
        self.session.user_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_gone_before_its_connect_handler_is_never_counted() {
        let early_leaver = SocketState::default();
        assert_eq!(
            early_leaver.count_out(|| ()),
            None,
            "nothing to uncount yet"
        );
        assert_eq!(
            early_leaver.count_in(|| ()),
            None,
            "the late connect handler counts nothing"
        );

        let ordinary = SocketState::default();
        assert_eq!(ordinary.count_in(|| 1), Some(1));
        assert_eq!(ordinary.count_in(|| 2), None, "counted once");
        assert_eq!(ordinary.count_out(|| 3), Some(3));
        assert_eq!(ordinary.count_out(|| 4), None, "uncounted once");
    }

    #[test]
    fn a_closed_list_takes_no_more_rooms() {
        let mut joined = Joined::default();
        let room = Uuid::new_v4();
        assert!(joined.insert(room));
        assert!(!joined.insert(room));
        assert_eq!(joined.close(), [room]);
        assert!(joined.is_closed());
        assert!(!joined.insert(Uuid::new_v4()));
        assert!(!joined.contains(room));
    }

    #[test]
    fn lagging_is_marked_once() {
        let state = SocketState::default();
        assert!(!state.is_lagging());
        assert!(state.mark_lagging());
        assert!(!state.mark_lagging());
        assert!(state.is_lagging());
    }
}
