-- plot_comparison: the keys of a stored comparison found in both runs (segqtl plot compare).
--
-- Inputs (parameters): $comparison_id.
-- Reads : comparison_results (view).
-- Output: phenotype, variant_a, variant_b, effect_a, effect_b, p_a, p_b (the comparison's
--          p_column: a p-value, or finemap's stability score), hit_change (kept | gained |
--          lost | none); rows present in both runs, ordered by phenotype, variant_a.
SELECT phenotype, variant_a, variant_b, effect_a, effect_b, p_a, p_b, hit_change
FROM comparison_results
WHERE comparison_id = $comparison_id AND presence = 'both'
ORDER BY phenotype, variant_a NULLS LAST, variant_b NULLS LAST
