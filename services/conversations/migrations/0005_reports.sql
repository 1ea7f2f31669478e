-- Reports of messages, for moderators. The message's content and sender are copied as they were when
-- reported: the sender may edit or delete the message afterwards, and moderators judge what was seen.
CREATE TABLE reports (
    id                 uuid        PRIMARY KEY,
    message_id         uuid        NOT NULL,
    conversation_id    uuid        NOT NULL,
    reporter_id        uuid        NOT NULL,
    reason             text        NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
    status             text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'dismissed')),
    message_content    text        NOT NULL,
    message_sender_id  uuid        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- One open report per message and reporter.
CREATE UNIQUE INDEX reports_open_key ON reports (message_id, reporter_id) WHERE status = 'open';
-- The moderators' queue: by status, oldest first.
CREATE INDEX reports_queue_idx ON reports (status, created_at);
