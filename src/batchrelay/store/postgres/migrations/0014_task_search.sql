-- 0013 (PostgreSQL): task search by object path (or task id) substring through trigram
-- indexes (pg_trgm, a trusted extension: the database owner may create it). ILIKE with a
-- pattern of three characters or more reads them.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tasks_by_path_trigrams ON tasks USING gin (object_path gin_trgm_ops);
CREATE INDEX tasks_by_id_trigrams ON tasks USING gin (task_id gin_trgm_ops);
