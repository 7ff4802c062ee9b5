-- 0004: indexes for the dashboard's reads.
--
-- A batch's journal, newest first (GET /api/v1/batches/{key}/events) and in time order
-- (its figures over time): every commit of an event with a batch key now writes one more
-- B-tree entry, the price of not scanning the whole journal for one batch.
CREATE INDEX events_by_batch ON events (batch_key, time, event_id) WHERE batch_key IS NOT NULL;

-- Batches that received an event since a moment: what the live stream polls for.
CREATE INDEX batches_by_received ON batches (last_received, batch_key);
