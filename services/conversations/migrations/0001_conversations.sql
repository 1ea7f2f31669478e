-- Conversations and everything in them. Runs with search_path = conversations.

CREATE TABLE conversations (
    id               uuid        PRIMARY KEY,
    -- The title given at creation, shown to participants who set none of their own.
    title            text        CHECK (char_length(title) <= 50),
    offer_id         uuid,
    application_id   uuid,
    -- The sequence number of the newest message: messages are numbered 1, 2, 3... per conversation.
    -- Incremented under this row's lock, so concurrent senders never share or skip a number.
    last_seq         bigint      NOT NULL DEFAULT 0,
    last_message_id  uuid,
    -- When the newest message was created. Message times are made strictly increasing per conversation
    -- (at millisecond precision, what JavaScript clients keep), so paging with `before` is exact.
    last_message_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participants (
    conversation_id  uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id          uuid        NOT NULL,
    -- Insertion order: participants are listed in the order they joined, creator first.
    position         bigint      GENERATED ALWAYS AS IDENTITY,
    joined_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id)
);
-- A user's conversations (listing, presence audience); the primary key serves membership checks.
CREATE INDEX participants_user_idx ON participants (user_id, conversation_id);

-- Each participant's own name for a conversation.
CREATE TABLE titles (
    conversation_id  uuid        NOT NULL,
    user_id          uuid        NOT NULL,
    title            text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 50),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, user_id),
    FOREIGN KEY (conversation_id, user_id) REFERENCES participants (conversation_id, user_id) ON DELETE CASCADE
);

CREATE TABLE messages (
    id                 uuid        PRIMARY KEY,
    conversation_id    uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq                bigint      NOT NULL,
    sender_id          uuid        NOT NULL,
    content            text        NOT NULL,
    -- Set by clients that retry: the same sender and id return the first message.
    client_message_id  text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    UNIQUE (conversation_id, seq)
);
-- History newest-first with `before` paging.
CREATE INDEX messages_history_idx ON messages (conversation_id, created_at DESC);
CREATE UNIQUE INDEX messages_client_id_key ON messages (sender_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

CREATE TABLE read_receipts (
    id          uuid        PRIMARY KEY,
    message_id  uuid        NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id     uuid        NOT NULL,
    read_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id)
);

-- Events written in the same transaction as the change they describe, deleted once RabbitMQ confirms
-- them. Whatever stays here (broker down, process killed) is republished by the relay.
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL,
    routing_key  text        NOT NULL,
    payload      bytea       NOT NULL,
    traceparent  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
