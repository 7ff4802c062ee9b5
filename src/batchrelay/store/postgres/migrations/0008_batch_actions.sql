-- 0008 (PostgreSQL): the batch actions table of SQLite's 0007, same columns.
CREATE TABLE batch_actions (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_key TEXT   NOT NULL COLLATE "C",
    action    TEXT   NOT NULL,
    actor     TEXT   NOT NULL,
    outcome   TEXT   NOT NULL,
    detail    TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX batch_actions_by_batch ON batch_actions (batch_key, id);
