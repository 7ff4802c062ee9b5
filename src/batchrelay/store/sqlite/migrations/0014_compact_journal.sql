-- 0014: the journal stores each event once, compactly (store/journal_codec.py).
--
-- ``model`` held the whole event as JSON, repeating every column of the row and, in
-- ``data``, what raw_inputs holds: ~900 B of a 546-byte CloudEvent's 2.2 KB. It now holds
-- the event without the fields the row has in columns and without defaults, compressed
-- with zstd and a dictionary; ``ingress``, ``source``, ``type`` and ``task_id`` live only in it
-- (no query filters on them; retention reads a pruned event's task from the model;
-- ``kind`` stays a column for the completion digest's join). Rows stored
-- before keep their JSON, less the columns: the reader tells the two forms apart.
CREATE TABLE events_compact (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- replay order; never reused
    event_id    TEXT    NOT NULL UNIQUE,            -- the dedup key
    received_at INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    batch_key   TEXT,
    time        INTEGER NOT NULL,                   -- event time
    model       BLOB    NOT NULL,                   -- store/journal_codec.py
    raw_id      INTEGER                             -- raw_inputs.id; may be pruned
);
INSERT INTO events_compact
    SELECT seq, event_id, received_at, kind, batch_key, time,
           CAST(json_remove(model, '$.event_id', '$.kind', '$.batch_key', '$.time') AS BLOB),
           raw_id
    FROM events ORDER BY seq;
-- seq is never reused: the new table goes on from where the old one's counter stood
DELETE FROM sqlite_sequence WHERE name = 'events_compact';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'events_compact', coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events';
DROP TABLE events;
ALTER TABLE events_compact RENAME TO events;
CREATE INDEX events_by_batch ON events (batch_key, time, event_id) WHERE batch_key IS NOT NULL;

-- Retention prunes raw inputs in id order, which is arrival order (store/sqlite/retention.py
-- _by_arrival): the index by received_at was 18 B an input for nothing else.
DROP INDEX raw_inputs_by_time;
