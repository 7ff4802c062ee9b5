-- 0012: task search by object path (or task id) substring through a trigram index.
--
-- An FTS5 table with the trigram tokenizer over the tasks' object_path and task_id,
-- holding no copy of them (content='tasks'), kept by triggers. An upsert that changes
-- neither (a task's status moving on) leaves it alone. A search of three characters or
-- more reads it (tasks then still checked with LIKE, so the answer is LIKE's); a shorter
-- one scans the batch's tasks as before.
CREATE VIRTUAL TABLE tasks_search USING fts5(
    object_path, task_id, content = 'tasks', content_rowid = 'rowid', tokenize = 'trigram'
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
