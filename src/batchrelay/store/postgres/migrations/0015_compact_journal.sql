-- 0015 (PostgreSQL): the journal stores each event once, compactly, as SQLite's 0014
-- (store/journal_codec.py): ``model`` holds the event without the fields the row has in
-- columns, compressed with zstd and a dictionary; ``ingress``, ``source``, ``type`` and
-- ``task_id`` live only in it. Rows stored before keep their JSON, less the columns (json, not jsonb: a
-- string may hold \u0000, which jsonb refuses).
ALTER TABLE events ADD COLUMN compact BYTEA;
UPDATE events SET compact = convert_to(coalesce(
    (SELECT json_object_agg(f.key, f.value) FROM json_each(events.model::json) AS f
     WHERE f.key NOT IN ('event_id', 'kind', 'batch_key', 'time'))::text, '{}'),
    'UTF8');
ALTER TABLE events DROP COLUMN model;
ALTER TABLE events RENAME COLUMN compact TO model;
ALTER TABLE events ALTER COLUMN model SET NOT NULL;
ALTER TABLE events DROP COLUMN ingress, DROP COLUMN source, DROP COLUMN type,
    DROP COLUMN task_id;
-- already compressed: PostgreSQL's own compression (TOAST) would only spend time on it
ALTER TABLE events ALTER COLUMN model SET STORAGE EXTERNAL;
