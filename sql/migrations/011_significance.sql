-- Migration 011: the significance layer (issue 16): how pi0 was estimated, pair-level
-- q-values of all-variants nominal runs, and the significant-pairs requests of 'segqtl signif'.
--
-- Inputs : run_fdr (migration 002), nominal_stats (001).
-- Outputs: run_fdr gains
--            method       'storey' | 'bh' (Benjamini-Hochberg: pi0 = 1)
--            scope        'phenotype' (one p-value per phenotype: qvalue_stats, perm runs) |
--                         'pair' (every tested pair of an all-variants nominal run:
--                         pair_qvalue_stats)
--            pi0_lambda   the lambda of the pi0 estimate (bootstrap's choice or the fixed one;
--                         NULL for bh)
--            pi0_se       binomial standard error of pi0(lambda) (NULL for bh)
--            pi0_unstable m < 100 p-values or pi0_se > 0.05 (NULL for bh)
--          (run_fdr.pi0_method: 'bootstrap' | 'fixed' | 'bh'); rows written before this
--          migration keep NULL in the new columns (their method was storey, scope phenotype).
--          pair_qvalue_stats: one row per tested pair (status tested, nominal_p not NULL) of an
--          all-variants nominal run after 'segqtl fdr': run_id, chr, phenotype_idx,
--          variant_idx, p_value (= nominal_p), qvalue.  View pair_qvalues.
--          signif_requests: one row per 'segqtl signif' (a perm run A, an all-variants nominal
--          run B, the FDR level and A's adjusted-p threshold p_threshold at that level);
--          signif_thresholds: for each request, every phenotype of A with q <= fdr and its
--          nominal threshold BetaPPF(p_threshold; beta_shape1, beta_shape2).  View
--          significant_pairs joins them with B's pairs.
-- Coordinates: chr/phenotype_idx/variant_idx as nominal_stats (0-based rows within a cohort's
--          chromosome; both runs of a request analyse the same cohort).

ALTER TABLE run_fdr ADD COLUMN method VARCHAR;
ALTER TABLE run_fdr ADD COLUMN scope VARCHAR;
ALTER TABLE run_fdr ADD COLUMN pi0_lambda DOUBLE;
ALTER TABLE run_fdr ADD COLUMN pi0_se DOUBLE;
ALTER TABLE run_fdr ADD COLUMN pi0_unstable BOOLEAN;

CREATE TABLE pair_qvalue_stats (
    run_id        INTEGER NOT NULL,
    chr           VARCHAR NOT NULL,
    phenotype_idx INTEGER NOT NULL,
    variant_idx   INTEGER NOT NULL,
    p_value       DOUBLE NOT NULL,       -- nominal_p
    qvalue        DOUBLE NOT NULL
);

CREATE SEQUENCE signif_id_seq START 1;

CREATE TABLE signif_requests (
    signif_id    INTEGER PRIMARY KEY,
    perm_run     INTEGER NOT NULL,       -- A: the perm run whose q-values select phenotypes
    nominal_run  INTEGER NOT NULL,       -- B: the all-variants nominal run giving the pairs
    fdr          DOUBLE NOT NULL,
    p_threshold  DOUBLE,                 -- A's adjusted-p cut-off at fdr (NULL: no phenotype)
    n_phenotypes INTEGER NOT NULL,       -- phenotypes of A with q <= fdr
    n_pairs      BIGINT NOT NULL,        -- significant pairs (rows of significant_pairs)
    created_at   TIMESTAMP NOT NULL
);

CREATE TABLE signif_thresholds (
    signif_id     INTEGER NOT NULL,
    chr           VARCHAR NOT NULL,
    phenotype_idx INTEGER NOT NULL,
    qvalue        DOUBLE NOT NULL,        -- A's q-value
    pval_nominal_threshold DOUBLE NOT NULL
);
