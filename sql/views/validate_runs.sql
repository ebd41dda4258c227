-- validate_runs (view): each validate run's two cohorts and its validation mode.
--
-- Reads : runs, run_parameters.
-- Output: one row per validate run: run_id, cohort (the discovery cohort), validation_cohort,
--          run_validation_mode (the run parameter 'validation_mode', stored as JSON, or
--          'recalibrated' when unset; docs/methods.md#validate-pipeline).
-- Used by the validate_* result views for the cohorts of a row.

CREATE OR REPLACE VIEW validate_runs AS
SELECT u.run_id, u.cohort, u.validation_cohort,
       coalesce(json_extract_string(vm.value, '$'), 'recalibrated') AS run_validation_mode
FROM runs AS u
LEFT JOIN run_parameters AS vm ON vm.run_id = u.run_id AND vm.key = 'validation_mode'
WHERE u.mode = 'validate';
