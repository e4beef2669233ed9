-- AUTOINCREMENT keeps ids of deleted rows from being handed out again: sync clients remember ids.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE prospects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    first_name TEXT,
    last_name TEXT,
    title TEXT,
    company TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX prospects_owner_id ON prospects (owner_id, id);
CREATE INDEX prospects_updated_at ON prospects (updated_at, id);
-- `sort=-updatedAt` ties break by ascending id: an index in that mixed order reads pages in order
-- both ways (the ascending one serves `sort=updatedAt` and `filter[updatedAt]`).
CREATE INDEX prospects_updated_at_desc ON prospects (updated_at DESC, id);
CREATE INDEX prospects_created_at ON prospects (created_at, id);

-- extension is '' when there is none, so that the unique index also catches duplicates without one
-- (NULLs are distinct in a unique index on both backends).
CREATE TABLE phone_numbers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prospect_id INTEGER NOT NULL REFERENCES prospects (id) ON DELETE CASCADE,
    number TEXT NOT NULL,
    raw_number TEXT NOT NULL,
    country_code TEXT,
    extension TEXT NOT NULL DEFAULT '',
    phone_type TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_changed_at TIMESTAMP NOT NULL,
    source TEXT,
    formatted_number TEXT NOT NULL,
    line_type TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX phone_numbers_prospect_number ON phone_numbers (prospect_id, number, extension);
CREATE INDEX phone_numbers_prospect_id ON phone_numbers (prospect_id, id);
CREATE INDEX phone_numbers_prospect_position ON phone_numbers (prospect_id, position);
CREATE INDEX phone_numbers_updated_at ON phone_numbers (updated_at, id);
CREATE INDEX phone_numbers_updated_at_desc ON phone_numbers (updated_at DESC, id);
CREATE INDEX phone_numbers_number ON phone_numbers (number);
