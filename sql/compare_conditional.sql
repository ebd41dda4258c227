-- compare_conditional: a conditional run's kept signals as segqtl compare matches them
-- (compare_source of segqtl/modes/conditional.py, inserted into sql/compare_pairs.sql).
--
-- Inputs (parameters): $run_a, $run_b.  The CTE qv is not used.
-- Reads : conditional_results (view).
-- Output: run_id, chr, phenotype, variant, effect = beta_d, p = p_adj (NULL for a lone lead),
--          q = NULL, hit_value = rank; kept signals only (each is a hit: rank >= 1).
SELECT r.run_id, r.chr, r.phenotype, r.variant, r.beta_d AS effect, r.p_adj AS p,
       NULL::DOUBLE AS q, r.rank::DOUBLE AS hit_value
FROM conditional_results AS r
WHERE r.run_id IN ($run_a, $run_b) AND r.kept
