-- validate_results (view): validate_stats with names, both cohorts and the status name.
--
-- Reads : validate_stats, validate_runs (view), runs, phenotypes, result_status.
-- Output: one row per discovery phenotype of a validate run: run_id, run_name, cohort (the
--          discovery cohort), validation_cohort, chr, phenotype_idx, phenotype, SegmentQTL's
--          metrics n_samples_main .. rho_perm_pval (docs/methods.md#validate-metrics;
--          validation_mode falls back to the run's mode on rows that leave it unset),
--          status_code, status (result_status name), message, phenotype_start, phenotype_end.
--          Missing (NaN in SegmentQTL's files) = NULL.
-- Coordinates: phenotype_idx is the 0-based row among the DISCOVERY cohort's phenotypes of the
--          chromosome; 1-based positions as written in the input files.

CREATE OR REPLACE VIEW validate_results AS
SELECT r.run_id, x.name AS run_name, u.cohort, u.validation_cohort, r.chr, r.phenotype_idx,
       p.gene_id AS phenotype,
       r.n_samples_main, r.n_samples_val, r.n_variants_main_kept, r.n_variants_shared,
       r.n_variants_stable, r.median_n_obs_val, r.rmse, r.mse, r.mae, r.r2_descriptive,
       r.r2_baseline_val, r.r2_full_val, r.pearson_r, r.pearson_pval, r.spearman_rho,
       r.spearman_pval, r.rho_genetic_transfer, r.rho_genetic_transfer_pval,
       r.rho_genetic_adjustment, r.rho_genetic_adjustment_pval, r.r2_burden_low,
       r.r2_burden_mid, r.r2_burden_high, r.mean_bias, r.sd_residual, r.lambda_selected,
       coalesce(r.validation_mode, u.run_validation_mode) AS validation_mode,
       r.calibration_intercept, r.calibration_slope, r.calibration_joint_wald,
       r.calibration_joint_pval, r.r2_ci_lo, r.r2_ci_hi, r.cal_slope_ci_lo, r.cal_slope_ci_hi,
       r.r2_perm_pval, r.rho_perm_pval,
       r.status AS status_code, st.name AS status, r.message,
       p.start AS phenotype_start, p."end" AS phenotype_end
FROM validate_stats AS r
JOIN validate_runs AS u USING (run_id)
JOIN runs AS x USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN result_status AS st ON st.code = r.status;
