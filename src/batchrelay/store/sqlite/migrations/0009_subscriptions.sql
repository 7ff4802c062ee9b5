-- 0009: webhook subscriptions created at runtime over the API (store/subscriptions.py).
-- Structured values are JSON text; secrets is [[value, expires_at|null], ...], the
-- current one first. Their deliveries are outbox rows for receiver 'sub:' || id.
CREATE TABLE subscriptions (
    id              TEXT    PRIMARY KEY,
    url             TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    filter          TEXT    NOT NULL DEFAULT '{}',
    kinds           TEXT    NOT NULL DEFAULT '[]',
    headers         TEXT    NOT NULL DEFAULT '{}',
    rate_limit      TEXT,                          -- [count, seconds], or none
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    metadata        TEXT    NOT NULL DEFAULT '{}',
    secrets         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    failing_since   INTEGER                        -- first failure since the last success
);
-- A subscription's delivery log reads its deliveries newest first.
CREATE INDEX deliveries_by_receiver ON deliveries (receiver, updated_at DESC, id DESC);
