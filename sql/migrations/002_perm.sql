-- Migration 002: permutation-mode results and global multiple testing.
--
-- Inputs : the schema of migration 001.
-- Outputs: nominal_stats gains the fitted beta shape parameters of perm runs (beta method);
--          qvalues holds Storey q-values of a run's phenotype-level p-values and, for beta
--          runs, each phenotype's nominal p-value threshold; run_fdr holds the FDR level, pi0
--          and the adjusted-p threshold used.  Views perm_results and qvalue_results show them
--          with names.
ALTER TABLE nominal_stats ADD COLUMN beta_shape1 DOUBLE;
ALTER TABLE nominal_stats ADD COLUMN beta_shape2 DOUBLE;

CREATE TABLE run_fdr (
    run_id      INTEGER NOT NULL,
    fdr         DOUBLE NOT NULL,        -- FDR level for hits and nominal thresholds
    pi0         DOUBLE NOT NULL,        -- estimated proportion of true nulls
    pi0_method  VARCHAR NOT NULL,       -- bootstrap (Storey, Taylor & Siegmund 2004) | fixed
    p_threshold DOUBLE,                 -- adjusted-p threshold at the FDR (beta runs)
    n_tests     INTEGER NOT NULL,
    n_hits      INTEGER NOT NULL,
    computed_at TIMESTAMP NOT NULL
);

CREATE TABLE qvalues (
    run_id        INTEGER NOT NULL,
    chr           VARCHAR NOT NULL,
    phenotype_idx INTEGER NOT NULL,
    p_value       DOUBLE NOT NULL,      -- p_adj (perm runs) or nominal_p (nominal runs)
    qvalue        DOUBLE NOT NULL,
    pval_nominal_threshold DOUBLE       -- beta runs: Beta(a, b) quantile at p_threshold
);

CREATE OR REPLACE VIEW perm_results AS
SELECT r.*, s.beta_shape1, s.beta_shape2
FROM nominal_results AS r
JOIN runs AS u ON u.run_id = r.run_id AND u.mode = 'perm'
JOIN nominal_stats AS s
  ON s.run_id = r.run_id AND s.chr = r.chr AND s.phenotype_idx = r.phenotype_idx;

CREATE OR REPLACE VIEW qvalue_results AS
SELECT q.run_id, q.chr, q.phenotype_idx, p.gene_id AS phenotype, r.variant, q.p_value,
       q.qvalue, q.pval_nominal_threshold, r.nominal_p, r.beta_d,
       q.qvalue <= f.fdr AS is_hit
FROM qvalues AS q
JOIN runs AS u USING (run_id)
JOIN run_fdr AS f USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = q.chr AND p.phenotype_idx = q.phenotype_idx
JOIN nominal_results AS r
  ON r.run_id = q.run_id AND r.chr = q.chr AND r.phenotype_idx = q.phenotype_idx;
