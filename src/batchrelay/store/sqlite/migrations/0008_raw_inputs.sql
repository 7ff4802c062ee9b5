-- 0008: every body's bytes stored once, in raw_inputs, whatever it holds.
--
-- Before, each event of a multi-event body kept a copy of the whole body, and each failing
-- part of it another copy in the quarantine: a body of n events cost n times its size.
-- Now events and quarantine records reference one raw_inputs row by raw_id. Retention can
-- prune raw inputs by received_at on their own: raw_id is then left dangling on purpose (no
-- foreign key, so no index on the journal's raw_id to keep for a cascade), and readers
-- LEFT JOIN, showing an empty body.
CREATE TABLE raw_inputs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    ingress     TEXT    NOT NULL,
    encoding    TEXT    NOT NULL DEFAULT '',   -- the Content-Encoding body was sent with
    body        BLOB    NOT NULL               -- as sent, byte for byte
);
CREATE INDEX raw_inputs_by_time ON raw_inputs (received_at);

ALTER TABLE events ADD COLUMN raw_id INTEGER;
ALTER TABLE quarantine ADD COLUMN raw_id INTEGER;
ALTER TABLE quarantine ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;     -- failing parts; 0 = whole
ALTER TABLE quarantine ADD COLUMN failures TEXT NOT NULL DEFAULT '[]';  -- JSON [{index, reason, detail}]

-- What is already stored moves over as it is: one raw input per journaled event (ids
-- equal to the events' seq), then one per quarantine record (ids after those).
INSERT INTO raw_inputs (id, received_at, ingress, body)
    SELECT seq, received_at, ingress, raw FROM events;
UPDATE events SET raw_id = seq;
INSERT INTO raw_inputs (id, received_at, ingress, body)
    SELECT id + (SELECT coalesce(max(seq), 0) FROM events), received_at, ingress, raw
    FROM quarantine;
UPDATE quarantine SET raw_id = id + (SELECT coalesce(max(seq), 0) FROM events);

ALTER TABLE events DROP COLUMN raw;
ALTER TABLE quarantine DROP COLUMN raw;

-- One row that /readyz writes when it must know whether the store can commit (after a
-- failed commit, or when none was seen for a while): see store/health.py.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL
);
