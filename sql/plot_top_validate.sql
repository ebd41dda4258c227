-- plot_top_validate: a validate run's phenotypes by out-of-cohort R² (segqtl report's table).
--
-- Inputs (parameters): $run_id, $top (rows, >= 0).
-- Reads : validate_results (view).
-- Output: phenotype, chr, n_samples_val, n_variants_shared, r2_descriptive, r2_ci_lo,
--          r2_ci_hi, pearson_r, calibration_slope, rho_genetic_transfer, r2_perm_pval; the
--          $top tested rows with the largest r2_descriptive (ties: phenotype).
SELECT phenotype, chr, n_samples_val, n_variants_shared, r2_descriptive, r2_ci_lo, r2_ci_hi,
       pearson_r, calibration_slope, rho_genetic_transfer, r2_perm_pval
FROM validate_results
WHERE run_id = $run_id AND status = 'tested'
ORDER BY r2_descriptive DESC NULLS LAST, phenotype
LIMIT $top
