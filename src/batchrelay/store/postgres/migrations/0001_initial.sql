-- 0001 (PostgreSQL): the journal, the ledger and the quarantine.
--
-- The same tables and columns as the SQLite schema (store/sqlite/migrations/0001_initial.sql), so
-- both stores convert rows with the same code and give the same ledger:
-- * times are BIGINT microseconds since the Unix epoch, UTC: exact, and the value that
--   page tokens carry;
-- * keys that pages are ordered by are COLLATE "C" (byte order, as SQLite compares text),
--   so a page holds the same rows whatever the database's locale;
-- * JSON the store only keeps is `json` (kept as written), JSON it filters on is `jsonb`.
-- The ledger tables (batches, tasks, batch_error_codes, project_totals) can always be
-- recomputed from the journal (events); see store/ledger.py for the rules.

-- The journal: every accepted event once, with its raw bytes.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- replay order
    event_id    TEXT COLLATE "C" NOT NULL UNIQUE,                 -- the dedup key
    received_at BIGINT NOT NULL,
    ingress     TEXT   NOT NULL,
    source      TEXT   NOT NULL,
    type        TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    batch_key   TEXT,
    task_id     TEXT,
    time        BIGINT NOT NULL,                  -- event time
    model       TEXT   NOT NULL,                  -- the event model, JSON text as serialized
    raw         BYTEA  NOT NULL
);

-- One row per batch_key. Task counts live in columns so alert rules can read a whole
-- batch in one row; they change only by deltas when a task changes status.
CREATE TABLE batches (
    batch_key           TEXT COLLATE "C" PRIMARY KEY,
    kind                TEXT     NOT NULL,   -- batch, trigger, ice_batch, derived
    source              TEXT     NOT NULL,
    project             TEXT,
    account_id          TEXT,
    region              TEXT,
    state               TEXT     NOT NULL,   -- normalized status
    raw_state           TEXT     NOT NULL,   -- the service's word
    phase               TEXT     NOT NULL,
    error               TEXT     NOT NULL,
    tags                JSONB    NOT NULL,   -- object; ListBatches filters on it
    actions             JSON     NOT NULL,   -- array
    head_batch          SMALLINT NOT NULL,   -- head rank: is a batch event (0/1),
    head_time           BIGINT   NOT NULL,   --   event time,
    head_event_id       TEXT     NOT NULL,   --   event id
    statistic           JSON,                -- newest snapshot
    statistic_time      BIGINT,
    statistic_event_id  TEXT,
    service_create_time BIGINT,
    service_update_time BIGINT,
    create_time         BIGINT   NOT NULL,
    update_time         BIGINT   NOT NULL,
    first_seen          BIGINT   NOT NULL,
    last_seen           BIGINT   NOT NULL,
    last_received       BIGINT   NOT NULL,
    finished_at         BIGINT,
    events              BIGINT   NOT NULL,
    provenance          JSON     NOT NULL,   -- rank of the event behind each sticky field
    tasks_ready         BIGINT   NOT NULL DEFAULT 0,
    tasks_running       BIGINT   NOT NULL DEFAULT 0,
    tasks_succeeded     BIGINT   NOT NULL DEFAULT 0,
    tasks_failed        BIGINT   NOT NULL DEFAULT 0,
    tasks_suspended     BIGINT   NOT NULL DEFAULT 0,
    tasks_finished      BIGINT   NOT NULL DEFAULT 0,
    tasks_unknown       BIGINT   NOT NULL DEFAULT 0
);
CREATE INDEX batches_by_create ON batches (create_time, batch_key);
CREATE INDEX batches_by_update ON batches (update_time, batch_key);
CREATE INDEX batches_by_state ON batches (state);

-- One row per task_id: its current status, set by the highest-ranked event.
CREATE TABLE tasks (
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
    status_time BIGINT NOT NULL,             -- rank of the status event: time,
    event_id    TEXT   NOT NULL,             --   event id (finality comes from status)
    provenance  JSON   NOT NULL              -- rank of the event behind each sticky field
);
CREATE INDEX tasks_by_batch ON tasks (batch_key, status_time, task_id);

-- Failed tasks per batch and error code (a task that stops failing is subtracted).
CREATE TABLE batch_error_codes (
    batch_key TEXT COLLATE "C" NOT NULL,
    code      TEXT COLLATE "C" NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (batch_key, code)
);

-- Tasks per project and status, batch or not; project '' when unknown.
CREATE TABLE project_totals (
    project TEXT COLLATE "C" NOT NULL,
    status  TEXT COLLATE "C" NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (project, status)
);

-- Input that could not be decoded or parsed, byte for byte.
CREATE TABLE quarantine (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ingress     TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    headers     JSON   NOT NULL,             -- object
    raw         BYTEA  NOT NULL,
    received_at BIGINT NOT NULL
);
