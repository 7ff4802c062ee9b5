-- 0015: fewer bytes per task.
--
-- Provenance (store/row_codec.py dump_provenance): ``0`` when the task's status event set
-- every sticky field, as when a task is known from one event, instead of the same
-- [lead, time, event_id] once per field (~200 B). Rows whose ranks all equal the status
-- event's are rewritten so; the others keep the form they have, which is still read.
UPDATE tasks SET provenance = '0'
    WHERE provenance != '{}' AND NOT EXISTS (
        SELECT 1 FROM json_each(tasks.provenance) AS r
        WHERE r.value != json_array(tasks.status IN ('succeeded', 'failed', 'finished'),
                                    tasks.status_time, tasks.event_id));

-- The task search's trigram index keeps which tasks hold each trigram, not where
-- (detail=none: 46 B a task instead of 194 B) and no column sizes: a search asks for all of
-- its trigrams (store/sqlite/queries.py) and LIKE decides, as before.
DROP TRIGGER tasks_search_insert;
DROP TRIGGER tasks_search_update;
DROP TRIGGER tasks_search_delete;
DROP TABLE tasks_search;
CREATE VIRTUAL TABLE tasks_search USING fts5(
    object_path, task_id, content = 'tasks', content_rowid = 'rowid', tokenize = 'trigram',
    detail = none, columnsize = 0
);
CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO tasks_search (rowid, object_path, task_id)
        VALUES (new.rowid, new.object_path, new.task_id);
END;
CREATE TRIGGER tasks_search_update AFTER UPDATE ON tasks
    WHEN old.object_path IS NOT new.object_path OR old.task_id IS NOT new.task_id BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, object_path, task_id)
        VALUES ('delete', old.rowid, old.object_path, old.task_id);
    INSERT INTO tasks_search (rowid, object_path, task_id)
        VALUES (new.rowid, new.object_path, new.task_id);
END;
CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
    INSERT INTO tasks_search (tasks_search, rowid, object_path, task_id)
        VALUES ('delete', old.rowid, old.object_path, old.task_id);
END;
INSERT INTO tasks_search (tasks_search) VALUES ('rebuild');

-- A batch's task listing without a status filter merges tasks_by_status's newest of each
-- status (store/sqlite/queries.py list_tasks), so tasks_by_batch is one index less to
-- write per task (70 B a task); whatever read a batch's tasks by it reads tasks_by_status.
DROP INDEX tasks_by_batch;
