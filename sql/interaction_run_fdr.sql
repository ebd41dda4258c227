-- interaction_run_fdr: an interaction run's gene-level summary into run_fdr (after
-- sql/interaction_bh.sql), so 'segqtl runs' and 'segqtl show' report its hits.
--
-- Inputs (parameters): $run_id, $fdr (the level that counts as a hit: 0.05).
-- Reads : interaction_top_stats.
-- Output: one run_fdr row: fdr, pi0 = 1 and pi0_method / method 'bh' (Benjamini–Hochberg),
--          scope 'phenotype', p_threshold NULL, n_tests = phenotypes with a pval_emt,
--          n_hits = those with qvalue_bh <= $fdr (docs/methods.md#interaction-model).
-- Coordinates: none.
INSERT INTO run_fdr (run_id, fdr, pi0, pi0_method, p_threshold, n_tests, n_hits, computed_at,
                     method, scope)
SELECT $run_id, $fdr, 1.0, 'bh', NULL, count(pval_emt), count(*) FILTER (qvalue_bh <= $fdr),
       current_timestamp, 'bh', 'phenotype'
FROM interaction_top_stats
WHERE run_id = $run_id
