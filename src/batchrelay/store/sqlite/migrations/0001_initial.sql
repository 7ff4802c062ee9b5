-- 0001: the journal, the ledger and the quarantine.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC: exact (event times carry
-- sub-millisecond digits), compact, and sortable for keyset pagination.
-- The ledger tables (batches, tasks, batch_error_codes, project_totals) can always be
-- recomputed from the journal (events); see store/ledger.py for the rules.

-- The journal: every accepted event once, in arrival order (seq), with its raw bytes.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- replay order; never reused
    event_id    TEXT    NOT NULL UNIQUE,            -- the dedup key
    received_at INTEGER NOT NULL,
    ingress     TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    batch_key   TEXT,
    task_id     TEXT,
    time        INTEGER NOT NULL,                   -- event time
    model       TEXT    NOT NULL,                   -- the event model, JSON (the view derives from it)
    raw         BLOB    NOT NULL
);
-- No secondary index but event_id's: every index costs each commit a B-tree write, and
-- nothing reads the journal by batch or task yet (the query that does brings its index).

-- One row per batch_key. Task counts live in columns so alert rules can read a whole
-- batch in one row; they change only by deltas when a task changes status.
CREATE TABLE batches (
    batch_key           TEXT    PRIMARY KEY,
    kind                TEXT    NOT NULL,   -- batch, trigger, ice_batch, derived
    source              TEXT    NOT NULL,
    project             TEXT,
    account_id          TEXT,
    region              TEXT,
    state               TEXT    NOT NULL,   -- normalized status
    raw_state           TEXT    NOT NULL,   -- the service's word
    phase               TEXT    NOT NULL,
    error               TEXT    NOT NULL,
    tags                TEXT    NOT NULL,   -- JSON object
    actions             TEXT    NOT NULL,   -- JSON array
    head_batch          INTEGER NOT NULL,   -- head rank: is a batch event,
    head_time           INTEGER NOT NULL,   --   event time,
    head_event_id       TEXT    NOT NULL,   --   event id
    statistic           TEXT,               -- JSON, newest snapshot
    statistic_time      INTEGER,
    statistic_event_id  TEXT,
    service_create_time INTEGER,
    service_update_time INTEGER,
    create_time         INTEGER NOT NULL,
    update_time         INTEGER NOT NULL,
    first_seen          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    last_received       INTEGER NOT NULL,
    finished_at         INTEGER,
    events              INTEGER NOT NULL,
    provenance          TEXT    NOT NULL,   -- JSON: rank of the event behind each sticky field
    tasks_ready         INTEGER NOT NULL DEFAULT 0,
    tasks_running       INTEGER NOT NULL DEFAULT 0,
    tasks_succeeded     INTEGER NOT NULL DEFAULT 0,
    tasks_failed        INTEGER NOT NULL DEFAULT 0,
    tasks_suspended     INTEGER NOT NULL DEFAULT 0,
    tasks_finished      INTEGER NOT NULL DEFAULT 0,
    tasks_unknown       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX batches_by_create ON batches (create_time, batch_key);
CREATE INDEX batches_by_update ON batches (update_time, batch_key);
CREATE INDEX batches_by_state ON batches (state);

-- One row per task_id: its current status, set by the highest-ranked event.
CREATE TABLE tasks (
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
    status_time INTEGER NOT NULL,           -- rank of the status event: time,
    event_id    TEXT    NOT NULL,           --   event id (finality comes from status)
    provenance  TEXT    NOT NULL            -- JSON: rank of the event behind each sticky field
);
-- Serves every task listing: the status filter (status or lower(raw_status)) and the
-- object-path substring search are checked on the batch's rows, which no index can seek.
CREATE INDEX tasks_by_batch ON tasks (batch_key, status_time, task_id);

-- Failed tasks per batch and error code (a task that stops failing is subtracted).
CREATE TABLE batch_error_codes (
    batch_key TEXT    NOT NULL,
    code      TEXT    NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (batch_key, code)
) WITHOUT ROWID;

-- Tasks per project and status, batch or not; project '' when unknown.
CREATE TABLE project_totals (
    project TEXT    NOT NULL,
    status  TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (project, status)
) WITHOUT ROWID;

-- Input that could not be decoded or parsed, byte for byte.
CREATE TABLE quarantine (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ingress     TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    headers     TEXT    NOT NULL,           -- JSON object
    raw         BLOB    NOT NULL,
    received_at INTEGER NOT NULL
);
