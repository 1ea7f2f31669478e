-- The per-conversation event log (docs/architecture.md, "The event log"). Every durable event of a
-- conversation gets the next number of `conversations.last_event_seq` (bumped under the conversation row's
-- lock, so numbers follow commit order), and its outbox row is kept, marked published, for
-- EVENT_LOG_RETENTION_SECS after the broker confirmed it, so realtime can fill a gap in its live delivery
-- (ListEventsSince).
ALTER TABLE conversations ADD COLUMN last_event_seq bigint NOT NULL DEFAULT 0;

ALTER TABLE outbox
    -- NULL for events of no conversation, and in rows written before the event log.
    ADD COLUMN conversation_id uuid,
    -- NULL when the event has no number: a conversation's deletion (its row is gone), rows of before.
    ADD COLUMN event_seq       bigint,
    -- NULL until the broker confirmed the row; then kept until pruned.
    ADD COLUMN published_at    timestamptz;

-- ListEventsSince reads a conversation's events by number.
CREATE UNIQUE INDEX outbox_event_seq_key ON outbox (conversation_id, event_seq);
-- The relay, the claim renewal and the backlog gauge look at unpublished rows only: this index holds just
-- them, however many published rows are kept.
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
-- The pruner finds the rows published longest ago without reading the kept ones still within retention.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
