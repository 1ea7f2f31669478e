-- Who blocked whom. Either direction keeps a pair apart: neither starts a conversation with the other,
-- adds the other, or messages the other in a conversation of just the two of them.
CREATE TABLE blocks (
    blocker_id  uuid        NOT NULL,
    blocked_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
-- The other direction: who blocked me.
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id, blocker_id);
