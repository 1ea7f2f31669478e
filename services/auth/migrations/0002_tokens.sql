-- Token revocation, and the outbox of auth's events.
--
-- A user's "tokens valid after" instant lives in its own table rather than on `users`, because it must
-- outlive the user: a deleted user's tokens stay refused until they would have expired anyway. The
-- instant is always a whole second, the first second whose tokens are valid (see src/revocation.rs).
CREATE TABLE token_cutoffs (
    user_id     uuid        PRIMARY KEY,
    valid_after timestamptz NOT NULL
);

-- Tokens revoked one by one (logout), until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- Events written in the transaction of the change they announce, deleted once the broker confirms them.
CREATE TABLE outbox (
    id          bigserial   PRIMARY KEY,
    event_id    uuid        NOT NULL UNIQUE,
    routing_key text        NOT NULL,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
