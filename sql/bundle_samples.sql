-- bundle_samples: the cohort's sample IDs in their stored order (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: sample_id, ordered by sample_idx (the quantification file's column order).
-- Coordinates: none.
SELECT sample_id FROM samples WHERE cohort = $cohort ORDER BY sample_idx
