-- compare_top: the largest effect changes of one stored comparison (segqtl compare).
--
-- Inputs (parameters): $comparison_id, $top (how many rows, >= 0).
-- Reads : comparison_results (view).
-- Output: phenotype, variant_a, variant_b, same_variant, effect_a, effect_b, delta
--          (effect_b - effect_a), p_a, p_b, hit_a, hit_b: the $top keys in both runs that are
--          a hit in at least one of them, with both effects non-NULL and the largest |delta|,
--          ties broken by phenotype, then variant_a, then variant_b (NULLs last), so the order
--          is deterministic.  same_variant (false: the lead variants differ, and so may the
--          effects for that reason alone) is shown with each row.
SELECT phenotype, variant_a, variant_b, same_variant, effect_a, effect_b, delta,
       p_a, p_b, hit_a, hit_b
FROM comparison_results
WHERE comparison_id = $comparison_id
  AND presence = 'both'
  AND (coalesce(hit_a, false) OR coalesce(hit_b, false))
  AND delta IS NOT NULL
ORDER BY abs(delta) DESC, phenotype, variant_a NULLS LAST, variant_b NULLS LAST
LIMIT $top
