-- 0010: reads that do not grow with the batch.
--
-- The history chart from rollups kept at commit (store/rollups.py): one row per batch,
-- level (bucket width in seconds) and bucket of event time, holding the events journaled
-- in it, the change in task counts by status, the newest statistic and event time.
CREATE TABLE batch_rollups (
    batch_key          TEXT    NOT NULL,
    level              INTEGER NOT NULL,   -- seconds per bucket
    bucket             INTEGER NOT NULL,   -- event time // level
    last_time          INTEGER NOT NULL,   -- newest event time in the bucket
    events             INTEGER NOT NULL,
    tasks_ready        INTEGER NOT NULL,   -- changes in task counts, by status
    tasks_running      INTEGER NOT NULL,
    tasks_succeeded    INTEGER NOT NULL,
    tasks_failed       INTEGER NOT NULL,
    tasks_suspended    INTEGER NOT NULL,
    tasks_finished     INTEGER NOT NULL,
    tasks_unknown      INTEGER NOT NULL,
    statistic          TEXT,               -- the newest snapshot in the bucket, JSON
    statistic_time     INTEGER,
    statistic_event_id TEXT,
    PRIMARY KEY (batch_key, level, bucket)
) WITHOUT ROWID;

-- What is stored already: each journaled event in its bucket, each task counted in its
-- current status from the time of the event that set it, each batch's newest statistic.
INSERT INTO batch_rollups
    SELECT e.batch_key, l.level, e.time / (l.level * 1000000), max(e.time), count(*),
           0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL
    FROM events AS e, (SELECT 1 AS level UNION ALL SELECT 10 UNION ALL SELECT 60
                       UNION ALL SELECT 600 UNION ALL SELECT 3600 UNION ALL SELECT 86400) AS l
    WHERE e.batch_key IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO batch_rollups
    SELECT t.batch_key, l.level, t.status_time / (l.level * 1000000), max(t.status_time), 0,
           sum(t.status = 'ready'), sum(t.status = 'running'), sum(t.status = 'succeeded'),
           sum(t.status = 'failed'), sum(t.status = 'suspended'), sum(t.status = 'finished'),
           sum(t.status NOT IN ('ready', 'running', 'succeeded', 'failed', 'suspended',
                                'finished')),
           NULL, NULL, NULL
    FROM tasks AS t, (SELECT 1 AS level UNION ALL SELECT 10 UNION ALL SELECT 60
                      UNION ALL SELECT 600 UNION ALL SELECT 3600 UNION ALL SELECT 86400) AS l
    WHERE t.batch_key IS NOT NULL GROUP BY 1, 2, 3
    ON CONFLICT (batch_key, level, bucket) DO UPDATE SET
        last_time = max(last_time, excluded.last_time),
        tasks_ready = excluded.tasks_ready, tasks_running = excluded.tasks_running,
        tasks_succeeded = excluded.tasks_succeeded, tasks_failed = excluded.tasks_failed,
        tasks_suspended = excluded.tasks_suspended, tasks_finished = excluded.tasks_finished,
        tasks_unknown = excluded.tasks_unknown;
INSERT INTO batch_rollups
    SELECT b.batch_key, l.level, b.statistic_time / (l.level * 1000000), b.statistic_time, 0,
           0, 0, 0, 0, 0, 0, 0, b.statistic, b.statistic_time, b.statistic_event_id
    FROM batches AS b, (SELECT 1 AS level UNION ALL SELECT 10 UNION ALL SELECT 60
                        UNION ALL SELECT 600 UNION ALL SELECT 3600 UNION ALL SELECT 86400) AS l
    WHERE b.statistic IS NOT NULL AND true
    ON CONFLICT (batch_key, level, bucket) DO UPDATE SET
        statistic = excluded.statistic, statistic_time = excluded.statistic_time,
        statistic_event_id = excluded.statistic_event_id;

-- A batch's tasks in one status, newest first: the status filter pages by index.
CREATE INDEX tasks_by_status ON tasks (batch_key, status, status_time, task_id);
