//! Which rooms this instance hosts, and so which bindings its queue needs: a room's own key on the
//! ephemeral exchange while it has a local member, and its shard's key on the durable exchange while at
//! least one hosted room falls in that shard.

use std::collections::{HashMap, HashSet};

use broker::EventShards;
use uuid::Uuid;

/// Bindings a join adds or a leave removes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Change {
    /// The room's own binding (first member joined, or last one left).
    pub room: bool,
    /// The shard's binding (its first hosted room, or its last one gone).
    pub shard: Option<u16>,
}

pub(super) struct Hosting {
    shards: EventShards,
    /// Local sockets per room.
    rooms: HashMap<Uuid, usize>,
    /// Hosted rooms per shard.
    per_shard: HashMap<u16, usize>,
}

impl Hosting {
    pub(super) fn new(shards: EventShards) -> Self {
        Self {
            shards,
            rooms: HashMap::new(),
            per_shard: HashMap::new(),
        }
    }

    /// Counts a local member of `room`.
    pub(super) fn join(&mut self, room: Uuid) -> Change {
        let members = self.rooms.entry(room).or_default();
        *members += 1;
        if *members > 1 {
            return Change::default();
        }
        let shard = self.shards.of(&room);
        let rooms = self.per_shard.entry(shard).or_default();
        *rooms += 1;
        Change {
            room: true,
            shard: (*rooms == 1).then_some(shard),
        }
    }

    /// Lets go of a local member of `room` (nothing if it has none).
    pub(super) fn leave(&mut self, room: Uuid) -> Change {
        match self.rooms.get_mut(&room) {
            Some(members) if *members > 1 => {
                *members -= 1;
                Change::default()
            }
            Some(_) => {
                self.rooms.remove(&room);
                let shard = self.shards.of(&room);
                let last = match self.per_shard.get_mut(&shard) {
                    Some(rooms) if *rooms > 1 => {
                        *rooms -= 1;
                        false
                    }
                    _ => {
                        self.per_shard.remove(&shard);
                        true
                    }
                };
                Change {
                    room: true,
                    shard: last.then_some(shard),
                }
            }
            None => Change::default(),
        }
    }

    pub(super) fn hosts(&self, room: &Uuid) -> bool {
        self.rooms.contains_key(room)
    }

    pub(super) fn binds_shard(&self, shard: u16) -> bool {
        self.per_shard.contains_key(&shard)
    }

    pub(super) fn rooms(&self) -> impl Iterator<Item = &Uuid> {
        self.rooms.keys()
    }

    pub(super) fn shards(&self) -> impl Iterator<Item = u16> {
        self.per_shard.keys().copied()
    }

    pub(super) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub(super) fn shard_count(&self) -> usize {
        self.per_shard.len()
    }
}

/// What rooms left while the broker was away unbound: a queue that outlived its connection may still
/// hold those bindings, removed on reconnection unless a room or shard is in use again by then.
#[derive(Debug, Default)]
pub(super) struct LeftWhileAway {
    pub rooms: HashSet<Uuid>,
    pub shards: HashSet<u16>,
}

impl LeftWhileAway {
    pub(super) fn remember(&mut self, room: Uuid, change: Change) {
        if change.room {
            self.rooms.insert(room);
        }
        if let Some(shard) = change.shard {
            self.shards.insert(shard);
        }
    }

    pub(super) fn clear(&mut self) {
        self.rooms.clear();
        self.shards.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two shards; rooms 2 and 4 fall in shard 0, room 3 in shard 1.
    fn hosting() -> Hosting {
        Hosting::new(EventShards::new(2))
    }

    fn room(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_shard_is_bound_with_its_first_room_and_unbound_with_its_last() {
        let mut hosting = hosting();
        assert_eq!(
            hosting.join(room(2)),
            Change {
                room: true,
                shard: Some(0)
            }
        );
        assert_eq!(hosting.join(room(2)), Change::default(), "a second member");
        assert_eq!(
            hosting.join(room(4)),
            Change {
                room: true,
                shard: None
            },
            "shard 0 is bound already"
        );
        assert_eq!(
            hosting.join(room(3)),
            Change {
                room: true,
                shard: Some(1)
            }
        );
        assert_eq!(hosting.shard_count(), 2);

        assert_eq!(hosting.leave(room(2)), Change::default(), "one member left");
        assert_eq!(
            hosting.leave(room(2)),
            Change {
                room: true,
                shard: None
            },
            "room 4 still holds shard 0"
        );
        assert!(!hosting.hosts(&room(2)));
        assert_eq!(
            hosting.leave(room(4)),
            Change {
                room: true,
                shard: Some(0)
            }
        );
        assert_eq!(hosting.leave(room(4)), Change::default(), "not hosted");
        assert_eq!(hosting.shards().collect::<Vec<_>>(), [1]);
        assert_eq!(hosting.room_count(), 1);
    }
}
