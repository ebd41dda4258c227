-- interaction_bh: Benjamini–Hochberg q-values of an interaction run's gene-level p-values.
--
-- Inputs (parameters): $run_id.
-- Reads : interaction_top_stats (every phenotype of the run, written with its units).
-- Output: sets interaction_top_stats.qvalue_bh of the run: for the m phenotypes with a
--          pval_emt, sorted ascending (ties in any order), q_(i) = min over j >= i of
--          min(1, m p_(j) / j); NULL where pval_emt is NULL (docs/methods.md#interaction-model).
-- Coordinates: none (one value per phenotype).
UPDATE interaction_top_stats AS t
SET qvalue_bh = b.q
FROM (
    SELECT chr, phenotype_idx,
           min(least(1.0, m * pval_emt / rk)) OVER (
               ORDER BY rk DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS q
    FROM (
        SELECT chr, phenotype_idx, pval_emt,
               row_number() OVER (ORDER BY pval_emt, chr, phenotype_idx) AS rk,
               count(*) OVER () AS m
        FROM interaction_top_stats
        WHERE run_id = $run_id AND pval_emt IS NOT NULL
    )
) AS b
WHERE t.run_id = $run_id AND t.chr = b.chr AND t.phenotype_idx = b.phenotype_idx
