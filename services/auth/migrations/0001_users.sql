-- Users and their credentials. Runs with search_path = auth, so everything lands in the auth schema.
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL,
    email         text        NOT NULL,
    type          text        NOT NULL CHECK (type IN ('STUDENT', 'SCHOOL', 'COMPANY', 'ADMIN')),
    -- Argon2id in PHC string form (algorithm, parameters and salt travel with the hash).
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique regardless of case; sign-in looks them up the same way.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
