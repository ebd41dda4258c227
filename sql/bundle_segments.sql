-- bundle_segments: the segmentation with sample IDs (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: sample, chr, startpos, endpos, ordered by sample_idx, chr, startpos (the stored order).
-- Coordinates: closed intervals [startpos, endpos], 1-based as ingested; chr normalised.
SELECT s.sample_id AS sample, g.chr, g.startpos, g.endpos
FROM segments AS g
JOIN samples AS s ON s.cohort = g.cohort AND s.sample_idx = g.sample_idx
WHERE g.cohort = $cohort
ORDER BY g.sample_idx, g.chr, g.startpos
