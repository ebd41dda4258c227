-- plot_calibration: a validate run's scored phenotypes with their transfer metrics (segqtl
-- plot calibration, left panel).
--
-- Inputs (parameters): $run_id (a validate run).
-- Reads : validate_results (view).
-- Output: chr, phenotype, r2_descriptive (out-of-cohort R²), calibration_intercept,
--          calibration_slope, pearson_r, n_samples_val; rows with status 'tested' and both
--          r2_descriptive and calibration_slope, ordered by r2_descriptive descending, then
--          phenotype.
SELECT chr, phenotype, r2_descriptive, calibration_intercept, calibration_slope, pearson_r,
       n_samples_val
FROM validate_results
WHERE run_id = $run_id AND status = 'tested'
  AND r2_descriptive IS NOT NULL AND calibration_slope IS NOT NULL
ORDER BY r2_descriptive DESC, phenotype
