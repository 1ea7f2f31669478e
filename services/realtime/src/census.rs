//! What an instance holds right now, counted where it is kept: for tests (which run several instances in
//! one process, where the Prometheus gauges are shared) and diagnostics.

use socketioxide::SocketIo;

use crate::fanout::Fanout;
use crate::session::SocketState;

#[derive(Clone)]
pub struct Census {
    pub(crate) io: SocketIo,
    pub(crate) fanout: Fanout,
}

impl Census {
    /// Sockets connected to the default namespace.
    pub fn sockets(&self) -> usize {
        self.io.sockets().len()
    }

    /// Conversations with at least one local socket in their room: the rooms bound on the broker.
    pub fn rooms(&self) -> usize {
        self.fanout.hosted_rooms()
    }

    /// Sockets that missed a packet (their buffer was full) and are on their way out.
    pub fn lagging(&self) -> usize {
        self.io
            .sockets()
            .iter()
            .filter(|socket| {
                socket
                    .extensions
                    .get::<SocketState>()
                    .is_some_and(|state| state.is_lagging())
            })
            .count()
    }

    /// socketioxide's rooms (conversations and users' own rooms) that still have a socket in them.
    pub async fn socketio_rooms(&self) -> usize {
        self.io.rooms().await.map_or(0, |rooms| rooms.len())
    }
}
