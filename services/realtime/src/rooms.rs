//! Room membership: the only place where a socket joins a conversation's room, leaves it, is evicted
//! from it, or leaves them all when it disconnects. Each of these does the same four things, in one
//! place: the socket's own list (under its lock), the socketioxide room, the fan-out's count (which binds
//! and unbinds the room on the broker), and the room notice (`userJoinRoom`/`userLeaveRoom`), plus
//! clearing the user's typing on the way out.
//!
//! One socket's joins, leaves, evictions and disconnect hold its lock from start to end, so they apply
//! one at a time: a leave waits for a join in progress, and a join that gets the lock after the
//! disconnect finds the socket closed and joins nothing.

use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::{AccessGrant, ConversationRef};
use junqo_proto::events::v1::{RoomNotice, event::Payload};
use socketioxide::extract::SocketRef;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::error::SocketError;
use crate::fanout::Fanout;
use crate::sequencer::{Eviction, MAX_REPLAY, Resumed, Sequencer};
use crate::session::{Peer, Session};
pub use crate::session::{conversation_room, user_room};
use crate::typing::Typing;
use crate::upstream;

/// What a join found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JoinOutcome {
    /// The room's last `seq` as the socket entered it: every later message reaches it live; every
    /// earlier one it was replayed (after `afterSeq`) or is in the history.
    pub latest_seq: i64,
    /// The client asked for more than a replay holds (or it could not be read): it pages the history.
    pub resync: bool,
}

#[derive(Clone)]
pub struct Rooms {
    fanout: Fanout,
    sequencer: Sequencer,
    typing: Typing,
    conversations: ConversationsServiceClient<Channel>,
    /// `SOCKET_MAX_ROOMS`: conversations one socket may be in at once.
    max_per_socket: usize,
}

impl Rooms {
    pub fn new(
        fanout: Fanout,
        sequencer: Sequencer,
        typing: Typing,
        conversations: ConversationsServiceClient<Channel>,
        max_per_socket: usize,
    ) -> Self {
        Self {
            fanout,
            sequencer,
            typing,
            conversations,
            max_per_socket,
        }
    }

    /// Puts the socket in the conversation's room, if its user is a participant (the conversations
    /// service is asked every time). The room is bound on the broker before this returns, so nothing
    /// sent after the client's ack can be missed. With `after` (the client's last `seq`), the socket is
    /// first replayed every message after it ([`crate::sequencer`]), or told to resync when too many
    /// are missing.
    pub async fn join(
        &self,
        peer: &Peer,
        conversation: Uuid,
        after: Option<i64>,
    ) -> Result<JoinOutcome, SocketError> {
        let mut joined = peer.state.joined().await;
        if joined.is_closed() {
            // The socket disconnected while this join waited for the lock: nobody is left to answer.
            return Ok(JoinOutcome::default());
        }
        if !joined.contains(conversation) && joined.len() >= self.max_per_socket {
            return Err(SocketError::bad_request(format!(
                "A connection can be in at most {} conversations; leave one first",
                self.max_per_socket
            )));
        }
        let grant = self.check_access(&peer.session, conversation).await?;
        let latest = grant.latest_seq;
        let mut outcome = JoinOutcome {
            latest_seq: latest,
            resync: after.is_some_and(|after| latest - after > MAX_REPLAY),
        };
        if peer.state.is_lagging() {
            // Going away (it missed a packet): it joins nothing more.
            return Ok(outcome);
        }
        let newly = joined.insert(conversation);
        let first = newly
            && self
                .sequencer
                .host(conversation, latest, grant.latest_event_seq);
        // Registered before the binding: every event the room is sent from now on reaches it once.
        let catch_up = after.filter(|_| !outcome.resync).and_then(|after| {
            Some((
                self.sequencer.begin_catch_up(conversation, &peer.socket)?,
                after,
            ))
        });
        if newly {
            self.fanout.join(conversation).await;
        }
        // A removal committed between the check and this binding had its event routed before the room
        // was bound here: the first local member is asked about again, now that nothing can be missed.
        // Its answer also says how far the conversation went meanwhile (events routed before the
        // binding are read from the store).
        if first {
            match self.check_access(&peer.session, conversation).await {
                Ok(grant) => self
                    .sequencer
                    .caught_up_to(conversation, grant.latest_event_seq),
                Err(error) => {
                    if let Some((catch_up, _)) = catch_up {
                        catch_up.abandon();
                    }
                    joined.remove(conversation);
                    self.sequencer.unhost(conversation);
                    self.fanout.leave(conversation);
                    return Err(error);
                }
            }
        }
        match catch_up {
            Some((catch_up, after)) => match catch_up.replay(after).await {
                Resumed::Replayed { latest_seq } => outcome.latest_seq = latest_seq,
                Resumed::ResyncRequired { latest_seq } => {
                    outcome.resync = true;
                    outcome.latest_seq = latest_seq;
                }
            },
            // What the room was sent between the check and now is in the history, not live: the
            // answer is where the socket's live messages start.
            None if newly => {
                outcome.latest_seq = self
                    .sequencer
                    .enter(conversation, &peer.socket)
                    .unwrap_or(latest);
            }
            None => {}
        }
        if newly {
            self.notice(peer.user_id(), conversation, true);
        }
        Ok(outcome)
    }

    /// Takes the socket out of the conversation's room, if it is in it.
    pub async fn leave(&self, peer: &Peer, conversation: Uuid) {
        if peer.state.joined().await.remove(conversation) {
            self.left(peer, conversation);
        }
    }

    /// Takes sockets out of a conversation's room because their user may no longer be there (removed
    /// from the conversation, or it was deleted). Does not wait: each socket's bookkeeping waits for any
    /// join in progress on it.
    pub fn evict(&self, sockets: Vec<SocketRef>, conversation: Uuid) {
        for socket in sockets {
            // Out of the socketioxide room at once, so nothing more reaches it; the rest follows.
            socket.leave(conversation_room(conversation));
            // Catching up (draining, or replaying inside its join, which holds the socket's list until
            // it ends): it stops now, and does not join the room at the end.
            self.sequencer.forget(conversation, socket.id);
            let Some(peer) = Peer::of(&socket) else {
                continue;
            };
            let rooms = self.clone();
            tokio::spawn(async move { rooms.leave(&peer, conversation).await });
        }
    }

    /// Finishes the evictions the sequencer applied in a room's sequence (participants removed): the
    /// sockets are out of the room already; their own lists, typing, notices and counts follow here.
    pub async fn evict_removed(self, mut evictions: mpsc::UnboundedReceiver<Eviction>) {
        while let Some((conversation, sockets)) = evictions.recv().await {
            self.evict(sockets, conversation);
        }
    }

    /// The socket is gone: out of every room it was in, and it joins no more.
    pub async fn disconnect(&self, peer: &Peer) {
        let conversations = peer.state.joined().await.close();
        for conversation in conversations {
            self.left(peer, conversation);
        }
    }

    /// Whether the socket's user may act in the conversation: a socket in the room was checked when it
    /// joined (and is evicted if its user is removed); otherwise the conversations service is asked.
    pub async fn ensure_member(&self, peer: &Peer, conversation: Uuid) -> Result<(), SocketError> {
        if peer.state.joined().await.contains(conversation) {
            return Ok(());
        }
        self.check_access(&peer.session, conversation).await?;
        Ok(())
    }

    /// Asks again whether the socket's user may see the conversation, with the socket's own token.
    pub async fn may_see(&self, peer: &Peer, conversation: Uuid) -> Result<(), SocketError> {
        self.check_access(&peer.session, conversation).await?;
        Ok(())
    }

    /// The socket has been taken off the socket's own list: everything else follows.
    fn left(&self, peer: &Peer, conversation: Uuid) {
        peer.socket.leave(conversation_room(conversation));
        self.typing.clear(peer.user_id(), conversation);
        self.notice(peer.user_id(), conversation, false);
        self.sequencer.forget(conversation, peer.socket.id);
        self.sequencer.unhost(conversation);
        self.fanout.leave(conversation);
    }

    /// The conversation's latest `seq` and `event_seq`, if the session's user may see it.
    async fn check_access(
        &self,
        session: &Session,
        conversation: Uuid,
    ) -> Result<AccessGrant, SocketError> {
        let request = upstream::request(
            session,
            ConversationRef {
                conversation_id: conversation.to_string(),
            },
        );
        let grant = self.conversations.clone().check_access(request).await?;
        Ok(grant.into_inner())
    }

    /// Tells the room, on every instance, that the user joined or left.
    fn notice(&self, user: Uuid, conversation: Uuid, joined: bool) {
        let payload = Payload::RoomNotice(RoomNotice {
            user_id: user.to_string(),
            joined,
        });
        self.fanout.publish_to_room(conversation, "room", payload);
    }
}
