-- 0007 (PostgreSQL): failed tasks by batch and error code, as store/sqlite/migrations/0006.
--
-- Partial: only a failed task has an entry, so a commit pays for it only when a task fails
-- or stops failing.
CREATE INDEX tasks_failed ON tasks (batch_key, code, status_time, task_id) WHERE status = 'failed';
