-- Migration 006: stored run comparisons (segqtl compare).
--
-- Inputs : the schema of migrations 001-004 (nothing here reads a table or view of 005).
-- Outputs: comparisons (one row per comparison of two completed runs of one mode: the summary),
--          comparison_pairs (every matched or unmatched key of the two runs: in both, only in
--          A or only in B, with both sides' effect, significance, q-value and hit flag) and the
--          view comparison_results (comparison_pairs with the runs, the key variant, the effect
--          change and the hit change).
-- Keys   : runs are matched on names, never on row numbers (phenotype_idx/variant_idx are
--          per-cohort file rows): phenotype = gene_id, variant = variant ID as written
--          (chr:pos:ref:alt, compared as exact strings).  match_key 'phenotype, variant' for
--          per-(phenotype, variant) result sets (all-variants nominal, finemap), 'phenotype' for
--          one-row-per-phenotype sets (best-variant nominal, perm, validate), where variant_a and
--          variant_b are each run's lead variant (NULL for validate).
-- Values : effect = beta_d (nominal, perm), beta_full (finemap), pearson_r (validate);
--          p = nominal_p (nominal), p_adj (perm), stability_score (finemap: not a p-value),
--          pearson_pval (validate).  Missing = NULL.  A comparison is never updated: running it
--          again stores a new comparison_id (the history is kept).
-- Written by segqtl/warehouse/compare.py (sql/compare_*.sql), in one transaction per comparison.

CREATE SEQUENCE comparison_id_seq START 1;

CREATE TABLE comparisons (
    comparison_id   INTEGER PRIMARY KEY,
    run_a           INTEGER NOT NULL,
    run_b           INTEGER NOT NULL,
    mode            VARCHAR NOT NULL,     -- the runs' common mode
    cohort_a        VARCHAR NOT NULL,
    cohort_b        VARCHAR NOT NULL,
    match_key       VARCHAR NOT NULL,     -- 'phenotype, variant' | 'phenotype'
    effect_column   VARCHAR NOT NULL,     -- beta_d | beta_full | pearson_r
    p_column        VARCHAR NOT NULL,     -- nominal_p | p_adj | stability_score | pearson_pval
    fdr             DOUBLE NOT NULL,      -- the level of the hit rules that use it
    hit_rule_a      VARCHAR NOT NULL,     -- e.g. 'qvalue <= fdr', 'stability_score >= 0.6'
    hit_rule_b      VARCHAR NOT NULL,
    n_pairs_a       BIGINT NOT NULL,      -- keys with a result in A
    n_pairs_b       BIGINT NOT NULL,
    n_both          BIGINT NOT NULL,
    n_only_a        BIGINT NOT NULL,
    n_only_b        BIGINT NOT NULL,
    corr_effect     DOUBLE,               -- Pearson r of effect_a, effect_b over keys in both
    corr_log10p     DOUBLE,               -- ... of -log10 p (finemap: of stability_score)
    sign_agreement  DOUBLE,               -- share of n_sign_pairs whose effects have one sign
    n_sign_pairs    BIGINT NOT NULL,      -- keys in both with two nonzero effects
    hits_a          BIGINT NOT NULL,
    hits_b          BIGINT NOT NULL,
    hits_both       BIGINT NOT NULL,
    hits_gained     BIGINT NOT NULL,      -- hit in B, not a hit in A (or not in A)
    hits_lost       BIGINT NOT NULL,      -- hit in A, not a hit in B (or not in B)
    segqtl_version  VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE comparison_pairs (
    comparison_id INTEGER NOT NULL,
    phenotype     VARCHAR NOT NULL,       -- gene_id
    variant_a     VARCHAR,                -- A's variant (NULL when not in A, and for validate)
    variant_b     VARCHAR,
    in_a          BOOLEAN NOT NULL,
    in_b          BOOLEAN NOT NULL,
    chr           VARCHAR NOT NULL,       -- the phenotype's chromosome (A's when in both)
    effect_a      DOUBLE,
    effect_b      DOUBLE,
    p_a           DOUBLE,                 -- comparisons.p_column of A
    p_b           DOUBLE,
    q_a           DOUBLE,                 -- A's q-value (runs with q-values only)
    q_b           DOUBLE,
    hit_a         BOOLEAN,                -- NULL when not in A
    hit_b         BOOLEAN,
    same_variant  BOOLEAN                 -- variant_a = variant_b; NULL unless in both (and
                                          -- always NULL for validate)
);

-- comparison_pairs with their comparison's runs and mode, the key variant (match_key
-- 'phenotype, variant' only), presence (both | only_a | only_b), delta = effect_b - effect_a
-- and hit_change (gained | lost | kept | none; a key missing from a run is no hit there).
CREATE VIEW comparison_results AS
SELECT c.comparison_id, c.run_a, c.run_b, c.mode, p.chr, p.phenotype,
       CASE WHEN c.match_key = 'phenotype, variant' THEN coalesce(p.variant_a, p.variant_b)
       END AS variant,
       p.variant_a, p.variant_b, p.same_variant, p.in_a, p.in_b,
       CASE WHEN p.in_a AND p.in_b THEN 'both' WHEN p.in_a THEN 'only_a' ELSE 'only_b'
       END AS presence,
       p.effect_a, p.effect_b, p.effect_b - p.effect_a AS delta,
       p.p_a, p.p_b, p.q_a, p.q_b, p.hit_a, p.hit_b,
       CASE WHEN coalesce(p.hit_a, false) AND coalesce(p.hit_b, false) THEN 'kept'
            WHEN coalesce(p.hit_b, false) THEN 'gained'
            WHEN coalesce(p.hit_a, false) THEN 'lost'
            ELSE 'none' END AS hit_change
FROM comparison_pairs AS p
JOIN comparisons AS c USING (comparison_id);
