-- 0010 (PostgreSQL): webhook subscriptions created at runtime over the API (as SQLite's
-- 0009). Structured values are JSON text; secrets is [[value, expires_at|null], ...], the
-- current one first. Their deliveries are outbox rows for receiver 'sub:' || id.
CREATE TABLE subscriptions (
    id              TEXT COLLATE "C" PRIMARY KEY,
    url             TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    filter          TEXT    NOT NULL DEFAULT '{}',
    kinds           TEXT    NOT NULL DEFAULT '[]',
    headers         TEXT    NOT NULL DEFAULT '{}',
    rate_limit      TEXT,                          -- [count, seconds], or none
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT,
    metadata        TEXT    NOT NULL DEFAULT '{}',
    secrets         TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    failing_since   BIGINT                         -- first failure since the last success
);
-- A subscription's delivery log reads its deliveries newest first.
CREATE INDEX deliveries_by_receiver ON deliveries (receiver, updated_at DESC, id DESC);
