-- Alert state, silences and completion digests. Times are microseconds since the epoch.

-- One row per (rule, batch): the alert's lifecycle state as JSON (alerts/lifecycle.py),
-- so a restart neither forgets a firing alert nor notifies it again too soon.
CREATE TABLE alerts (
    rule       TEXT    NOT NULL,
    batch_key  TEXT    NOT NULL,
    status     TEXT    NOT NULL,   -- pending, firing, resolved
    state      TEXT    NOT NULL,   -- AlertState.to_dict(), JSON
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (rule, batch_key)
);
CREATE INDEX alerts_open ON alerts (status) WHERE status != 'resolved';
CREATE INDEX alerts_by_batch ON alerts (batch_key);

CREATE TABLE silences (
    id         TEXT    PRIMARY KEY,
    data       TEXT    NOT NULL,   -- Silence.to_dict(), JSON
    ends_at    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX silences_by_end ON silences (ends_at);

-- Batches changed since the alert evaluator last looked at them. Written in the commit
-- transaction of the event that changed the batch, so a crash loses no evaluation; seq
-- grows with each change, so a pass clears only the marks it has seen.
CREATE TABLE alert_dirty (
    batch_key TEXT    PRIMARY KEY,
    seq       INTEGER NOT NULL
);

-- The completion digest sent for a batch, keyed by the finish it reported: a batch that is
-- resumed and finishes again gets a new one.
CREATE TABLE batch_digests (
    batch_key   TEXT    PRIMARY KEY,
    finished_at INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL
);
