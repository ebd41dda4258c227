-- compare_interaction: an interaction run's gene-level results as segqtl compare matches them
-- (compare_source of segqtl/modes/interaction.py, inserted into sql/compare_pairs.sql).
--
-- Inputs (parameters): $run_a, $run_b.  The CTE qv of compare_pairs.sql is not used.
-- Reads : interaction_top (view).
-- Output: run_id, chr, phenotype, variant, effect = beta_di, p = pval_emt, q = qvalue_bh,
--          hit_value = qvalue_bh; phenotypes with a tested variant.
SELECT r.run_id, r.chr, r.phenotype, r.variant, r.beta_di AS effect, r.pval_emt AS p,
       r.qvalue_bh AS q, r.qvalue_bh AS hit_value
FROM interaction_top AS r
WHERE r.run_id IN ($run_a, $run_b) AND r.variant IS NOT NULL
