-- Idempotency-Key (API.md section 12): one row per user and key. A row whose status is NULL is
-- a first request still running (its claim names it); once it has answered, the row keeps that
-- answer for replays. Rows older than 24 hours are expired and removed lazily by the service.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 of the method, the path with its query and the body bytes.
    fingerprint TEXT NOT NULL,
    claim TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    status INTEGER,
    content_type TEXT,
    location TEXT,
    etag TEXT,
    body BYTEA,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
