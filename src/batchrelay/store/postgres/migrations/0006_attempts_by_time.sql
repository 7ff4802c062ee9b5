-- Send attempts by time: a replica that takes over sending reads the last minutes of
-- attempts to start each receiver's send budget where the previous sender left it.
CREATE INDEX delivery_attempts_by_time ON delivery_attempts (at);
