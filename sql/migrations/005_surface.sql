-- Migration 005: the stable SQL surface (issue 6).
--
-- Inputs : the schema of migrations 001-004.
-- Outputs: one view per result set, named after the result set, over storage tables with a
--          `_stats` suffix:
--            table finemap_bootstrap  -> finemap_bootstrap_stats,  view finemap_bootstrap
--            table finemap_r2         -> finemap_r2_stats,         view finemap_r2
--            table validate_residuals -> validate_residuals_stats, view validate_residuals
--            table validate_model     -> validate_model_stats,     view validate_model
--            table qvalues            -> qvalue_stats,             view qvalues
--          The views of schema 3-4 named <set>_results for these four sets, and qvalue_results,
--          are dropped (their new names are above).  Every result view (nominal_results,
--          perm_results, finemap_results, finemap_bootstrap, finemap_r2, validate_results,
--          validate_residuals, validate_model, qvalues) is (re)defined here with SegmentQTL's
--          column names plus annotations: run_name, cohort, the variant's pos/ref/alt, the
--          phenotype's start/end and distance = variant pos - phenotype start.
--          runs gains validation_cohort (validate runs; NULL otherwise), filled from the run
--          parameter of existing validate runs; validate_runs reads it from there.
-- Coordinates: 1-based positions as written in the input files; distance is signed (negative:
--          the variant lies before the phenotype start).  phenotype_idx / variant_idx / sample_idx
--          are 0-based file rows within a cohort (and chromosome): they are keys, not names;
--          match runs of different cohorts on phenotype and variant (the names).

ALTER TABLE runs ADD COLUMN validation_cohort VARCHAR;
UPDATE runs SET validation_cohort = (
    SELECT json_extract_string(p.value, '$') FROM run_parameters AS p
    WHERE p.run_id = runs.run_id AND p.key = 'validation_cohort'
) WHERE mode = 'validate';

DROP VIEW IF EXISTS finemap_bootstrap_results;
DROP VIEW IF EXISTS finemap_r2_results;
DROP VIEW IF EXISTS validate_residuals_results;
DROP VIEW IF EXISTS validate_model_results;
DROP VIEW IF EXISTS qvalue_results;
ALTER TABLE finemap_bootstrap RENAME TO finemap_bootstrap_stats;
ALTER TABLE finemap_r2 RENAME TO finemap_r2_stats;
ALTER TABLE validate_residuals RENAME TO validate_residuals_stats;
ALTER TABLE validate_model RENAME TO validate_model_stats;
ALTER TABLE qvalues RENAME TO qvalue_stats;

-- Each validate run's cohorts and validation mode: the cohort now comes from runs.
CREATE OR REPLACE VIEW validate_runs AS
SELECT u.run_id, u.cohort, u.validation_cohort,
       coalesce(json_extract_string(vm.value, '$'), 'recalibrated') AS run_validation_mode
FROM runs AS u
LEFT JOIN run_parameters AS vm ON vm.run_id = u.run_id AND vm.key = 'validation_mode'
WHERE u.mode = 'validate';

-- nominal and perm rows (perm runs store the nominal columns plus p_adj).
CREATE OR REPLACE VIEW nominal_results AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, r.number_of_samples,
       r.beta_s, r.se_s, r.beta_d, r.se_d, r.t_stat_d, r.nominal_p, r.r2_alt,
       r.aic_null, r.aic_alt, r.delta_aic_alt_minus_null, r.p_adj, st.name AS status,
       v.chr AS variant_chr, v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM nominal_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.variant_chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;

-- perm runs only, with the fitted Beta(shape1, shape2) of the beta method.
CREATE OR REPLACE VIEW perm_results AS
SELECT r.*, s.beta_shape1, s.beta_shape2
FROM nominal_results AS r
JOIN runs AS u ON u.run_id = r.run_id AND u.mode = 'perm'
JOIN nominal_stats AS s
  ON s.run_id = r.run_id AND s.chr = r.chr AND s.phenotype_idx = r.phenotype_idx;

-- Storey q-values of a run's phenotype-level p-values with the phenotype's lead variant;
-- is_hit = qvalue <= the run's FDR level (run_fdr).
CREATE VIEW qvalues AS
SELECT q.run_id, u.name AS run_name, u.cohort, q.chr, q.phenotype_idx,
       p.gene_id AS phenotype, r.variant, q.p_value, q.qvalue, q.pval_nominal_threshold,
       r.nominal_p, r.beta_d, q.qvalue <= f.fdr AS is_hit, f.fdr,
       r.pos, r.ref, r.alt, r.phenotype_start, r.phenotype_end, r.distance
FROM qvalue_stats AS q
JOIN runs AS u USING (run_id)
JOIN run_fdr AS f USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = q.chr AND p.phenotype_idx = q.phenotype_idx
JOIN nominal_results AS r
  ON r.run_id = q.run_id AND r.chr = q.chr AND r.phenotype_idx = q.phenotype_idx;

-- finemap_stats with names (lambda_bic is a copy of lambda_selected, as in SegmentQTL's files).
CREATE OR REPLACE VIEW finemap_results AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant,
       r.n_samples, r.n_variants, r.n_obs, r.median_n_obs, r.mean_d, r.sd_d,
       r.frac_alt_gain, r.frac_ref_gain, r.frac_balanced, r.stability_score, r.mean_beta,
       r.sign_consistency, r.lambda_selected, r.lambda_selected AS lambda_bic,
       r.beta_full, r.beta_full_raw, r.beta_cnlr, r.effect_interpretation,
       st.name AS status, r.message,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM finemap_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;

-- Nonzero stability-selection subsample coefficients (finemap_bootstrap_nonzero_<chr>.csv).
CREATE VIEW finemap_bootstrap AS
SELECT b.run_id, u.name AS run_name, u.cohort, b.chr, b.phenotype_idx, b.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, b.bootstrap_iteration, b.beta_full,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM finemap_bootstrap_stats AS b
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = b.chr AND p.phenotype_idx = b.phenotype_idx
JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = b.chr AND v.variant_idx = b.variant_idx;

-- In-sample R² (runs with compute_r2).
CREATE VIEW finemap_r2 AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx,
       p.gene_id AS phenotype,
       r.n_samples, r.r2_baseline, r.r2_baseline_adj, r.r2_full, r.r2_full_adj,
       r.delta_r2, r.delta_r2_adj, r.r2_n_variants, r.r2_variants,
       p.start AS phenotype_start, p."end" AS phenotype_end
FROM finemap_r2_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx;

-- validate_stats with names: the main phenotype's gene_id, both cohorts, the status name and the
-- failure message.  validation_mode falls back to the run's mode on rows that leave it unset.
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

-- Per-sample predictions with the phenotype's name and the validation sample's ID.
CREATE VIEW validate_residuals AS
SELECT r.run_id, x.name AS run_name, u.cohort, u.validation_cohort, r.chr, r.phenotype_idx,
       r.sample_idx, p.gene_id AS phenotype, s.sample_id,
       r.y, r.y_hat, r.y_hat_base, r.residual, r.residual_base, r.n_obs_used,
       p.start AS phenotype_start, p."end" AS phenotype_end
FROM validate_residuals_stats AS r
JOIN validate_runs AS u USING (run_id)
JOIN runs AS x USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN samples AS s ON s.cohort = u.validation_cohort AND s.sample_idx = r.sample_idx;

-- Model audit rows (long format).  Rows naming a main-cohort variant of the phenotype's
-- chromosome (blocks beta, variant_mu, variant_sd, ...) carry its pos/ref/alt and distance.
CREATE VIEW validate_model AS
SELECT m.run_id, x.name AS run_name, u.cohort, u.validation_cohort, m.chr, m.phenotype_idx,
       m.row_idx, p.gene_id AS phenotype, m.block, m.name, m.value_main, m.value_val,
       m.shared_with_val,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM validate_model_stats AS m
JOIN validate_runs AS u USING (run_id)
JOIN runs AS x USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = m.chr AND p.phenotype_idx = m.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = m.chr AND v.variant_id = m.name;
