-- cohort_runs: the runs whose results are labelled through a cohort's rows (ingest --replace
-- refuses to put other files under them).
--
-- Inputs (parameters): $cohort — the cohort's name.
-- Reads : runs.
-- Output: run_id, name (NULL when unnamed); one row per run whose cohort or validation cohort
--          is $cohort; ordered by run_id.
-- Coordinates: none.
SELECT run_id, name
FROM runs
WHERE cohort = $cohort OR validation_cohort = $cohort
ORDER BY run_id
