-- 0009: retention. Ledger snapshots, so ``ledger rebuild`` stays exact once a batch's
-- journal rows are pruned, and the indexes pruning reads by time.
--
-- When retention prunes a closed batch's events, the batch row and the rows of the tasks
-- those events reported are copied here first, in the same transaction. The ledger rules
-- are merges (store/ledger.py): a task row is the same whether an event is applied once or
-- twice, so a snapshot may overlap the retained journal; only a batch's event counter is a
-- sum, so the snapshot's ``events`` holds the events pruned, not the batch's counter.
-- A rebuild starts from these rows, then replays the retained journal.
CREATE TABLE batch_snapshots (
    batch_key           TEXT    PRIMARY KEY,
    kind                TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    project             TEXT,
    account_id          TEXT,
    region              TEXT,
    state               TEXT    NOT NULL,
    raw_state           TEXT    NOT NULL,
    phase               TEXT    NOT NULL,
    error               TEXT    NOT NULL,
    tags                TEXT    NOT NULL,
    actions             TEXT    NOT NULL,
    head_batch          INTEGER NOT NULL,
    head_time           INTEGER NOT NULL,
    head_event_id       TEXT    NOT NULL,
    statistic           TEXT,
    statistic_time      INTEGER,
    statistic_event_id  TEXT,
    service_create_time INTEGER,
    service_update_time INTEGER,
    first_seen          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    last_received       INTEGER NOT NULL,
    events              INTEGER NOT NULL,   -- journal rows pruned so far
    provenance          TEXT    NOT NULL
);

CREATE TABLE task_snapshots (
    task_id     TEXT    PRIMARY KEY,
    batch_key   TEXT,
    source      TEXT    NOT NULL,
    project     TEXT,
    task_type   TEXT,
    object_path TEXT,
    status      TEXT    NOT NULL,
    raw_status  TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    first_seen  INTEGER NOT NULL,
    status_time INTEGER NOT NULL,
    event_id    TEXT    NOT NULL,
    provenance  TEXT    NOT NULL
);
CREATE INDEX task_snapshots_by_batch ON task_snapshots (batch_key);

-- Batches by the moment they closed: which batches' journals are past retention.
CREATE INDEX batches_by_finish ON batches (finished_at) WHERE finished_at IS NOT NULL;
-- Finished deliveries by their last change (pending and sending ones are never pruned).
CREATE INDEX deliveries_finished ON deliveries (updated_at)
    WHERE state IN ('delivered', 'dead', 'coalesced', 'muted');
CREATE INDEX quarantine_by_time ON quarantine (received_at);
CREATE INDEX alerts_resolved ON alerts (updated_at) WHERE status = 'resolved';
