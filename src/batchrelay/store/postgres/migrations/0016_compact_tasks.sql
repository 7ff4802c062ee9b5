-- 0016 (PostgreSQL): provenance ``0`` when the task's status event set every sticky field,
-- as SQLite's 0015 (store/row_codec.py dump_provenance); other rows keep their form.
UPDATE tasks SET provenance = '0'
    WHERE provenance::text <> '{}' AND NOT EXISTS (
        SELECT 1 FROM json_each(tasks.provenance) AS r
        WHERE r.value::jsonb <> jsonb_build_array(
            (tasks.status IN ('succeeded', 'failed', 'finished'))::int, tasks.status_time,
            tasks.event_id));
