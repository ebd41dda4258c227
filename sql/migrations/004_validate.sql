-- Migration 004: validate-mode results (transfer of finemapped models to a validation cohort).
--
-- Inputs : the schema of migrations 001-003.
-- Outputs: result_status gains the validate reasons 9-12; tables validate_stats (one row per
--          main-cohort phenotype: its metrics, or an "empty row" with the reason it could not be
--          scored), validate_residuals (one row per (scored phenotype, validation sample)) and
--          validate_model (the audit rows of runs with save_model_audit); views validate_results,
--          validate_residuals_results and validate_model_results show them with names
--          (docs/methods.md#validate-pipeline, #validate-metrics, #validate-outputs).  The view validate_runs names each
--          validate run's two cohorts and its validation mode.
-- Coordinates: phenotype_idx is the 0-based row among the MAIN (discovery) cohort's phenotypes
--          of the chromosome (it seeds the phenotype's generators); sample_idx is the 0-based
--          position of a sample in the VALIDATION cohort's quantification file (samples table of
--          the validation cohort); row_idx is the 0-based order of an audit row within its
--          phenotype.  The validation cohort is the run parameter 'validation_cohort'.
-- Values : statistics are DOUBLE, missing (NaN in SegmentQTL's files) = NULL.  Status 0 = scored;
--          1, 6, 7, 8, 9, 10, 11 = SegmentQTL's EMPTY row (exported with the four counts 0 and
--          every other metric empty); 12 = skipped by --restrict_to_supported_phenotypes (kept
--          here, never exported: SegmentQTL writes no row for it).

INSERT INTO result_status VALUES
    (9, 'not_in_validation_cohort'),     -- the phenotype is not in the validation cohort
    (10, 'no_shared_variant'),           -- no kept main variant is in the validation window
    (11, 'no_finemap_result'),           -- the finemap results have no row for the phenotype
    (12, 'unsupported');                 -- fails the support test (restrict_to_supported_...)

CREATE TABLE validate_stats (
    run_id                       INTEGER NOT NULL,
    unit_id                      INTEGER NOT NULL,
    chr                          VARCHAR NOT NULL,
    phenotype_idx                INTEGER NOT NULL,  -- main cohort's row on the chromosome
    status                       TINYINT NOT NULL,  -- result_status.code (0 = scored)
    message                      VARCHAR,           -- the error text when status = 'failed'
    n_samples_main               INTEGER,
    n_samples_val                INTEGER,
    n_variants_main_kept         INTEGER,
    n_variants_shared            INTEGER,
    n_variants_stable            DOUBLE,            -- NULL unless validate_with_bootstrap
    median_n_obs_val             DOUBLE,
    rmse                         DOUBLE,
    mse                          DOUBLE,
    mae                          DOUBLE,
    r2_descriptive               DOUBLE,
    r2_baseline_val              DOUBLE,
    r2_full_val                  DOUBLE,
    pearson_r                    DOUBLE,
    pearson_pval                 DOUBLE,
    spearman_rho                 DOUBLE,
    spearman_pval                DOUBLE,
    rho_genetic_transfer         DOUBLE,
    rho_genetic_transfer_pval    DOUBLE,
    rho_genetic_adjustment       DOUBLE,
    rho_genetic_adjustment_pval  DOUBLE,
    r2_burden_low                DOUBLE,
    r2_burden_mid                DOUBLE,
    r2_burden_high               DOUBLE,
    mean_bias                    DOUBLE,
    sd_residual                  DOUBLE,
    lambda_selected              DOUBLE,
    validation_mode              VARCHAR,           -- recalibrated | frozen
    calibration_intercept        DOUBLE,
    calibration_slope            DOUBLE,
    calibration_joint_wald       DOUBLE,
    calibration_joint_pval       DOUBLE,
    r2_ci_lo                     DOUBLE,
    r2_ci_hi                     DOUBLE,
    cal_slope_ci_lo              DOUBLE,
    cal_slope_ci_hi              DOUBLE,
    r2_perm_pval                 DOUBLE,
    rho_perm_pval                DOUBLE
);

CREATE TABLE validate_residuals (
    run_id         INTEGER NOT NULL,
    unit_id        INTEGER NOT NULL,
    chr            VARCHAR NOT NULL,
    phenotype_idx  INTEGER NOT NULL,
    sample_idx     INTEGER NOT NULL,   -- the VALIDATION cohort's samples.sample_idx
    y              DOUBLE,             -- phenotype centred on the validation mean
    y_hat          DOUBLE,
    y_hat_base     DOUBLE,
    residual       DOUBLE,             -- y - y_hat
    residual_base  DOUBLE,             -- y - y_hat_base
    n_obs_used     INTEGER             -- shared variants observed for the sample
);

CREATE TABLE validate_model (
    run_id           INTEGER NOT NULL,
    unit_id          INTEGER NOT NULL,
    chr              VARCHAR NOT NULL,
    phenotype_idx    INTEGER NOT NULL,
    row_idx          INTEGER NOT NULL,  -- order within the phenotype (docs/methods.md#validate-outputs)
    block            VARCHAR NOT NULL,  -- beta, variant_mu, variant_sd, theta, ...
    name             VARCHAR NOT NULL,  -- variant ID, intercept, CN, covariate name, ...
    value_main       DOUBLE,
    value_val        DOUBLE,
    shared_with_val  BOOLEAN
);

-- Each validate run with its discovery cohort, validation cohort and validation mode (run
-- parameters are stored as JSON values).
CREATE VIEW validate_runs AS
SELECT u.run_id, u.cohort,
       json_extract_string(vc.value, '$') AS validation_cohort,
       coalesce(json_extract_string(vm.value, '$'), 'recalibrated') AS run_validation_mode
FROM runs AS u
LEFT JOIN run_parameters AS vc ON vc.run_id = u.run_id AND vc.key = 'validation_cohort'
LEFT JOIN run_parameters AS vm ON vm.run_id = u.run_id AND vm.key = 'validation_mode'
WHERE u.mode = 'validate';

-- validate_stats with names: the main phenotype's gene_id, both cohorts, the status name and the
-- failure message.  validation_mode falls back to the run's mode on rows that leave it unset.
CREATE VIEW validate_results AS
SELECT r.run_id, u.cohort, u.validation_cohort, r.chr, r.phenotype_idx,
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
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN result_status AS st ON st.code = r.status;

-- Per-sample predictions with the phenotype's name and the validation sample's ID.
CREATE VIEW validate_residuals_results AS
SELECT r.run_id, u.cohort, u.validation_cohort, r.chr, r.phenotype_idx, r.sample_idx,
       p.gene_id AS phenotype, s.sample_id,
       r.y, r.y_hat, r.y_hat_base, r.residual, r.residual_base, r.n_obs_used
FROM validate_residuals AS r
JOIN validate_runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN samples AS s ON s.cohort = u.validation_cohort AND s.sample_idx = r.sample_idx;

-- Model audit rows (long format) with the phenotype's name.
CREATE VIEW validate_model_results AS
SELECT m.run_id, u.cohort, u.validation_cohort, m.chr, m.phenotype_idx, m.row_idx,
       p.gene_id AS phenotype, m.block, m.name, m.value_main, m.value_val, m.shared_with_val
FROM validate_model AS m
JOIN validate_runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = m.chr AND p.phenotype_idx = m.phenotype_idx;
