-- 0011: raw bodies stored compressed (store/packing.py). ``packing`` names how: "" as sent
-- (every body stored before, and a body that would not shrink), "zstd:raw-1" zstd with the
-- dictionary shipped as store/dictionaries/raw-1.zdict.
ALTER TABLE raw_inputs ADD COLUMN packing TEXT NOT NULL DEFAULT '';
