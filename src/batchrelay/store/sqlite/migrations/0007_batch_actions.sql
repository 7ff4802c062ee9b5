-- 0007: what users asked the services to do to a batch (suspend, resume, update), who
-- asked, and what came of it: the batch's history of actions. Not part of the ledger
-- (``ledger rebuild`` leaves it alone); times are INTEGER microseconds, UTC.
CREATE TABLE batch_actions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_key TEXT    NOT NULL,
    action    TEXT    NOT NULL,           -- suspend, resume, update
    actor     TEXT    NOT NULL,           -- who asked
    outcome   TEXT    NOT NULL,           -- done, refused, failed
    detail    TEXT    NOT NULL,           -- the service's message, or what was changed
    at        INTEGER NOT NULL
);
CREATE INDEX batch_actions_by_batch ON batch_actions (batch_key, id);
