-- 0006: failed tasks by batch and error code, for the dashboard's failure grouping.
--
-- Partial: only a task whose status is failed has an entry, so a commit pays for it only
-- when a task fails or stops failing. It serves "the first failures of this code" (the
-- examples and the sample that failure clusters are computed from) without reading the
-- batch's other tasks.
CREATE INDEX tasks_failed ON tasks (batch_key, code, status_time, task_id) WHERE status = 'failed';
