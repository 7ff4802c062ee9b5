-- 0004 (PostgreSQL): indexes for the dashboard's reads, as store/sqlite/migrations/0004.

-- A batch's journal, newest first and in time order: every commit of an event with a batch
-- key writes one more index entry, the price of not scanning the whole journal.
CREATE INDEX events_by_batch ON events (batch_key, time, event_id) WHERE batch_key IS NOT NULL;

-- Batches that received an event since a moment: what the live stream polls for.
CREATE INDEX batches_by_received ON batches (last_received, batch_key);
