-- export_validate: one chromosome of a validate run as SegmentQTL's validate_<C>.csv
-- (docs/methods.md#validate-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : validate_results (view).
-- Output: SegmentQTL's normal-row columns, always in this order (its header follows the first
--          row's keys, a defect fixed here, docs/methods.md#differences): phenotype, the four counts,
--          n_variants_stable ... rho_perm_pval, chr; one row per main phenotype in phenotype
--          order.  A phenotype that could not be scored is SegmentQTL's EMPTY row: the four
--          counts 0, every other cell empty, validation_mode set.  Phenotypes skipped by
--          --restrict_to_supported_phenotypes (status 'unsupported') have no row.
WITH r AS (
    SELECT *, status_code = 0 AS ok
    FROM validate_results
    WHERE run_id = $run_id AND chr = $chr AND status <> 'unsupported'
)
SELECT phenotype,
       CASE WHEN ok THEN n_samples_main ELSE 0 END AS n_samples_main,
       CASE WHEN ok THEN n_samples_val ELSE 0 END AS n_samples_val,
       CASE WHEN ok THEN n_variants_main_kept ELSE 0 END AS n_variants_main_kept,
       CASE WHEN ok THEN n_variants_shared ELSE 0 END AS n_variants_shared,
       CASE WHEN ok THEN n_variants_stable END AS n_variants_stable,
       CASE WHEN ok THEN median_n_obs_val END AS median_n_obs_val,
       CASE WHEN ok THEN rmse END AS rmse,
       CASE WHEN ok THEN mse END AS mse,
       CASE WHEN ok THEN mae END AS mae,
       CASE WHEN ok THEN r2_descriptive END AS r2_descriptive,
       CASE WHEN ok THEN r2_baseline_val END AS r2_baseline_val,
       CASE WHEN ok THEN r2_full_val END AS r2_full_val,
       CASE WHEN ok THEN pearson_r END AS pearson_r,
       CASE WHEN ok THEN pearson_pval END AS pearson_pval,
       CASE WHEN ok THEN spearman_rho END AS spearman_rho,
       CASE WHEN ok THEN spearman_pval END AS spearman_pval,
       CASE WHEN ok THEN rho_genetic_transfer END AS rho_genetic_transfer,
       CASE WHEN ok THEN rho_genetic_transfer_pval END AS rho_genetic_transfer_pval,
       CASE WHEN ok THEN rho_genetic_adjustment END AS rho_genetic_adjustment,
       CASE WHEN ok THEN rho_genetic_adjustment_pval END AS rho_genetic_adjustment_pval,
       CASE WHEN ok THEN r2_burden_low END AS r2_burden_low,
       CASE WHEN ok THEN r2_burden_mid END AS r2_burden_mid,
       CASE WHEN ok THEN r2_burden_high END AS r2_burden_high,
       CASE WHEN ok THEN mean_bias END AS mean_bias,
       CASE WHEN ok THEN sd_residual END AS sd_residual,
       CASE WHEN ok THEN lambda_selected END AS lambda_selected,
       validation_mode,
       CASE WHEN ok THEN calibration_intercept END AS calibration_intercept,
       CASE WHEN ok THEN calibration_slope END AS calibration_slope,
       CASE WHEN ok THEN calibration_joint_wald END AS calibration_joint_wald,
       CASE WHEN ok THEN calibration_joint_pval END AS calibration_joint_pval,
       CASE WHEN ok THEN r2_ci_lo END AS r2_ci_lo,
       CASE WHEN ok THEN r2_ci_hi END AS r2_ci_hi,
       CASE WHEN ok THEN cal_slope_ci_lo END AS cal_slope_ci_lo,
       CASE WHEN ok THEN cal_slope_ci_hi END AS cal_slope_ci_hi,
       CASE WHEN ok THEN r2_perm_pval END AS r2_perm_pval,
       CASE WHEN ok THEN rho_perm_pval END AS rho_perm_pval,
       chr
FROM r
ORDER BY phenotype_idx
