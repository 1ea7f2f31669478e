-- Read-up-to: one number per (conversation, participant) instead of a row per (message, reader). A
-- participant has read every message with `seq <= last_read_seq`; their unread count is the messages of
-- others above it. Not indexed, so moving it is a HOT update of the participant row.
ALTER TABLE participants ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0;
