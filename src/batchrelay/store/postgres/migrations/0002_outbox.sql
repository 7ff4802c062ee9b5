-- 0002 (PostgreSQL): notification obligations, written in the same transaction as the
-- event that caused them, and the deliveries the dispatcher builds from them. The same
-- tables as store/sqlite/migrations/0002_outbox.sql; times are BIGINT microseconds since the
-- epoch, as the outbox functions take and return them.

CREATE TABLE outbox (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    receiver    TEXT   NOT NULL,
    route       TEXT   NOT NULL,
    group_key   TEXT   NOT NULL,
    event_id    TEXT   NOT NULL,
    batch_key   TEXT,
    view        JSON   NOT NULL,             -- the normalized view, kept as written
    created_at  BIGINT NOT NULL,
    delivery_id TEXT                         -- NULL while pending
);
CREATE INDEX outbox_pending ON outbox (receiver, route, group_key, id) WHERE delivery_id IS NULL;
CREATE INDEX outbox_by_delivery ON outbox (delivery_id, id);

-- One row per notification group: when its pending events are due (NULL = none pending).
CREATE TABLE notify_groups (
    receiver   TEXT NOT NULL,
    route      TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    flush_at   BIGINT,
    last_flush BIGINT,
    PRIMARY KEY (receiver, route, group_key)
);
CREATE INDEX notify_groups_due ON notify_groups (flush_at) WHERE flush_at IS NOT NULL;

-- One message to one receiver. Its id is the idempotency key every retry repeats.
CREATE TABLE deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    receiver         TEXT    NOT NULL,
    route            TEXT    NOT NULL,
    group_key        TEXT    NOT NULL,
    batch_key        TEXT,
    state            TEXT    NOT NULL,   -- pending, sending, delivered, dead, coalesced, muted
    digest           BOOLEAN NOT NULL DEFAULT FALSE,
    events           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_attempt_at BIGINT,
    next_attempt_at  BIGINT  NOT NULL,
    lease_until      BIGINT,
    last_reason      TEXT,
    last_detail      TEXT,
    merged_into      TEXT,               -- the digest that carried it (state coalesced)
    replay_of        TEXT,               -- the dead letter it replays
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_dead ON deliveries (updated_at DESC) WHERE state = 'dead';
CREATE INDEX deliveries_by_batch ON deliveries (batch_key, created_at);

CREATE TABLE delivery_attempts (
    delivery_id TEXT             NOT NULL,
    attempt     INTEGER          NOT NULL,
    at          BIGINT           NOT NULL,
    outcome     TEXT             NOT NULL,  -- delivered, retry, dead
    reason      TEXT,
    detail      TEXT,
    seconds     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
