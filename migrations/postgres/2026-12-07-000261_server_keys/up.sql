-- Secrets the service makes once and every instance shares (the page-cursor key when
-- PHONEBOOK_CURSOR_SECRET is not set): the first instance to start inserts it, the others read it.
CREATE TABLE server_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
