-- 0010 (PostgreSQL): retention, as SQLite's 0009. Ledger snapshots, so ``ledger rebuild``
-- stays exact once a batch's journal rows are pruned, and the indexes pruning reads by time.
--
-- A snapshot may overlap the retained journal (the ledger rules are merges); only a batch's
-- event counter is a sum, so the snapshot's ``events`` holds the events pruned.
CREATE TABLE batch_snapshots (
    batch_key           TEXT COLLATE "C" PRIMARY KEY,
    kind                TEXT     NOT NULL,
    source              TEXT     NOT NULL,
    project             TEXT,
    account_id          TEXT,
    region              TEXT,
    state               TEXT     NOT NULL,
    raw_state           TEXT     NOT NULL,
    phase               TEXT     NOT NULL,
    error               TEXT     NOT NULL,
    tags                JSONB    NOT NULL,
    actions             JSON     NOT NULL,
    head_batch          SMALLINT NOT NULL,
    head_time           BIGINT   NOT NULL,
    head_event_id       TEXT     NOT NULL,
    statistic           JSON,
    statistic_time      BIGINT,
    statistic_event_id  TEXT,
    service_create_time BIGINT,
    service_update_time BIGINT,
    first_seen          BIGINT   NOT NULL,
    last_seen           BIGINT   NOT NULL,
    last_received       BIGINT   NOT NULL,
    events              BIGINT   NOT NULL,   -- journal rows pruned so far
    provenance          JSON     NOT NULL
);

CREATE TABLE task_snapshots (
    task_id     TEXT COLLATE "C" PRIMARY KEY,
    batch_key   TEXT COLLATE "C",
    source      TEXT   NOT NULL,
    project     TEXT,
    task_type   TEXT,
    object_path TEXT,
    status      TEXT   NOT NULL,
    raw_status  TEXT   NOT NULL,
    code        TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    first_seen  BIGINT NOT NULL,
    status_time BIGINT NOT NULL,
    event_id    TEXT   NOT NULL,
    provenance  JSON   NOT NULL
);
CREATE INDEX task_snapshots_by_batch ON task_snapshots (batch_key);

-- Pruning reads by time, in batches of rows, each an index range.
CREATE INDEX batches_by_finish ON batches (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX deliveries_finished ON deliveries (updated_at)
    WHERE state IN ('delivered', 'dead', 'coalesced', 'muted');
CREATE INDEX quarantine_by_time ON quarantine (received_at);
CREATE INDEX alerts_resolved ON alerts (updated_at) WHERE status = 'resolved';
