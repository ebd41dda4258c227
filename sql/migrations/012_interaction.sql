-- Migration 012: interaction-QTL results (mode interaction; docs/methods.md#interaction-model).
--
-- Inputs : result_status (migration 001).
-- Outputs: result_status gains 20 = constant_term (the interaction term has no variance on a
--          pair's samples);
--          interaction_stats: one row per (run, phenotype, cis variant) with the fit of
--          y ~ 1 + covariates + i + s + d + d·i (+ s·i): b, se and p of s, d, i, d·i, s·i
--          (NULL unless fitted), the pair's sample count and status; a phenotype with no cis
--          variant gets one row with variant_idx NULL and status 5 (no_testable_variant);
--          interaction_top_stats: one row per (run, phenotype): the variant with the smallest
--          interaction p (first in variant order on ties; NULL when none was tested), the
--          number of tested variants, eigenMT's effective number of tests n_eff, the corrected
--          p pval_emt = min(1, pval_di * n_eff), and qvalue_bh (Benjamini–Hochberg over the
--          run's phenotypes; set by the run's last step).
-- Coordinates: phenotype_idx / variant_idx are 0-based rows within (cohort, chromosome) as in
--          nominal_stats; chr is the phenotype's chromosome (cis only: variants share it).
INSERT INTO result_status VALUES (20, 'constant_term');

CREATE TABLE interaction_stats (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,
    phenotype_idx     INTEGER NOT NULL,
    variant_idx       INTEGER,
    number_of_samples INTEGER NOT NULL,
    beta_s  DOUBLE, se_s  DOUBLE, pval_s  DOUBLE,
    beta_d  DOUBLE, se_d  DOUBLE, pval_d  DOUBLE,
    beta_i  DOUBLE, se_i  DOUBLE, pval_i  DOUBLE,
    beta_di DOUBLE, se_di DOUBLE, pval_di DOUBLE,
    beta_si DOUBLE, se_si DOUBLE, pval_si DOUBLE,
    status            TINYINT NOT NULL
);

CREATE TABLE interaction_top_stats (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,
    phenotype_idx     INTEGER NOT NULL,
    variant_idx       INTEGER,
    n_tested          INTEGER NOT NULL,
    n_eff             DOUBLE,
    pval_di           DOUBLE,
    pval_emt          DOUBLE,
    qvalue_bh         DOUBLE
);
