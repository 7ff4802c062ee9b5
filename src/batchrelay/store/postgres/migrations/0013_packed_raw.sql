-- 0012 (PostgreSQL): raw bodies stored compressed, as SQLite's 0011 (store/packing.py).
ALTER TABLE raw_inputs ADD COLUMN packing TEXT NOT NULL DEFAULT '';
-- PostgreSQL would compress values over 2 KB itself (TOAST); packed bodies need not be.
ALTER TABLE raw_inputs ALTER COLUMN body SET STORAGE EXTERNAL;
