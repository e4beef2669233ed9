-- The change feed: one row per committed change of a phone number or a prospect, written in the
-- change's own transaction. AUTOINCREMENT: a pruned id is never handed out again, so cursors stay
-- meaningful. SQLite serializes writers, so ids are assigned in commit order.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    resource_type TEXT NOT NULL,
    resource_id BIGINT NOT NULL,
    -- JSON: the changed attribute and relationship names; the snapshots before and after.
    changed_fields TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT,
    actor_id BIGINT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX changes_resource ON changes (resource_type, resource_id, id);
CREATE INDEX changes_occurred_at ON changes (occurred_at, id);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    -- Space-separated resource type names.
    resource_types TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    secret TEXT NOT NULL,
    last_delivery_at TIMESTAMP,
    last_delivery_status INTEGER,
    failed_deliveries BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- The outbox: one row per (webhook, change) still to be sent, queued in the change's transaction.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    change_id BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- Set while one instance holds the attempt; a lease that runs out is taken over.
    leased_until TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id);
