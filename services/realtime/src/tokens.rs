//! Sockets end with their token: one task per instance watches the token of every live socket and
//! disconnects the socket when its token expires or is revoked.
//!
//! The handshake verifies a token once; this module covers the rest of the socket's life. One task owns
//! every watched socket (its user, `jti`, `iat`, `exp`), an index by user and by `jti`, and a single
//! ordered map of expiries: it sleeps until the earliest expiry, so the work is one timer for the whole
//! instance, not one per socket. It also hears every change of the revocation state
//! ([`revocation::Revocations::subscribe`]) and disconnects the sockets it affects: a cutoff looks only at
//! that user's sockets, a revoked `jti` at its own, a reload (or a missed change) re-checks every socket.
//!
//! A socket registered while a revocation is being applied is checked against the state when its
//! registration is handled: the state is updated before the change is announced, so either the check or
//! the announcement sees it.
//!
//! The client is told with a server-side disconnect (`io server disconnect` in the official client), after
//! which it does not reconnect on its own: it sets a fresh token and reconnects (see the README).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use jwt::Claims;
use revocation::{Change, Revocations};
use socketioxide::SocketError;
use socketioxide::SocketIo;
use socketioxide::socket::Sid;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What the watch needs to know of a socket's token.
#[derive(Debug, Clone)]
struct Watched {
    claims: Claims,
}

enum Command {
    Watch { sid: Sid, claims: Box<Claims> },
    Forget { sid: Sid },
}

/// The handle sockets use: register on handshake, forget on disconnect.
#[derive(Clone)]
pub struct TokenWatch {
    commands: mpsc::UnboundedSender<Command>,
}

/// The receiving end, until the Socket.IO server exists to disconnect sockets with.
pub struct TokenWatchRunner {
    commands: mpsc::UnboundedReceiver<Command>,
    revocations: Revocations,
    stop: CancellationToken,
}

pub fn token_watch(
    revocations: Revocations,
    stop: CancellationToken,
) -> (TokenWatch, TokenWatchRunner) {
    let (commands, receiver) = mpsc::unbounded_channel();
    (
        TokenWatch { commands },
        TokenWatchRunner {
            commands: receiver,
            revocations,
            stop,
        },
    )
}

impl TokenWatch {
    pub fn watch(&self, sid: Sid, claims: Claims) {
        let _ = self.commands.send(Command::Watch {
            sid,
            claims: Box::new(claims),
        });
    }

    pub fn forget(&self, sid: Sid) {
        let _ = self.commands.send(Command::Forget { sid });
    }
}

impl TokenWatchRunner {
    pub fn start(self, io: SocketIo) -> JoinHandle<()> {
        let changes = self.revocations.subscribe();
        let mut watch = Watch {
            io,
            revocations: self.revocations,
            sockets: HashMap::new(),
            by_user: HashMap::new(),
            by_jti: HashMap::new(),
            expiries: BTreeSet::new(),
        };
        tokio::spawn(async move {
            watch.run(self.commands, changes, self.stop).await;
        })
    }
}

struct Watch {
    io: SocketIo,
    revocations: Revocations,
    sockets: HashMap<Sid, Watched>,
    by_user: HashMap<Uuid, HashSet<Sid>>,
    by_jti: HashMap<Uuid, HashSet<Sid>>,
    /// (exp in seconds, socket): the first entry is the next socket to end.
    expiries: BTreeSet<(i64, Sid)>,
}

/// When nothing is watched, the timer still wakes now and then (harmless, and simpler than an option).
const IDLE: Duration = Duration::from_secs(3600);
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);

impl Watch {
    async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut changes: broadcast::Receiver<Change>,
        stop: CancellationToken,
    ) {
        loop {
            let sleep = tokio::time::sleep(self.until_next_expiry());
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                command = commands.recv() => match command {
                    Some(Command::Watch { sid, claims }) => self.add(sid, *claims),
                    Some(Command::Forget { sid }) => self.remove(sid),
                    None => return,
                },
                change = changes.recv() => match change {
                    Ok(Change::AllBefore { user, .. }) => self.recheck_user(user),
                    Ok(Change::Token { jti, .. }) => self.recheck_jti(jti),
                    Ok(Change::Reloaded) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.recheck_all();
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = sleep => self.expire(),
            }
        }
    }

    fn until_next_expiry(&self) -> Duration {
        let Some((exp, _)) = self.expiries.first() else {
            return IDLE;
        };
        // A token is not accepted at or after its `exp`.
        let millis = exp.saturating_mul(1000) - Utc::now().timestamp_millis();
        Duration::from_millis(u64::try_from(millis).unwrap_or(0))
    }

    fn add(&mut self, sid: Sid, claims: Claims) {
        if self.revocations.is_revoked(&claims) || claims.exp <= Utc::now().timestamp() {
            self.end(sid, "revoked");
            return;
        }
        self.by_user.entry(claims.sub).or_default().insert(sid);
        if let Some(jti) = claims.jti {
            self.by_jti.entry(jti).or_default().insert(sid);
        }
        self.expiries.insert((claims.exp, sid));
        self.sockets.insert(sid, Watched { claims });
    }

    fn remove(&mut self, sid: Sid) {
        let Some(watched) = self.sockets.remove(&sid) else {
            return;
        };
        let claims = watched.claims;
        self.expiries.remove(&(claims.exp, sid));
        remove_from(&mut self.by_user, claims.sub, sid);
        if let Some(jti) = claims.jti {
            remove_from(&mut self.by_jti, jti, sid);
        }
    }

    fn expire(&mut self) {
        let now = Utc::now().timestamp();
        while let Some(&(exp, sid)) = self.expiries.first() {
            if exp > now {
                break;
            }
            self.remove(sid);
            self.end(sid, "expired");
        }
    }

    fn recheck(&mut self, sids: Vec<Sid>) {
        for sid in sids {
            let revoked = self
                .sockets
                .get(&sid)
                .is_some_and(|w| self.revocations.is_revoked(&w.claims));
            if revoked {
                self.remove(sid);
                self.end(sid, "revoked");
            }
        }
    }

    fn recheck_user(&mut self, user: Uuid) {
        let sids = self
            .by_user
            .get(&user)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        self.recheck(sids);
    }

    fn recheck_jti(&mut self, jti: Uuid) {
        let sids = self
            .by_jti
            .get(&jti)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        self.recheck(sids);
    }

    fn recheck_all(&mut self) {
        let sids = self.sockets.keys().copied().collect();
        self.recheck(sids);
    }

    /// Disconnects the socket, if it is still here; its disconnect handler does the rest (rooms,
    /// presence) and sends a `Forget`, which finds nothing left.
    fn end(&self, sid: Sid, why: &'static str) {
        metrics::counter!("realtime_sockets_token_ended_total", "reason" => why).increment(1);
        let Some(socket) = self.io.get_socket(sid) else {
            return;
        };
        tracing::info!(%sid, reason = why, "token no longer valid; disconnecting the socket");
        // Out of every room at once, so nothing more reaches it while the disconnect is on its way.
        socket.leave_all();
        if let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
            // The disconnect packet needs room in a full outgoing buffer: retried until the client has
            // read some or its transport is gone (its heartbeat needs room too).
            tokio::spawn(async move {
                while let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
                    tokio::time::sleep(DISCONNECT_RETRY).await;
                }
            });
        }
    }
}

fn remove_from(index: &mut HashMap<Uuid, HashSet<Sid>>, key: Uuid, sid: Sid) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(&sid);
        if set.is_empty() {
            index.remove(&key);
        }
    }
}
