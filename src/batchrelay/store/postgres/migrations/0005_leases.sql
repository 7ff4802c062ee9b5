-- 0005 (PostgreSQL): named leases, so that one replica at a time runs the timers
-- (coordination.py). Times are BIGINT microseconds since the epoch.
CREATE TABLE leases (
    name        TEXT   PRIMARY KEY,
    holder      TEXT   NOT NULL,
    until       BIGINT NOT NULL,   -- held while now < until; 0 once released
    acquired_at BIGINT NOT NULL    -- when this holder took it (renewals keep it)
);
