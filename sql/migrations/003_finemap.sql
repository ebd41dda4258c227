-- Migration 003: finemap-mode results (missing-aware elastic net with stability selection).
--
-- Inputs : the schema of migrations 001 and 002.
-- Outputs: result_status gains the finemap reasons 6-8; tables finemap_stats (one row per
--          (phenotype, coverage-kept variant), or one "empty row" with variant_idx NULL for a
--          phenotype that could not be fitted), finemap_bootstrap (one row per (phenotype,
--          subsample, variant) with a nonzero subsample coefficient) and finemap_r2 (one row per
--          phenotype that reached the elastic-net stage, runs with compute_r2 only); views
--          finemap_results, finemap_bootstrap_results and finemap_r2_results show them with
--          names and annotations (docs/methods.md#finemap-outputs).
-- Coordinates: phenotype_idx is the 0-based row among the chromosome's phenotypes (it seeds the
--          phenotype's generators, 42 + phenotype_idx); variant_idx is the 0-based row in the
--          chromosome's genotype files.  finemap is cis only, so a row's variant is on the row's
--          chr (no variant_chr column).  distance = variant pos - phenotype start (1-based
--          positions as written in the input files).
-- Values : statistics are DOUBLE, missing (NaN in SegmentQTL's files) = NULL.  Written sorted by
--          (run, chromosome, phenotype_idx, variant_idx), bootstrap rows by (run, chromosome,
--          phenotype_idx, bootstrap_iteration, variant_idx).

INSERT INTO result_status VALUES
    (6, 'no_cis_variant'),               -- no variant in the phenotype's cis window
    (7, 'no_variant_passes_coverage'),   -- no window variant passed the coverage/variance filter
    (8, 'failed');                       -- an error inside the phenotype (text in message)

CREATE TABLE finemap_stats (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,
    phenotype_idx     INTEGER NOT NULL,
    variant_idx       INTEGER,             -- NULL on a phenotype's single empty row
    n_samples         INTEGER NOT NULL,    -- good samples n (0 when preparation failed)
    n_variants        INTEGER NOT NULL,    -- coverage-kept variants p (0 on the empty row)
    n_obs             INTEGER NOT NULL,    -- samples observing the variant (0 on the empty row)
    median_n_obs      DOUBLE,
    mean_d            DOUBLE,
    sd_d              DOUBLE,              -- population SD (ddof 0) of the observed d
    frac_alt_gain     DOUBLE,
    frac_ref_gain     DOUBLE,
    frac_balanced     DOUBLE,
    stability_score   DOUBLE,
    mean_beta         DOUBLE,              -- subsample-standardised units
    sign_consistency  DOUBLE,
    lambda_selected   DOUBLE,              -- the cv_tau-rule lambda (SegmentQTL's lambda_bic too)
    beta_full         DOUBLE,              -- full-data penalised fit, standardised-d units
    beta_full_raw     DOUBLE,              -- beta_full / sd_d
    beta_cnlr         DOUBLE,              -- coefficient of the standardised copy number
    effect_interpretation VARCHAR,
    status            TINYINT NOT NULL,    -- result_status.code (0 on fitted rows)
    message           VARCHAR              -- the error text when status = 'failed'
);

CREATE TABLE finemap_bootstrap (
    run_id              INTEGER NOT NULL,
    unit_id             INTEGER NOT NULL,
    chr                 VARCHAR NOT NULL,
    phenotype_idx       INTEGER NOT NULL,
    variant_idx         INTEGER NOT NULL,
    bootstrap_iteration INTEGER NOT NULL,  -- 1-based subsample number, skipped ones counted
    beta_full           DOUBLE NOT NULL    -- the subsample coefficient (subsample-standardised)
);

CREATE TABLE finemap_r2 (
    run_id          INTEGER NOT NULL,
    unit_id         INTEGER NOT NULL,
    chr             VARCHAR NOT NULL,
    phenotype_idx   INTEGER NOT NULL,
    n_samples       INTEGER NOT NULL,
    r2_baseline     DOUBLE,
    r2_baseline_adj DOUBLE,
    r2_full         DOUBLE,                -- NULL (and the next four) when no variant qualified
    r2_full_adj     DOUBLE,
    delta_r2        DOUBLE,
    delta_r2_adj    DOUBLE,
    r2_n_variants   INTEGER,
    r2_variants     VARCHAR                -- the variants' IDs joined by ';'
);

-- finemap_stats with names and annotations: SegmentQTL's columns (lambda_bic is a copy of
-- lambda_selected, as in its files), the status name, the failure message, the variant's
-- position/alleles, the phenotype's start/end and the variant's distance to the phenotype start.
CREATE VIEW finemap_results AS
SELECT r.run_id, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
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

-- Subsample coefficients with names (the table is finemap_bootstrap, hence the _results name).
CREATE VIEW finemap_bootstrap_results AS
SELECT b.run_id, u.cohort, b.chr, b.phenotype_idx, b.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, b.bootstrap_iteration, b.beta_full,
       v.pos, v.ref, v.alt
FROM finemap_bootstrap AS b
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = b.chr AND p.phenotype_idx = b.phenotype_idx
JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = b.chr AND v.variant_idx = b.variant_idx;

-- In-sample R² with the phenotype's name.
CREATE VIEW finemap_r2_results AS
SELECT r.run_id, u.cohort, r.chr, r.phenotype_idx, p.gene_id AS phenotype,
       r.n_samples, r.r2_baseline, r.r2_baseline_adj, r.r2_full, r.r2_full_adj,
       r.delta_r2, r.delta_r2_adj, r.r2_n_variants, r.r2_variants
FROM finemap_r2 AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx;
