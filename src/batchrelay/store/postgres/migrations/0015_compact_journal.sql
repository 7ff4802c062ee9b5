-- 0015 (PostgreSQL): the journal stores each event once, compactly, as SQLite's 0014
-- (store/journal_codec.py): ``model`` holds the event without the fields the row has in
-- columns, compressed with zstd and a dictionary; ``ingress``, ``source``, ``type`` and
-- ``task_id`` live only in it. Rows stored before keep their whole JSON, as bytes: taking
-- fields out of it in SQL would need PostgreSQL to parse strings it cannot hold (\u0000),
-- and the reader lets the row's columns win over what the JSON repeats.
ALTER TABLE events ALTER COLUMN model TYPE BYTEA USING convert_to(model, 'UTF8');
ALTER TABLE events DROP COLUMN ingress, DROP COLUMN source, DROP COLUMN type,
    DROP COLUMN task_id;
-- already compressed: PostgreSQL's own compression (TOAST) would only spend time on it
ALTER TABLE events ALTER COLUMN model SET STORAGE EXTERNAL;
