-- 0011 (PostgreSQL): reads that do not grow with the batch, as SQLite's 0010.
--
-- The history chart from rollups kept at commit (store/rollups.py): one row per batch,
-- level (bucket width in seconds) and bucket of event time.
CREATE TABLE batch_rollups (
    batch_key          TEXT COLLATE "C" NOT NULL,
    level              BIGINT NOT NULL,   -- seconds per bucket
    bucket             BIGINT NOT NULL,   -- event time // level
    last_time          BIGINT NOT NULL,   -- newest event time in the bucket
    events             BIGINT NOT NULL,
    tasks_ready        BIGINT NOT NULL,   -- changes in task counts, by status
    tasks_running      BIGINT NOT NULL,
    tasks_succeeded    BIGINT NOT NULL,
    tasks_failed       BIGINT NOT NULL,
    tasks_suspended    BIGINT NOT NULL,
    tasks_finished     BIGINT NOT NULL,
    tasks_unknown      BIGINT NOT NULL,
    statistic          JSON,              -- the newest snapshot in the bucket
    statistic_time     BIGINT,
    statistic_event_id TEXT,
    PRIMARY KEY (batch_key, level, bucket)
);

-- What is stored already: each journaled event in its bucket, each task counted in its
-- current status from the time of the event that set it, each batch's newest statistic.
INSERT INTO batch_rollups
    SELECT e.batch_key, l.level, e.time / (l.level * 1000000), max(e.time), count(*),
           0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL
    FROM events AS e, (VALUES (1), (10), (60), (600), (3600), (86400)) AS l (level)
    WHERE e.batch_key IS NOT NULL GROUP BY 1, 2, 3;
INSERT INTO batch_rollups
    SELECT t.batch_key, l.level, t.status_time / (l.level * 1000000), max(t.status_time), 0,
           count(*) FILTER (WHERE t.status = 'ready'), count(*) FILTER (WHERE t.status = 'running'),
           count(*) FILTER (WHERE t.status = 'succeeded'),
           count(*) FILTER (WHERE t.status = 'failed'),
           count(*) FILTER (WHERE t.status = 'suspended'),
           count(*) FILTER (WHERE t.status = 'finished'),
           count(*) FILTER (WHERE t.status NOT IN ('ready', 'running', 'succeeded', 'failed',
                                                   'suspended', 'finished')),
           NULL, NULL, NULL
    FROM tasks AS t, (VALUES (1), (10), (60), (600), (3600), (86400)) AS l (level)
    WHERE t.batch_key IS NOT NULL GROUP BY 1, 2, 3
    ON CONFLICT (batch_key, level, bucket) DO UPDATE SET
        last_time = greatest(batch_rollups.last_time, excluded.last_time),
        tasks_ready = excluded.tasks_ready, tasks_running = excluded.tasks_running,
        tasks_succeeded = excluded.tasks_succeeded, tasks_failed = excluded.tasks_failed,
        tasks_suspended = excluded.tasks_suspended, tasks_finished = excluded.tasks_finished,
        tasks_unknown = excluded.tasks_unknown;
INSERT INTO batch_rollups
    SELECT b.batch_key, l.level, b.statistic_time / (l.level * 1000000), b.statistic_time, 0,
           0, 0, 0, 0, 0, 0, 0, b.statistic, b.statistic_time, b.statistic_event_id
    FROM batches AS b, (VALUES (1), (10), (60), (600), (3600), (86400)) AS l (level)
    WHERE b.statistic IS NOT NULL
    ON CONFLICT (batch_key, level, bucket) DO UPDATE SET
        statistic = excluded.statistic, statistic_time = excluded.statistic_time,
        statistic_event_id = excluded.statistic_event_id;

-- A batch's tasks in one status, newest first: the status filter pages by index.
CREATE INDEX tasks_by_status ON tasks (batch_key, status, status_time, task_id);
