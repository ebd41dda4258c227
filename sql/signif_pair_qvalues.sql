-- signif_pair_qvalues: q-values of every tested pair of an all-variants nominal run, inserted
-- into pair_qvalue_stats (segqtl fdr on such a run; docs: README "Significance").
--
-- Inputs (parameters): $run_id; $pi0 (the run's pi0: Storey's estimate, or 1 for
--          Benjamini-Hochberg); $m (the number of tested pairs, as counted by
--          sql/signif_pair_counts.sql).
-- Reads : nominal_stats.
-- Output: rows of pair_qvalue_stats (run_id, chr, phenotype_idx, variant_idx, p_value =
--          nominal_p, qvalue) for the pairs with status tested (0), a variant and a nominal_p.
-- Rule  : the formula of segqtl/kernels/fdr.py:qvalues, in the same floating-point order:
--          rank i = 1..m by ascending p; q_(i) = min(1, min_{j >= i} ($pi0 * $m) * p_(j) / j).
--          Tied p-values get the same q whatever their order among themselves.
INSERT INTO pair_qvalue_stats
WITH p AS (
    SELECT chr, phenotype_idx, variant_idx, nominal_p AS p
    FROM nominal_stats
    WHERE run_id = $run_id AND status = 0 AND variant_idx IS NOT NULL AND nominal_p IS NOT NULL
),
ranked AS (
    SELECT *, row_number() OVER (ORDER BY p, chr, phenotype_idx, variant_idx) AS i
    FROM p
),
raw AS (
    SELECT *, CAST($pi0 AS DOUBLE) * CAST($m AS DOUBLE) * p / CAST(i AS DOUBLE) AS r
    FROM ranked
)
SELECT CAST($run_id AS INTEGER) AS run_id, chr, phenotype_idx, variant_idx, p AS p_value,
       least(1.0, min(r) OVER (ORDER BY i DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))
           AS qvalue
FROM raw
ORDER BY chr, phenotype_idx, variant_idx
