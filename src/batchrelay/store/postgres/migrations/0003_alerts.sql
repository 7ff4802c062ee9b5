-- 0003 (PostgreSQL): alert state, silences and completion digests; the same tables as
-- store/sqlite/migrations/0003_alerts.sql. Times are BIGINT microseconds since the epoch.

-- One row per (rule, batch): the alert's lifecycle state (alerts/lifecycle.py), so a
-- restart neither forgets a firing alert nor notifies it again too soon.
CREATE TABLE alerts (
    rule       TEXT   NOT NULL,
    batch_key  TEXT   NOT NULL,
    status     TEXT   NOT NULL,   -- pending, firing, resolved
    state      JSON   NOT NULL,   -- AlertState.to_dict()
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (rule, batch_key)
);
CREATE INDEX alerts_open ON alerts (status) WHERE status != 'resolved';
CREATE INDEX alerts_by_batch ON alerts (batch_key);

CREATE TABLE silences (
    id         TEXT   PRIMARY KEY,
    data       JSON   NOT NULL,   -- Silence.to_dict()
    ends_at    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);

-- Batches changed since the alert evaluator last looked at them, written in the commit
-- transaction of the event that changed the batch; seq grows with each change, so a pass
-- clears only the marks it has seen.
CREATE TABLE alert_dirty (
    batch_key TEXT   PRIMARY KEY,
    seq       BIGINT NOT NULL
);

-- The completion digest sent for a batch, keyed by the finish it reported.
CREATE TABLE batch_digests (
    batch_key   TEXT   PRIMARY KEY,
    finished_at BIGINT NOT NULL,
    sent_at     BIGINT NOT NULL
);
