-- Counters of sign-in failures and sign-ups, shared by every auth replica: per account and per client
-- address, each over a fixed window that ends at expires_at. Runs with search_path = auth.
CREATE TABLE attempts (
    -- 'sign-in:account:<lower email>', 'sign-in:address:<ip>', 'sign-up:address:<ip>'
    key        text        PRIMARY KEY,
    count      integer     NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The clean-up deletes windows that have ended.
CREATE INDEX attempts_expires_at ON attempts (expires_at);
