-- run_identity: what a run is, for checking flags typed with 'segqtl run --resume'.
--
-- Inputs (parameters): $run_id — the run.
-- Reads : runs, cohorts.
-- Output: one row (none if no such run): mode, cohort, source_cohort (the cohort a derived
--          cohort was made from; NULL otherwise), chromosomes (comma-separated, as recorded).
-- Coordinates: none.
SELECT r.mode, r.cohort, c.source_cohort, r.chromosomes
FROM runs AS r
LEFT JOIN cohorts AS c ON c.cohort = r.cohort
WHERE r.run_id = $run_id
